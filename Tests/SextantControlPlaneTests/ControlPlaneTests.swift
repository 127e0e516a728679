import AsyncHTTPClient
import EnvoyAPI
import EnvoyServices
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Logging
import ServiceLifecycle
import SextantTestSupport
import SwiftProtobuf
import Testing

@testable import SextantControlPlane

/// A whole control plane started in-process on a file-backed cluster, with real loopback gRPC and HTTP listeners.
@Suite("Control plane in-process")
struct ControlPlaneTests {
  static let hello = "outbound|5000||helloworld.sample.svc.cluster.local"
  static let goodbye = "outbound|6000||goodbye.sample.svc.cluster.local"

  @Test("becomes ready, pushes a file change to a connected proxy, and stops its parts in reverse stage order")
  func readinessPushAndShutdownOrder() async throws {
    let directory = try TemporaryClusters()
    defer { directory.remove() }
    try directory.write(
      "cluster1/helloworld.yaml", ClusterFiles.service(name: "helloworld", port: 5000, ip: "10.1.0.1"))

    var configuration = ControlPlane.Configuration.defaults
    configuration.clustersDirectory = directory.path
    configuration.clustersDirectoryPollInterval = .milliseconds(20)
    configuration.listenAddress = "127.0.0.1"
    configuration.grpcPort = try FreePort.next()
    configuration.monitoringPort = try FreePort.next()
    configuration.httpPort = 0
    configuration.security.securePort = 0
    configuration.debounce.after = .milliseconds(5)
    configuration.debounce.max = .milliseconds(100)
    let logs = LogRecorder()
    let observer = ControlPlane.Observer()
    let controlPlane = ControlPlane(
      configuration: configuration, logger: logs.logger, metrics: { "# metrics\n" }, observer: observer)
    let group = ServiceGroup(services: [controlPlane], logger: logs.logger)
    let running = Task { try await group.run() }

    // Ready once the directory's cluster is loaded and pushed, on the admin state and over HTTP.
    try #require(
      await eventually { observer.assembly?.admin.readiness().ready == true }, "the control plane became ready")
    let http = HTTPClient(eventLoopGroupProvider: .singleton)
    let ready = try await http.get(url: "http://127.0.0.1:\(configuration.monitoringPort)/ready").get()
    try await http.shutdown()
    #expect(ready.status == .ok)

    // A proxy on the plaintext port receives the cluster, then the service a changed file adds.
    try await withGRPCClient(
      transport: try .http2NIOPosix(
        target: .ipv4(address: "127.0.0.1", port: configuration.grpcPort), transportSecurity: .plaintext)
    ) { client in
      let ads = Envoy_Service_Discovery_V3_AggregatedDiscoveryService.Client(wrapping: client)
      let (requests, writer) = AsyncStream.makeStream(of: Envoy_Service_Discovery_V3_DiscoveryRequest.self)
      writer.yield(Self.cdsRequest(nonce: "", version: ""))
      try await ads.streamAggregatedResources(
        requestProducer: { sink in
          for await request in requests { try await sink.write(request) }
        },
        onResponse: { response in
          var iterator = response.messages.makeAsyncIterator()
          let first = try #require(try await iterator.next())
          #expect(try Self.clusterNames(first).contains(Self.hello))
          writer.yield(Self.cdsRequest(nonce: first.nonce, version: first.versionInfo))

          try directory.write(
            "cluster1/goodbye.yaml", ClusterFiles.service(name: "goodbye", port: 6000, ip: "10.1.0.2"))
          let second = try #require(try await iterator.next())
          #expect(try Set(Self.clusterNames(second)).isSuperset(of: [Self.hello, Self.goodbye]))
          writer.finish()
        }
      )
    }

    // Graceful shutdown: xDS first, then admin, pipeline, sources (in reverse of how they were added).
    await group.triggerGracefulShutdown()
    try await running.value
    #expect(
      observer.stopped == ["grpc-plaintext", "monitoring", "push-pipeline", "clusters-directory", "gateway-hostnames"])
  }

  @Test("broken CA material stops start-up with an error naming the file, before any part runs")
  func brokenCAStopsStartup() async throws {
    let directory = try TemporaryClusters()
    defer { directory.remove() }
    try directory.write("ca/ca-cert.pem", "not a certificate")
    var configuration = ControlPlane.Configuration.defaults
    configuration.clustersDirectory = directory.path + "/clusters"
    configuration.security.caDirectory = directory.path + "/ca"
    let observer = ControlPlane.Observer()
    let controlPlane = ControlPlane(
      configuration: configuration, logger: LogRecorder().logger, metrics: { "" }, observer: observer)
    let error = await #expect(throws: StartupError.self) { try await controlPlane.run() }
    #expect(error?.description.hasPrefix("--ca-dir ") == true)
    #expect(observer.assembly == nil)
  }

  static func cdsRequest(nonce: String, version: String) -> Envoy_Service_Discovery_V3_DiscoveryRequest {
    var request = Envoy_Service_Discovery_V3_DiscoveryRequest()
    request.typeURL = "type.googleapis.com/envoy.config.cluster.v3.Cluster"
    request.responseNonce = nonce
    request.versionInfo = version
    request.node.id = "sidecar~127.0.0.10~client.sample~sample.svc.cluster.local"
    request.node.cluster = "client.sample"
    request.node.metadata.fields["INTERCEPTION_MODE"] = Google_Protobuf_Value(stringValue: "NONE")
    return request
  }

  static func clusterNames(_ response: Envoy_Service_Discovery_V3_DiscoveryResponse) throws -> [String] {
    try response.resources.map { try Envoy_Config_Cluster_V3_Cluster(unpackingAny: $0).name }
  }
}
