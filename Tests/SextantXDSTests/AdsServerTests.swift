import EnvoyAPI
import EnvoyServices
import GRPCCore
import GRPCInProcessTransport
import Logging
import SextantKube
import SextantRegistry
import SwiftProtobuf
import Testing

@testable import SextantGeneration
@testable import SextantXDS

/// The ADS server end to end over gRPC's in-process transport: classification, pushes, NACKs and bad nodes.
@Suite struct AdsServerTests {
  static let hello = "helloworld.sample.svc.cluster.local"
  static let helloCluster = "outbound|5000||helloworld.sample.svc.cluster.local"

  static func objects(endpoints: [String], extraPort: Bool = false) -> ClusterObjects {
    var ports = [KubeService.Port(name: "http", port: 5000, targetPort: .string("http"))]
    if extraPort { ports.append(KubeService.Port(name: "tcp", port: 6000, targetPort: .int(6000))) }
    return ClusterObjects([
      .service(
        KubeService(
          metadata: ObjectMeta(name: "helloworld", namespace: "sample"),
          spec: .init(clusterIP: "10.96.0.10", ports: ports))
      ),
      .endpointSlice(
        EndpointSlice(
          metadata: ObjectMeta(name: "hw", namespace: "sample", labels: [EndpointSlice.serviceNameLabel: "helloworld"]),
          endpoints: endpoints.map { .init(addresses: [$0]) },
          ports: [.init(name: "http", port: 8080)]
        )
      ),
    ])
  }

  /// A running server plus a client stream whose requests the test writes and whose responses it reads in order.
  struct Harness {
    let registry: MeshRegistry
    let connections: ConnectionRegistry
    /// The shared resource cache the server's generator uses.
    let cache: ResourceCache
    let requests: AsyncStream<Envoy_Service_Discovery_V3_DiscoveryRequest>.Continuation
    var responses: AsyncThrowingStream<Envoy_Service_Discovery_V3_DiscoveryResponse, any Error>.AsyncIterator

    /// The next response, or a failure naming what was awaited after `seconds`.
    mutating func next(_ what: String, seconds: Int = 5) async throws -> Envoy_Service_Discovery_V3_DiscoveryResponse {
      let iterator = responses
      defer { responses = iterator }
      let result = try await withThrowingTaskGroup(of: Envoy_Service_Discovery_V3_DiscoveryResponse?.self) { group in
        let it = UnsafeTransfer(iterator)
        group.addTask {
          var local = it.value
          return try await local.next()
        }
        group.addTask {
          try await Task.sleep(for: .seconds(seconds))
          throw DeadlineExceeded(what: what)
        }
        defer { group.cancelAll() }
        return try await group.next()!
      }
      guard let result else { throw DeadlineExceeded(what: "\(what) (stream ended)") }
      return result
    }
  }

  struct DeadlineExceeded: Error, CustomStringConvertible {
    var what: String
    var description: String { "no \(what) before the deadline" }
  }

  /// Moves a value into a child task. The iterator is only ever used by one task at a time: the parent waits for
  /// the child before touching it again, so no two tasks access it concurrently.
  struct UnsafeTransfer<T>: @unchecked Sendable {
    var value: T
    init(_ value: T) { self.value = value }
  }

  static func request(
    _ type: XDSType,
    names: [String] = [],
    nonce: String = "",
    version: String = "",
    node: Bool = false,
    nodeID: String = "sidecar~127.0.0.10~client.sample~sample.svc.cluster.local",
    error: String? = nil
  ) -> Envoy_Service_Discovery_V3_DiscoveryRequest {
    var request = Envoy_Service_Discovery_V3_DiscoveryRequest()
    request.typeURL = type.rawValue
    request.resourceNames = names
    request.responseNonce = nonce
    request.versionInfo = version
    if node {
      request.node.id = nodeID
      request.node.metadata.fields["INTERCEPTION_MODE"] = Google_Protobuf_Value(stringValue: "NONE")
      request.node.metadata.fields["CLUSTER_ID"] = Google_Protobuf_Value(stringValue: "cluster1")
    }
    if let error {
      request.errorDetail.code = 13
      request.errorDetail.message = error
    }
    return request
  }

