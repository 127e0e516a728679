import EnvoyAPI
import EnvoyServices
import GRPCCore
import Logging
import SextantKube
import SextantRegistry
import SextantTestSupport
import Synchronization
import Testing

@testable import SextantGeneration
@testable import SextantXDS

/// The bounds of ``XDSLimits`` on ADS streams: unknown types, names per type, streams at once, send deadlines,
/// reading requests no faster than they are handled, and nothing cached for names that match nothing.
@Suite struct AdsLimitsTests {
  typealias Request = Envoy_Service_Discovery_V3_DiscoveryRequest
  typealias Response = Envoy_Service_Discovery_V3_DiscoveryResponse

  static func unknownType(_ index: Int) -> Request {
    var request = Request()
    request.typeURL = "type.googleapis.com/example.Unknown\(index)"
    return request
  }

  /// The RPC error a stream ended with, or nil when it delivered a response (or ended cleanly) instead.
  static func endingError(_ h: inout AdsServerTests.Harness, _ what: String) async -> RPCError? {
    do {
      _ = try await h.next(what)
      return nil
    } catch {
      return error as? RPCError
    }
  }

  @Test func tooManyUnknownTypesEndTheStreamNamingTheType() async throws {
    try await AdsServerTests().withHarness { h in
      h.requests.yield(AdsServerTests.request(.cluster, node: true))
      _ = try await h.next("CDS response")
      for index in 1...17 { h.requests.yield(Self.unknownType(index)) }
      let error = await Self.endingError(&h, "the stream's end")
      #expect(error?.code == .invalidArgument)
      #expect(error?.message.contains("example.Unknown17") == true)
    }
  }

  @Test func tooManyUnknownTypesEndADeltaStream() async throws {
    try await DeltaAdsServerTests().withHarness { h in
      let stream = h.open()
      stream.requests.yield(DeltaAdsServerTests.request(.cluster, node: true))
      _ = try await stream.next("CDS response")
      for index in 1...17 {
        var request = Envoy_Service_Discovery_V3_DeltaDiscoveryRequest()
        request.typeURL = "type.googleapis.com/example.Unknown\(index)"
        stream.requests.yield(request)
      }
      do {
        let response = try await stream.next("the stream's end")
        Issue.record("expected the stream to end, got a response of \(response.typeURL)")
      } catch let error as RPCError {
        #expect(error.code == .invalidArgument)
        #expect(error.message.contains("example.Unknown17"))
      }
    }
  }

  @Test func aRequestWithTooManyNamesIsRefused() async throws {
    try await AdsServerTests().withHarness { h in
      h.requests.yield(AdsServerTests.request(.cluster, node: true))
      _ = try await h.next("CDS response")
      let names = (0...10_000).map { "outbound|80||unknown\($0).sample.svc.cluster.local" }
      h.requests.yield(AdsServerTests.request(.endpoint, names: names))
      let error = await Self.endingError(&h, "the stream's end")
      #expect(error?.code == .invalidArgument)
      #expect(error?.message.contains("10001") == true)
    }
  }

  @Test func unknownEndpointNamesLeaveTheSharedCacheAlone() async throws {
    try await AdsServerTests().withHarness { h in
      h.requests.yield(AdsServerTests.request(.cluster, node: true))
      _ = try await h.next("CDS response")
      let before = h.cache.statistics.entries
      let names = (0..<500).map { "outbound|80||unknown\($0).sample.svc.cluster.local" }
      h.requests.yield(AdsServerTests.request(.endpoint, names: names))
      let eds = try await h.next("EDS response")
      // State of the world still answers every name (an empty assignment), but keeps none of them.
      #expect(eds.resources.count == 500)
      h.requests.yield(AdsServerTests.request(.route, names: (0..<500).map { "route-\($0)" }))
      let rds = try await h.next("RDS response")
      #expect(rds.resources.count == 500)
      #expect(h.cache.statistics.entries == before)
      // Known names are still cached and shared.
      h.requests.yield(AdsServerTests.request(.endpoint, names: names + [AdsServerTests.helloCluster]))
      _ = try await h.next("EDS response with a known name")
      #expect(h.cache.statistics.entries == before + 1)
    }
  }

  @Test func streamsBeyondTheLimitAreRefused() async throws {
    var limits = XDSLimits.defaults
    limits.maximumStreams = 0
    try await AdsServerTests().withHarness(limits: limits) { h in
      h.requests.yield(AdsServerTests.request(.cluster, node: true))
      let error = await Self.endingError(&h, "the stream's end")
      #expect(error?.code == .resourceExhausted)
    }
  }

