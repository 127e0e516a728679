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

/// Delta ADS end to end over gRPC's in-process transport: wildcard and named subscriptions, removals, incremental
/// pushes, reconnects with initial_resource_versions, NACK then ACK, and SDS on the secure rules.
@Suite struct DeltaAdsServerTests {
  typealias DeltaRequest = Envoy_Service_Discovery_V3_DeltaDiscoveryRequest
  typealias DeltaResponse = Envoy_Service_Discovery_V3_DeltaDiscoveryResponse

  static let hello = AdsServerTests.helloCluster
  static let ratings = "outbound|9080||ratings.sample.svc.cluster.local"

  /// One open delta stream: the test writes its requests and reads its responses in order.
  final class Stream: @unchecked Sendable {
    let requests: AsyncStream<DeltaRequest>.Continuation
    var responses: AsyncThrowingStream<DeltaResponse, any Error>.AsyncIterator
    let task: Task<Void, Never>

    init(
      requests: AsyncStream<DeltaRequest>.Continuation,
      responses: AsyncThrowingStream<DeltaResponse, any Error>.AsyncIterator,
      task: Task<Void, Never>
    ) {
      self.requests = requests
      self.responses = responses
      self.task = task
    }

    func send(_ request: DeltaRequest) { requests.yield(request) }

    /// The next response, or a failure naming what was awaited after `seconds`.
    func next(_ what: String, seconds: Int = 5) async throws -> DeltaResponse {
      let iterator = AdsServerTests.UnsafeTransfer(responses)
      let result = try await withThrowingTaskGroup(
        of: AdsServerTests.UnsafeTransfer<
          (DeltaResponse?, AsyncThrowingStream<DeltaResponse, any Error>.AsyncIterator)
        >?.self
      ) { group in
        group.addTask {
          var local = iterator.value
          let response = try await local.next()
          return AdsServerTests.UnsafeTransfer((response, local))
        }
        group.addTask {
          try await Task.sleep(for: .seconds(seconds))
          throw AdsServerTests.DeadlineExceeded(what: what)
        }
        defer { group.cancelAll() }
        return try await group.next()!
      }
      guard let result, let response = result.value.0 else {
        throw AdsServerTests.DeadlineExceeded(what: "\(what) (stream ended)")
      }
      responses = result.value.1
      return response
    }

    func close() {
      requests.finish()
      task.cancel()
    }
  }

  /// A running server; `open()` starts a delta stream on it.
  struct Harness {
    let registry: MeshRegistry
    let connections: ConnectionRegistry
    let client: Envoy_Service_Discovery_V3_AggregatedDiscoveryService.Client<InProcessTransport.Client>
    let metadata: Metadata

    func open() -> Stream {
      let (requestStream, requests) = AsyncStream.makeStream(of: DeltaRequest.self)
      let (responseStream, responses) = AsyncThrowingStream.makeStream(of: DeltaResponse.self)
      let client = self.client
      let metadata = self.metadata
      let task = Task {
        do {
          try await client.deltaAggregatedResources(metadata: metadata) { writer in
            for await request in requestStream { try await writer.write(request) }
          } onResponse: { response in
            for try await message in response.messages { responses.yield(message) }
            responses.finish()
          }
        } catch {
          responses.finish(throwing: error)
        }
      }
      return Stream(requests: requests, responses: responseStream.makeAsyncIterator(), task: task)
    }

    /// Polls the first connection's published state until `check` holds or 5 seconds pass.
    func eventually(_ check: ([XDSType: WatchState]) -> Bool) async throws -> Bool {
      let deadline = ContinuousClock.now + .seconds(5)
      while ContinuousClock.now < deadline {
        if let watches = connections.all.first?.snapshot.watches, check(watches) { return true }
        try await Task.sleep(for: .milliseconds(5))
      }
      return false
    }
  }