  /// Runs `body` against a live server and one open ADS stream.
  func withHarness(
    nodeID: String = "sidecar~127.0.0.10~client.sample~sample.svc.cluster.local",
    security: StreamSecurity = .none,
    metadata: Metadata = [:],
    objects: ClusterObjects = Self.objects(endpoints: ["10.1.0.1"]),
    limits: XDSLimits = .defaults,
    _ body: (inout Harness) async throws -> Void
  ) async throws {
    let registry = MeshRegistry()
    await registry.apply(cluster: "cluster1", objects: objects)
    await registry.markSynced(cluster: "cluster1")
    let (initial, updates) = registry.subscribe()
    let connections = ConnectionRegistry()
    let pushed = PushedSnapshot(initial)
    let cache = ResourceCache()
    let logger = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }
    let pipeline = PushPipeline(
      updates: updates,
      connections: connections,
      pushed: pushed,
      cache: cache,
      clock: ContinuousClock(),
      config: DebounceConfig(after: .milliseconds(1), max: .milliseconds(50)),
      logger: logger
    )
    let ads = AdsServer(
      connections: connections, pushed: pushed, generator: ConfigGenerator(cache: cache), security: security,
      limits: limits, logger: logger)
    let transport = InProcessTransport()
    let (requestStream, requests) = AsyncStream.makeStream(of: Envoy_Service_Discovery_V3_DiscoveryRequest.self)
    let (responseStream, responses) = AsyncThrowingStream.makeStream(
      of: Envoy_Service_Discovery_V3_DiscoveryResponse.self)