  /// A request sequence that counts how many requests were taken from it.
  struct CountingRequests: AsyncSequence, Sendable {
    typealias Element = Request
    let base: AsyncStream<Request>
    let taken: Counter

    final class Counter: Sendable {
      let value = Atomic<Int>(0)
    }

    struct AsyncIterator: AsyncIteratorProtocol {
      var base: AsyncStream<Request>.AsyncIterator
      let taken: Counter
      mutating func next() async throws -> Request? {
        guard let next = await base.next() else { return nil }
        taken.value.add(1, ordering: .relaxed)
        return next
      }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(base: base.makeAsyncIterator(), taken: taken) }
  }

  /// A session whose first request never finishes being handled.
  struct StuckSession: AdsStreamSession {
    static func event(carrying request: Request) -> AdsConnection.Event { .request(request) }
    static func request(carriedBy event: AdsConnection.Event) -> Request? {
      if case .request(let request) = event { return request }
      return nil
    }
    let gate: Gate
    let started: Gate
    var logger = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }
    mutating func handle(_ request: Request, writer: RPCWriter<Response>) async throws {
      started.open()
      await gate.wait()
    }
    mutating func push(_ request: PushRequest, writer: RPCWriter<Response>) async throws {}
    mutating func refreshSecrets(writer: RPCWriter<Response>) async throws {}
    mutating func close() {}
  }

  /// A writer that never completes a write until cancelled, as a proxy that never reads.
  struct StalledWriter: RPCWriterProtocol {
    func write(_ element: Response) async throws {
      let (never, continuation) = AsyncStream.makeStream(of: Void.self)
      for await _ in never {}
      continuation.finish()
      throw CancellationError()
    }
    func write(contentsOf elements: some Sequence<Response>) async throws {
      for element in elements { try await write(element) }
    }
  }

  static func server(limits: XDSLimits = .defaults) async -> AdsServer {
    let registry = MeshRegistry()
    await registry.apply(cluster: "cluster1", objects: AdsServerTests.objects(endpoints: ["10.1.0.1"]))
    let (initial, _) = registry.subscribe()
    return AdsServer(
      connections: ConnectionRegistry(), pushed: PushedSnapshot(initial), generator: ConfigGenerator(),
      limits: limits, logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
  }

  @Test func requestsAreReadNoFasterThanTheyAreHandled() async throws {
    let server = await Self.server()
    let (source, feed) = AsyncStream.makeStream(of: Request.self)
    for index in 0..<200 { feed.yield(AdsServerTests.request(.endpoint, names: ["n\(index)"])) }
    let requests = CountingRequests(base: source, taken: .init())
    let gate = Gate()
    let started = Gate()
    let stream = Task {
      try await server.runStream(
        requests: RPCAsyncSequence(wrapping: requests), writer: RPCWriter(wrapping: StalledWriter()),
        peer: "test-peer", identity: nil
      ) { _ in StuckSession(gate: gate, started: started) }
    }
    await started.wait()
    // The session is stuck in its first request: the stream must not read on (at most one request ahead).
    let readAhead = await eventually(timeout: .milliseconds(500)) { requests.taken.value.load(ordering: .relaxed) > 2 }
    #expect(!readAhead, "read \(requests.taken.value.load(ordering: .relaxed)) requests while handling one")
    gate.open()
    feed.finish()
    stream.cancel()
    _ = try? await stream.value
  }

  @Test func aProxyThatDoesNotReadIsDisconnectedAfterTheSendDeadline() async throws {
    var limits = XDSLimits.defaults
    limits.sendTimeout = .milliseconds(100)
    let server = await Self.server(limits: limits)
    let (source, feed) = AsyncStream.makeStream(of: Request.self)
    feed.yield(AdsServerTests.request(.cluster, node: true))
    let outcome = Task { () -> RPCError? in
      do {
        try await server.runStream(
          requests: RPCAsyncSequence(wrapping: CountingRequests(base: source, taken: .init())),
          writer: RPCWriter(wrapping: StalledWriter()), peer: "test-peer", identity: nil
        ) { connection in
          AdsSession(
            connection: connection, connections: server.connections, pushed: server.pushed,
            generator: server.generator, identifier: "test", nonces: server.counter, limits: server.limits,
            logger: server.logger)
        }
        return nil
      } catch {
        return error as? RPCError
      }
    }
    let watchdog = Task {
      try await Task.sleep(for: .seconds(10))
      outcome.cancel()
    }
    let error = await outcome.value
    watchdog.cancel()
    feed.finish()
    #expect(error?.code == .deadlineExceeded)
    #expect(error?.message.contains("test-peer") == true)
    #expect(server.connections.count == 0)
  }
}
