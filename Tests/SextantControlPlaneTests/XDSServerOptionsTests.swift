import EnvoyAPI
import EnvoyServices
import GRPCCore
import GRPCNIOTransportHTTP2
import Logging
import ServiceLifecycle
import SextantTestSupport
import SwiftProtobuf
import Testing

@testable import SextantControlPlane

/// The gRPC servers' options from `ControlPlane.Configuration.xdsLimits`, and the environment variables that set
/// them.
@Suite("gRPC server options")
struct XDSServerOptionsTests {
  @Test("the transport gets istiod's message size, streams, keepalive and grace time, and the connection policy")
  func transportOptions() {
    let limits = ControlPlane.Configuration.defaults.xdsLimits
    let config = XDSAssembly.transportConfig(limits, listener: "test", logger: LogRecorder().logger)
    #expect(config.rpc.maxRequestPayloadSize == 4 * 1024 * 1024)
    #expect(config.http2.maxConcurrentStreams == 100_000)
    #expect(config.connection.keepalive.time == .seconds(30))
    #expect(config.connection.keepalive.timeout == .seconds(10))
    #expect(config.connection.keepalive.clientBehavior.minPingIntervalWithoutCalls == .seconds(15))
    #expect(config.connection.keepalive.clientBehavior.allowWithoutCalls)
    #expect(config.connection.maxGraceTime == .seconds(10))
    #expect(config.connection.maxIdleTime == .seconds(300))
    // The age is applied per connection with jitter by the policy, not by the transport.
    #expect(config.connection.maxAge == nil)
    #expect(limits.maximumConnectionAge == .seconds(1800))
    #expect(config.channelDebuggingCallbacks.onAcceptTCPConnection != nil)
  }