    try await withThrowingTaskGroup(of: Void.self) { group in
      group.addTask { try await pipeline.run() }
      group.addTask {
        try await withGRPCServer(transport: transport.server, services: [ads]) { _ in
          try await withGRPCClient(transport: transport.client) { client in
            let stub = Envoy_Service_Discovery_V3_AggregatedDiscoveryService.Client(wrapping: client)
            do {
              try await stub.streamAggregatedResources(metadata: metadata) { writer in
                for await request in requestStream { try await writer.write(request) }
              } onResponse: { response in
                for try await message in response.messages { responses.yield(message) }
                responses.finish()
              }
            } catch {
              responses.finish(throwing: error)
            }
          }
        }
      }
      var harness = Harness(
        registry: registry,
        connections: connections,
        cache: cache,
        requests: requests,
        responses: responseStream.makeAsyncIterator()
      )
      defer { group.cancelAll() }
      try await body(&harness)
      requests.finish()
    }
  }

  @Test func answersInitialRequestsAndIgnoresAcks() async throws {
    try await withHarness { h in
      h.requests.yield(Self.request(.cluster, node: true))
      let cds = try await h.next("CDS response")
      #expect(cds.typeURL == XDSType.cluster.rawValue)
      #expect(!cds.nonce.isEmpty)
      #expect(cds.resources.allSatisfy { $0.typeURL == XDSType.cluster.rawValue })
      let names = try cds.resources.map { try Envoy_Config_Cluster_V3_Cluster(unpackingAny: $0).name }
      #expect(names == [Self.helloCluster, "PassthroughCluster", "BlackHoleCluster"])

      h.requests.yield(Self.request(.endpoint, names: [Self.helloCluster]))
      let eds = try await h.next("EDS response")
      let assignment = try Envoy_Config_Endpoint_V3_ClusterLoadAssignment(unpackingAny: eds.resources[0])
      #expect(assignment.endpoints.flatMap(\.lbEndpoints).map(\.endpoint.address.socketAddress.address) == ["10.1.0.1"])

      // ACKs get no response: the next response must answer the LDS request that follows them.
      h.requests.yield(Self.request(.cluster, nonce: cds.nonce, version: cds.versionInfo))
      h.requests.yield(Self.request(.endpoint, names: [Self.helloCluster], nonce: eds.nonce, version: eds.versionInfo))
      h.requests.yield(Self.request(.listener))
      let lds = try await h.next("LDS response")
      #expect(lds.typeURL == XDSType.listener.rawValue)
      let listener = try Envoy_Config_Listener_V3_Listener(unpackingAny: lds.resources[0])
      #expect(listener.name == "127.0.0.10_5000")

      let sync = h.connections.all.first!.snapshot.watches
      #expect(sync[.cluster]?.syncStatus == .synced)
      #expect(sync[.listener]?.syncStatus == .stale)
    }
  }

  @Test func nackIsRecordedAndTheStreamKeepsServing() async throws {
    try await withHarness { h in
      h.requests.yield(Self.request(.cluster, node: true))
      let cds = try await h.next("CDS response")
      h.requests.yield(Self.request(.cluster, nonce: cds.nonce, version: "", error: "forced NACK"))
      h.requests.yield(Self.request(.route, names: ["5000"]))
      let rds = try await h.next("RDS response after a NACK")
      #expect(rds.typeURL == XDSType.route.rawValue)
      let watch = h.connections.all.first!.snapshot.watches[.cluster]
      #expect(watch?.syncStatus == .error)
      #expect(watch?.lastNack == "forced NACK")
    }
  }

  @Test func namesAddedInANackAreAnsweredAlone() async throws {
    let ratingsCluster = "outbound|9080||ratings.sample.svc.cluster.local"
    try await withHarness(objects: Self.twoServices(ratings: ["10.2.0.1"])) { h in
      h.requests.yield(Self.request(.cluster, node: true))
      _ = try await h.next("CDS response")
      h.requests.yield(Self.request(.endpoint, names: [Self.helloCluster]))
      let eds = try await h.next("EDS response")
      // Envoy rejects helloworld's assignment and, in the same request, subscribes to ratings too.
      h.requests.yield(
        Self.request(
          .endpoint, names: [Self.helloCluster, ratingsCluster], nonce: eds.nonce, version: "", error: "bad"))
      let answer = try await h.next("EDS answer to the name added in a NACK")
      let names = try answer.resources.map {
        try Envoy_Config_Endpoint_V3_ClusterLoadAssignment(unpackingAny: $0).clusterName
      }
      #expect(names == [ratingsCluster])
      let watch = h.connections.all.first!.snapshot.watches[.endpoint]
      #expect(watch?.requestedNames == [Self.helloCluster, ratingsCluster])
      #expect(watch?.lastNack == "bad")
    }
  }

  @Test func endpointChangePushesOnlyEDSAndServiceChangePushesInOrder() async throws {
    try await withHarness { h in
      h.requests.yield(Self.request(.cluster, node: true))
      let cds = try await h.next("CDS response")
      h.requests.yield(Self.request(.endpoint, names: [Self.helloCluster]))
      let eds = try await h.next("EDS response")
      h.requests.yield(Self.request(.cluster, nonce: cds.nonce, version: cds.versionInfo))
      h.requests.yield(Self.request(.endpoint, names: [Self.helloCluster], nonce: eds.nonce, version: eds.versionInfo))

      await h.registry.apply(cluster: "cluster1", objects: Self.objects(endpoints: ["10.1.0.1", "10.1.0.2"]))
      let pushedEDS = try await h.next("EDS push after an endpoint change")
      #expect(pushedEDS.typeURL == XDSType.endpoint.rawValue)
      let assignment = try Envoy_Config_Endpoint_V3_ClusterLoadAssignment(unpackingAny: pushedEDS.resources[0])
      #expect(assignment.endpoints.flatMap(\.lbEndpoints).count == 2)

      await h.registry.apply(cluster: "cluster1", objects: Self.objects(endpoints: ["10.1.0.1"], extraPort: true))
      let first = try await h.next("CDS push after a service change")
      let second = try await h.next("EDS push after a service change")
      #expect([first.typeURL, second.typeURL] == [XDSType.cluster.rawValue, XDSType.endpoint.rawValue])
      #expect(first.resources.count == 4)
    }
  }

  /// helloworld (as `objects`) plus ratings (port 9080) with `ratings` endpoints.
  static func twoServices(ratings: [String], extraPort: Bool = false) -> ClusterObjects {
    var objects = Self.objects(endpoints: ["10.1.0.1"], extraPort: extraPort)
    objects.upsert(
      .service(
        KubeService(
          metadata: ObjectMeta(name: "ratings", namespace: "sample"),
          spec: .init(
            clusterIP: "10.96.0.11", ports: [KubeService.Port(name: "http", port: 9080, targetPort: .int(9080))]))))
    objects.upsert(
      .endpointSlice(
        EndpointSlice(
          metadata: ObjectMeta(
            name: "ratings", namespace: "sample", labels: [EndpointSlice.serviceNameLabel: "ratings"]),
          endpoints: ratings.map { .init(addresses: [$0]) },
          ports: [.init(name: "http", port: 9080)])))
    return objects
  }

  @Test func endpointPushCarriesOnlyTheChangedAssignments() async throws {
    let ratingsCluster = "outbound|9080||ratings.sample.svc.cluster.local"
    try await withHarness(objects: Self.twoServices(ratings: ["10.2.0.1"])) { h in
      h.requests.yield(Self.request(.cluster, node: true))
      let cds = try await h.next("CDS response")
      let names = [Self.helloCluster, ratingsCluster]
      h.requests.yield(Self.request(.endpoint, names: names))
      let eds = try await h.next("EDS response")
      #expect(eds.resources.count == 2)
      h.requests.yield(Self.request(.cluster, nonce: cds.nonce, version: cds.versionInfo))
      h.requests.yield(Self.request(.endpoint, names: names, nonce: eds.nonce, version: eds.versionInfo))

      // Only ratings' endpoints change: the push holds ratings' assignment alone (EDS is incremental in SotW).
      await h.registry.apply(cluster: "cluster1", objects: Self.twoServices(ratings: ["10.2.0.1", "10.2.0.2"]))
      let pushed = try await h.next("EDS push after ratings' endpoints changed")
      let assignments = try pushed.resources.map {
        try Envoy_Config_Endpoint_V3_ClusterLoadAssignment(unpackingAny: $0)
      }
      #expect(assignments.map(\.clusterName) == [ratingsCluster])
      #expect(assignments.first?.endpoints.flatMap(\.lbEndpoints).count == 2)
      h.requests.yield(Self.request(.endpoint, names: names, nonce: pushed.nonce, version: pushed.versionInfo))
      // The ACK of a partial response counts as in sync (polled: the server reads the ACK on its own task).
      let deadline = ContinuousClock.now + .seconds(5)
      func endpointStatus() -> SyncStatus? { h.connections.all.first?.snapshot.watches[.endpoint]?.syncStatus }
      while endpointStatus() != .synced, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(5)) }
      #expect(endpointStatus() == .synced)

      // A service change sends every subscribed assignment again.
      await h.registry.apply(
        cluster: "cluster1", objects: Self.twoServices(ratings: ["10.2.0.1", "10.2.0.2"], extraPort: true))
      _ = try await h.next("CDS push after a service change")
      let full = try await h.next("EDS push after a service change")
      #expect(full.resources.count == 2)
    }
  }

  @Test func malformedNodeIDEndsTheStreamWithInvalidArgument() async throws {
    try await withHarness { h in
      h.requests.yield(Self.request(.cluster, node: true, nodeID: "not-a-node-id"))
      do {
        _ = try await h.next("stream end")
        Issue.record("expected the stream to fail")
      } catch let error as RPCError {
        #expect(error.code == .invalidArgument)
        #expect(error.message.contains("4 parts"))
      }
    }
  }
}