  static func request(
    _ type: XDSType,
    subscribe: [String] = [],
    unsubscribe: [String] = [],
    initial: [String: String] = [:],
    nonce: String = "",
    node: Bool = false,
    error: String? = nil
  ) -> DeltaRequest {
    var request = DeltaRequest()
    request.typeURL = type.rawValue
    request.resourceNamesSubscribe = subscribe
    request.resourceNamesUnsubscribe = unsubscribe
    request.initialResourceVersions = initial
    request.responseNonce = nonce
    if node {
      request.node.id = "sidecar~127.0.0.10~client.sample~sample.svc.cluster.local"
      request.node.metadata.fields["INTERCEPTION_MODE"] = Google_Protobuf_Value(stringValue: "NONE")
      request.node.metadata.fields["CLUSTER_ID"] = Google_Protobuf_Value(stringValue: "cluster1")
    }
    if let error {
      request.errorDetail.code = 13
      request.errorDetail.message = error
    }
    return request
  }

  static func ack(_ response: DeltaResponse) -> DeltaRequest {
    var request = DeltaRequest()
    request.typeURL = response.typeURL
    request.responseNonce = response.nonce
    return request
  }

  /// helloworld (port 5000) and ratings (port 9080) with the given endpoints.
  static func mesh(hello: [String], ratings: [String]) -> ClusterObjects {
    var objects = AdsServerTests.twoServices(ratings: ratings)
    let hello = AdsServerTests.objects(endpoints: hello)
    objects.endpointSlices.merge(hello.endpointSlices) { $1 }
    return objects
  }

  static func names(_ response: DeltaResponse) -> [String] { response.resources.map(\.name) }

  static func endpointCount(_ response: DeltaResponse, _ name: String) throws -> Int? {
    guard let resource = response.resources.first(where: { $0.name == name }) else { return nil }
    let assignment = try Envoy_Config_Endpoint_V3_ClusterLoadAssignment(unpackingAny: resource.resource)
    return assignment.endpoints.flatMap(\.lbEndpoints).count
  }