  @Test("ISTIO_GPRC_MAXRECVMSGSIZE, ISTIO_GPRC_MAXSTREAMS and GRPC_KEEPALIVE_* set the limits; bad values are named")
  func environment() throws {
    var configuration = ControlPlane.Configuration.defaults
    try PilotEnvironment.apply(
      [
        "ISTIO_GPRC_MAXRECVMSGSIZE": "1048576", "ISTIO_GPRC_MAXSTREAMS": "50", "GRPC_KEEPALIVE_INTERVAL": "1m",
        "GRPC_KEEPALIVE_TIMEOUT": "5s",
      ], to: &configuration)
    #expect(configuration.xdsLimits.maximumRequestBytes == 1_048_576)
    #expect(configuration.xdsLimits.maximumConcurrentStreamsPerConnection == 50)
    #expect(configuration.xdsLimits.keepaliveTime == .seconds(60))
    #expect(configuration.xdsLimits.keepaliveTimeout == .seconds(5))
    #expect(configuration.xdsLimits.minimumClientPingInterval == .seconds(30))
    let error = #expect(throws: ConfigurationError.self) {
      try PilotEnvironment.apply(["ISTIO_GPRC_MAXSTREAMS": "many"], to: &configuration)
    }
    #expect(error?.context == "ISTIO_GPRC_MAXSTREAMS=many")
  }

  @Test("a request over the maximum message size fails the stream before any response")
  func oversizedRequest() async throws {
    let directory = try TemporaryClusters()
    defer { directory.remove() }
    try directory.write(
      "cluster1/helloworld.yaml", ClusterFiles.service(name: "helloworld", port: 5000, ip: "10.1.0.1"))
    var configuration = ControlPlane.Configuration.defaults
    configuration.clustersDirectory = directory.path
    configuration.clustersDirectoryPollInterval = .milliseconds(20)
    configuration.listenAddress = "127.0.0.1"
    configuration.grpcPort = try FreePort.next()
    configuration.monitoringPort = 0
    configuration.httpPort = 0
    configuration.security.securePort = 0
    configuration.xdsLimits.maximumRequestBytes = 1024
    let observer = ControlPlane.Observer()
    let logs = LogRecorder()
    let controlPlane = ControlPlane(
      configuration: configuration, logger: logs.logger, metrics: { "" }, observer: observer)
    let group = ServiceGroup(services: [controlPlane], logger: logs.logger)
    let running = Task { try await group.run() }
    try #require(await eventually { observer.assembly?.admin.readiness().ready == true }, "ready")
    var padded = ControlPlaneTests.cdsRequest(nonce: "", version: "")
    padded.node.metadata.fields["PADDING"] = Google_Protobuf_Value(stringValue: String(repeating: "x", count: 4096))
    let request = padded
    let outcome: RPCError? = try await withGRPCClient(
      transport: try .http2NIOPosix(
        target: .ipv4(address: "127.0.0.1", port: configuration.grpcPort), transportSecurity: .plaintext)
    ) { client in
      let ads = Envoy_Service_Discovery_V3_AggregatedDiscoveryService.Client(wrapping: client)
      do {
        try await ads.streamAggregatedResources(
          requestProducer: { sink in try await sink.write(request) },
          onResponse: { response in
            for try await message in response.messages { Issue.record("got a response: \(message.typeURL)") }
          })
        return nil
      } catch let error as RPCError {
        return error
      }
    }
    // The transport resets the stream: the client sees UNAVAILABLE (or RESOURCE_EXHAUSTED), never a response.
    #expect(outcome?.code == .unavailable || outcome?.code == .resourceExhausted)
    await group.triggerGracefulShutdown()
    try await running.value
  }

  /// Opens an ADS stream, sends a CDS request and returns how the stream ended: nil after `responses` responses (it
  /// then closes), else the error it ended with first.
  static func stream(port: Int, closeAfter responses: Int = 1) async throws -> RPCError? {
    let request = ControlPlaneTests.cdsRequest(nonce: "", version: "")
    return try await withGRPCClient(
      transport: try .http2NIOPosix(target: .ipv4(address: "127.0.0.1", port: port), transportSecurity: .plaintext)
    ) { client in
      let ads = Envoy_Service_Discovery_V3_AggregatedDiscoveryService.Client(wrapping: client)
      let (open, hold) = AsyncStream.makeStream(of: Void.self)
      do {
        try await ads.streamAggregatedResources(
          requestProducer: { sink in
            try await sink.write(request)
            for await _ in open {}
          },
          onResponse: { response in
            var count = 0
            for try await _ in response.messages {
              count += 1
              if count == responses { hold.finish() }
            }
          })
        return nil
      } catch let error as RPCError {
        hold.finish()
        return error
      }
    }
  }

  @Test("a connection past its maximum age is drained: its ADS stream ends and the proxy must reconnect")
  func connectionAge() async throws {
    let directory = try TemporaryClusters()
    defer { directory.remove() }
    try directory.write(
      "cluster1/helloworld.yaml", ClusterFiles.service(name: "helloworld", port: 5000, ip: "10.1.0.1"))
    var configuration = ControlPlane.Configuration.defaults
    configuration.clustersDirectory = directory.path
    configuration.listenAddress = "127.0.0.1"
    configuration.grpcPort = try FreePort.next()
    configuration.monitoringPort = 0
    configuration.httpPort = 0
    configuration.security.securePort = 0
    configuration.xdsLimits.maximumConnectionAge = .milliseconds(200)
    configuration.xdsLimits.connectionAgeGrace = .milliseconds(100)
    let observer = ControlPlane.Observer()
    let logs = LogRecorder()
    let controlPlane = ControlPlane(
      configuration: configuration, logger: logs.logger, metrics: { "" }, observer: observer)
    let group = ServiceGroup(services: [controlPlane], logger: logs.logger)
    let running = Task { try await group.run() }
    try #require(await eventually { observer.assembly?.admin.readiness().ready == true }, "ready")
    // The stream stays open after its CDS response (it waits for more): only the connection's age ends it.
    let ended = try await Self.stream(port: configuration.grpcPort, closeAfter: 2)
    #expect(ended != nil)
    await group.triggerGracefulShutdown()
    try await running.value
  }
}