  /// Runs `body` against a live server with delta streams.
  func withHarness(
    security: StreamSecurity = .none,
    metadata: Metadata = [:],
    objects: ClusterObjects = AdsServerTests.twoServices(ratings: ["10.2.0.1"]),
    limits: XDSLimits = .defaults,
    _ body: (Harness) async throws -> Void
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
      updates: updates, connections: connections, pushed: pushed, cache: cache, clock: ContinuousClock(),
      config: DebounceConfig(after: .milliseconds(1), max: .milliseconds(50)), logger: logger)
    let ads = AdsServer(
      connections: connections, pushed: pushed, generator: ConfigGenerator(cache: cache), security: security,
      limits: limits, logger: logger)
    let transport = InProcessTransport()
    try await withThrowingTaskGroup(of: Void.self) { group in
      group.addTask { try await pipeline.run() }
      defer { group.cancelAll() }
      try await withGRPCServer(transport: transport.server, services: [ads]) { _ in
        try await withGRPCClient(transport: transport.client) { client in
          let stub = Envoy_Service_Discovery_V3_AggregatedDiscoveryService.Client(wrapping: client)
          try await body(Harness(registry: registry, connections: connections, client: stub, metadata: metadata))
        }
      }
    }
  }

  @Test func wildcardCDSGetsEveryClusterWithContentVersions() async throws {
    try await withHarness { h in
      let stream = h.open()
      defer { stream.close() }
      stream.send(Self.request(.cluster, node: true))
      let cds = try await stream.next("CDS response")
      #expect(cds.typeURL == XDSType.cluster.rawValue)
      #expect(Self.names(cds) == [Self.hello, Self.ratings, "PassthroughCluster", "BlackHoleCluster"])
      #expect(cds.resources.allSatisfy { $0.resource.typeURL == XDSType.cluster.rawValue })
      #expect(cds.resources.allSatisfy { $0.version == SerializedResource.version(of: $0.resource) })
      #expect(cds.removedResources.isEmpty)
      #expect(!cds.nonce.isEmpty && !cds.systemVersionInfo.isEmpty)
      stream.send(Self.ack(cds))
      #expect(try await h.eventually { $0[.cluster]?.syncStatus == .synced })

      // A second stream for the same content gets the same versions.
      let other = h.open()
      defer { other.close() }
      other.send(Self.request(.cluster, subscribe: ["*"], node: true))
      let again = try await other.next("CDS response on a second stream")
      #expect(again.resources.map(\.version) == cds.resources.map(\.version))
    }
  }

  @Test func edsSubscribeAndUnsubscribeOnALiveStream() async throws {
    try await withHarness { h in
      let stream = h.open()
      defer { stream.close() }
      stream.send(Self.request(.endpoint, subscribe: [Self.hello], node: true))
      let first = try await stream.next("EDS response")
      #expect(Self.names(first) == [Self.hello])
      stream.send(Self.ack(first))

      // Subscribing to ratings answers ratings alone.
      stream.send(Self.request(.endpoint, subscribe: [Self.ratings]))
      let second = try await stream.next("EDS answer to the new name")
      #expect(Self.names(second) == [Self.ratings])
      stream.send(Self.ack(second))

      // After unsubscribing helloworld, its endpoint changes are not pushed; ratings' are.
      stream.send(Self.request(.endpoint, unsubscribe: [Self.hello]))
      #expect(try await h.eventually { $0[.endpoint]?.requestedNames == [Self.ratings] })
      await h.registry.apply(
        cluster: "cluster1", objects: Self.mesh(hello: ["10.1.0.1", "10.1.0.2"], ratings: ["10.2.0.1"]))
      await h.registry.apply(
        cluster: "cluster1", objects: Self.mesh(hello: ["10.1.0.1", "10.1.0.2"], ratings: ["10.2.0.1", "10.2.0.2"]))
      let pushed = try await stream.next("EDS push for ratings")
      #expect(Self.names(pushed) == [Self.ratings])
      #expect(try Self.endpointCount(pushed, Self.ratings) == 2)

      // A name that does not exist is not answered at all; the next response answers the LDS request after it.
      stream.send(Self.request(.endpoint, subscribe: ["outbound|1||nowhere.sample.svc.cluster.local"]))
      stream.send(Self.request(.listener))
      let next = try await stream.next("LDS response")
      #expect(next.typeURL == XDSType.listener.rawValue)
    }
  }

  @Test func removedServiceGivesRemovedResources() async throws {
    try await withHarness { h in
      let stream = h.open()
      defer { stream.close() }
      stream.send(Self.request(.cluster, node: true))
      let cds = try await stream.next("CDS response")
      stream.send(Self.ack(cds))
      stream.send(Self.request(.endpoint, subscribe: [Self.hello, Self.ratings]))
      let eds = try await stream.next("EDS response")
      #expect(Set(Self.names(eds)) == [Self.hello, Self.ratings])
      stream.send(Self.ack(eds))
      stream.send(Self.request(.listener))
      let lds = try await stream.next("LDS response")
      #expect(Set(Self.names(lds)) == ["127.0.0.10_5000", "127.0.0.10_9080"])
      stream.send(Self.ack(lds))
      stream.send(Self.request(.route, subscribe: ["5000", "9080"]))
      let rds = try await stream.next("RDS response")
      #expect(Set(Self.names(rds)) == ["5000", "9080"])
      stream.send(Self.ack(rds))

      // ratings disappears: each type removes what it held of it and sends nothing unchanged.
      await h.registry.apply(cluster: "cluster1", objects: AdsServerTests.objects(endpoints: ["10.1.0.1"]))
      let cdsPush = try await stream.next("CDS push")
      #expect(cdsPush.typeURL == XDSType.cluster.rawValue)
      #expect(cdsPush.resources.isEmpty)
      #expect(cdsPush.removedResources == [Self.ratings])
      let edsPush = try await stream.next("EDS push")
      #expect(edsPush.typeURL == XDSType.endpoint.rawValue)
      #expect(edsPush.resources.isEmpty)
      #expect(edsPush.removedResources == [Self.ratings])
      let ldsPush = try await stream.next("LDS push")
      #expect(ldsPush.typeURL == XDSType.listener.rawValue)
      #expect(ldsPush.removedResources == ["127.0.0.10_9080"])
      let rdsPush = try await stream.next("RDS push")
      #expect(rdsPush.typeURL == XDSType.route.rawValue)
      #expect(rdsPush.removedResources == ["9080"])
      #expect(Self.names(rdsPush).allSatisfy { $0 == "5000" })
    }
  }

  @Test func endpointChangePushesOnlyTheChangedAssignment() async throws {
    try await withHarness { h in
      let stream = h.open()
      defer { stream.close() }
      stream.send(Self.request(.cluster, node: true))
      stream.send(Self.ack(try await stream.next("CDS response")))
      stream.send(Self.request(.endpoint, subscribe: [Self.hello, Self.ratings]))
      let eds = try await stream.next("EDS response")
      stream.send(Self.ack(eds))

      await h.registry.apply(
        cluster: "cluster1", objects: AdsServerTests.twoServices(ratings: ["10.2.0.1", "10.2.0.2"]))
      let pushed = try await stream.next("EDS push")
      #expect(pushed.typeURL == XDSType.endpoint.rawValue)
      #expect(Self.names(pushed) == [Self.ratings])
      #expect(pushed.removedResources.isEmpty)
      #expect(try Self.endpointCount(pushed, Self.ratings) == 2)
      let before = eds.resources.first { $0.name == Self.ratings }!.version
      #expect(pushed.resources[0].version != before)
    }
  }

  @Test func aClusterChangedOverCDSGetsItsUnchangedAssignmentAgain() async throws {
    try await withHarness { h in
      let stream = h.open()
      defer { stream.close() }
      stream.send(Self.request(.cluster, node: true))
      let cds = try await stream.next("CDS response")
      stream.send(Self.ack(cds))
      stream.send(Self.request(.endpoint, subscribe: [Self.hello, Self.ratings]))
      let eds = try await stream.next("EDS response")
      stream.send(Self.ack(eds))

      // helloworld's port becomes gRPC: its cluster changes (HTTP/2), its endpoints do not. Envoy re-creates the
      // cluster and waits for its assignment (Envoy issue 33607), so the assignment is sent again; ratings' is not.
      var objects = AdsServerTests.twoServices(ratings: ["10.2.0.1"])
      let key = try #require(objects.services.keys.first { $0.name == "helloworld" })
      objects.services[key]?.spec.ports?[0].appProtocol = "grpc"
      await h.registry.apply(cluster: "cluster1", objects: objects)
      let cdsPush = try await stream.next("CDS push")
      #expect(cdsPush.typeURL == XDSType.cluster.rawValue)
      #expect(Self.names(cdsPush) == [Self.hello])
      let edsPush = try await stream.next("EDS push")
      #expect(edsPush.typeURL == XDSType.endpoint.rawValue)
      #expect(Self.names(edsPush) == [Self.hello])
      let before = eds.resources.first { $0.name == Self.hello }?.version
      #expect(edsPush.resources.first?.version == before)
    }
  }

  @Test func reconnectWithInitialVersionsGetsNothingAlreadyHeld() async throws {
    try await withHarness { h in
      let first = h.open()
      first.send(Self.request(.cluster, node: true))
      let cds = try await first.next("CDS response")
      first.send(Self.ack(cds))
      first.send(Self.request(.endpoint, subscribe: [Self.hello, Self.ratings]))
      let eds = try await first.next("EDS response")
      first.send(Self.ack(eds))
      first.close()

      // The proxy reconnects holding every cluster but an outdated ratings assignment.
      var held = Dictionary(uniqueKeysWithValues: eds.resources.map { ($0.name, $0.version) })
      held[Self.ratings] = "outdated"
      let second = h.open()
      defer { second.close() }
      second.send(
        Self.request(
          .cluster, initial: Dictionary(uniqueKeysWithValues: cds.resources.map { ($0.name, $0.version) }),
          node: true))
      let resumed = try await second.next("CDS answer on reconnect")
      #expect(resumed.resources.isEmpty)
      #expect(resumed.removedResources.isEmpty)
      second.send(Self.ack(resumed))
      second.send(Self.request(.endpoint, subscribe: [Self.hello, Self.ratings], initial: held))
      let endpoints = try await second.next("EDS answer on reconnect")
      #expect(Self.names(endpoints) == [Self.ratings])
      second.send(Self.ack(endpoints))

      // Holding everything: the EDS request is not answered (the next response answers LDS).
      let third = h.open()
      defer { third.close() }
      third.send(
        Self.request(
          .endpoint, subscribe: [Self.hello, Self.ratings],
          initial: Dictionary(uniqueKeysWithValues: eds.resources.map { ($0.name, $0.version) }), node: true))
      third.send(Self.request(.listener))
      let next = try await third.next("LDS response")
      #expect(next.typeURL == XDSType.listener.rawValue)
    }
  }

  @Test func nackKeepsThePreviousVersionsThenAnAckClearsIt() async throws {
    try await withHarness { h in
      let stream = h.open()
      defer { stream.close() }
      stream.send(Self.request(.cluster, node: true))
      let cds = try await stream.next("CDS response")
      stream.send(Self.request(.cluster, nonce: cds.nonce, error: "forced NACK"))
      #expect(
        try await h.eventually { $0[.cluster]?.syncStatus == .error && $0[.cluster]?.lastNack == "forced NACK" })

      // The proxy holds nothing it accepted: the next push sends every cluster again; its ACK clears the NACK.
      await h.registry.apply(
        cluster: "cluster1", objects: AdsServerTests.twoServices(ratings: ["10.2.0.1"], extraPort: true))
      let pushed = try await stream.next("CDS push after the NACK")
      #expect(pushed.resources.count == 5)
      stream.send(Self.ack(pushed))
      #expect(try await h.eventually { $0[.cluster]?.syncStatus == .synced && $0[.cluster]?.lastNack == nil })
    }
  }

  @Test func sdsOnAPlaintextStreamGetsTheRootOnly() async throws {
    let security = StreamSecurity(secrets: WorkloadSecrets(meshCA: try AdsSecurityTests.meshCA()))
    try await withHarness(security: security) { h in
      let stream = h.open()
      defer { stream.close() }
      stream.send(Self.request(.secret, subscribe: ["default", "ROOTCA"], node: true))
      let sds = try await stream.next("SDS response")
      #expect(Self.names(sds) == ["ROOTCA"])
    }
  }

  @Test func sdsOnAnAuthenticatedStreamGetsItsCertificate() async throws {
    let security = StreamSecurity(
      authenticate: AdsSecurityTests.authenticate, secrets: WorkloadSecrets(meshCA: try AdsSecurityTests.meshCA()))
    try await withHarness(security: security, metadata: ["x-test-namespace": "sample"]) { h in
      let stream = h.open()
      defer { stream.close() }
      stream.send(Self.request(.secret, subscribe: ["default", "ROOTCA"], node: true))
      let sds = try await stream.next("SDS response")
      #expect(Set(Self.names(sds)) == ["default", "ROOTCA"])
    }
    try await withHarness(security: security, metadata: ["x-test-namespace": "other"]) { h in
      let stream = h.open()
      defer { stream.close() }
      stream.send(Self.request(.cluster, node: true))
      let error = await #expect(throws: RPCError.self) { _ = try await stream.next("the stream's end") }
      #expect(error?.code == .permissionDenied)
    }
  }
}
