import Logging
import NIOCore
import SextantKube
import SextantTestSupport
import Testing

@testable import SextantKubeClient

@Suite("Versioned resources (Istio config, EndpointSlices)", .timeLimit(.minutes(1)))
struct VersionedResourceSourceTests {
  /// A Gateways source over a client of `server`, whose idle watches return at once.
  private func gateways(
    _ server: FixtureHTTPServer, logs: LogRecorder
  ) -> (VersionedResourceSource<IstioGateway>, KubeClient) {
    let client = KubeClient(clusterID: "cluster1", config: KubeClientConfig(server: server.url), logger: logs.logger)
    let source = VersionedResourceSource<IstioGateway>.istioNetworking(
      client: client, clusterID: "primary", name: "Gateways", plural: "gateways", logger: logs.logger,
      idle: { _ in })
    return (source, client)
  }

  /// Every event of one watch stream, until it ends.
  private func drain<Object>(
    _ stream: AsyncThrowingStream<[WatchEvent<Object>], any Error>
  ) async throws -> [WatchEvent<Object>] {
    var events: [WatchEvent<Object>] = []
    for try await batch in stream { events += batch }
    return events
  }

  @Test("candidates are networking.istio.io v1, v1beta1, v1alpha3, in that order")
  func candidates() {
    #expect(
      VersionedResourceSource<IstioGateway>.istioNetworkingCandidates("gateways").map(\.path) == [
        "/apis/networking.istio.io/v1/gateways", "/apis/networking.istio.io/v1beta1/gateways",
        "/apis/networking.istio.io/v1alpha3/gateways",
      ])
    #expect(EndpointSliceSource.candidates == [.endpointSlicesV1, .endpointSlicesV1beta1])
  }

  @Test("discovery picks v1 when served, without asking for older versions")
  func prefersV1() async throws {
    let server = try FixtureHTTPServer([try IstioFixtures.discoveryV1(), try .fixture(200, "gateways-v1.json")])
    let logs = LogRecorder()
    let (source, client) = gateways(server, logs: logs)
    let list = try await source.list()
    await client.shutdown()
    server.stop()
    #expect(server.targets == ["/apis/networking.istio.io/v1", "/apis/networking.istio.io/v1/gateways?limit=500"])
    #expect(
      list.items.map(\.informerKey.description) == [
        "istio-system/cross-network-gateway", "istio-system/istiod-gateway",
      ])
    #expect(list.resourceVersion == "202")
    #expect(source.chosen == .istioNetworking("gateways", version: "v1"))
    #expect(source.url == server.url + "/apis/networking.istio.io/v1/gateways")
    #expect(logs.messages(atLeast: .info) == ["Gateways: using networking.istio.io/v1"])
  }

  @Test("v1 not served: v1beta1 is used, and its objects equal v1's")
  func fallsBackToV1beta1() async throws {
    let v1 = try FixtureHTTPServer([try IstioFixtures.discoveryV1(), try .fixture(200, "gateways-v1.json")])
    let v1beta1 = try FixtureHTTPServer([
      try IstioFixtures.notServed(), try IstioFixtures.discoveryV1beta1(), try .fixture(200, "gateways-v1beta1.json"),
    ])
    let logs = LogRecorder()
    let (newer, newerClient) = gateways(v1, logs: LogRecorder())
    let (older, olderClient) = gateways(v1beta1, logs: logs)
    let fromV1 = try await newer.list()
    let fromV1beta1 = try await older.list()
    await newerClient.shutdown()
    await olderClient.shutdown()
    v1.stop()
    v1beta1.stop()
    #expect(
      v1beta1.targets == [
        "/apis/networking.istio.io/v1", "/apis/networking.istio.io/v1beta1",
        "/apis/networking.istio.io/v1beta1/gateways?limit=500",
      ])
    #expect(fromV1beta1.items.count == 2)
    #expect(fromV1beta1.items == fromV1.items)
    #expect(logs.messages(atLeast: .info) == ["Gateways: using networking.istio.io/v1beta1"])
  }

  @Test("none served: empty and listed, logged once at info; asked again at the next watch; gone once served")
  func notServedThenServed() async throws {
    let notServed = try IstioFixtures.notServed()
    let server = try FixtureHTTPServer([
      notServed, notServed, notServed,  // list: nothing served
      notServed, notServed, notServed,  // second watch: asks again, still nothing
      try IstioFixtures.discoveryV1(),  // third watch: served now
      try IstioFixtures.discoveryV1(), try .fixture(200, "gateways-v1.json"),  // the list that follows
    ])
    let logs = LogRecorder()
    let (source, client) = gateways(server, logs: logs)

    let empty = try await source.list()
    #expect(empty.items.isEmpty)
    #expect(empty.resourceVersion == "")
    #expect(source.chosen == nil)
    #expect(server.requests.count == 3)
    let notServedLog = logs.entries(atLeast: .info)
    #expect(notServedLog.map(\.level) == [.info])
    #expect(
      notServedLog.first?.message
        == "Gateways are not served (none of networking.istio.io/v1, networking.istio.io/v1beta1, "
        + "networking.istio.io/v1alpha3); the Istio CRDs are not installed: none are read, and discovery is asked "
        + "again at every watch timeout")

    // The first watch after the list does not ask again: it only waits out the timeout.
    #expect(try await drain(try await source.watch(resourceVersion: "", timeout: .seconds(300))).isEmpty)
    #expect(server.requests.count == 3)
    // The next one asks; still not served, so it waits again, without logging again.
    #expect(try await drain(try await source.watch(resourceVersion: "", timeout: .seconds(300))).isEmpty)
    #expect(server.requests.count == 6)
    #expect(logs.entries(atLeast: .info).count == 1)
    // Then v1 is served: the watch fails with gone, so the informer lists again.
    let error = await #expect(throws: KubeClientError.self) {
      _ = try await source.watch(resourceVersion: "", timeout: .seconds(300))
    }
    #expect(error?.code == .gone)
    #expect(error?.clusterID == "primary")
    #expect(error?.message == "networking.istio.io/v1 gateways is served now")
    let listed = try await source.list()
    #expect(listed.items.map(\.metadata.name) == ["cross-network-gateway", "istiod-gateway"])
    await client.shutdown()
    server.stop()
    #expect(server.requests.count == 9)
    #expect(server.targets.last == "/apis/networking.istio.io/v1/gateways?limit=500")
    #expect(logs.messages(atLeast: .info).last == "Gateways: using networking.istio.io/v1")
  }

  @Test("a recorded watch of v1 Gateways decodes, from the list's resourceVersion")
  func watchServed() async throws {
    let server = try FixtureHTTPServer([
      try IstioFixtures.discoveryV1(), try .fixture(200, "gateways-v1.json"),
      try .fixture(200, "watch-gateways-v1.ndjson"),
    ])
    let (source, client) = gateways(server, logs: LogRecorder())
    let list = try await source.list()
    let events = try await drain(try await source.watch(resourceVersion: list.resourceVersion, timeout: .seconds(5)))
    await client.shutdown()
    server.stop()
    #expect(
      server.targets.last
        == "/apis/networking.istio.io/v1/gateways?watch=true&allowWatchBookmarks=true&resourceVersion=202"
        + "&timeoutSeconds=5"
    )
    #expect(events.map(\.type) == ["MODIFIED", "ADDED", "DELETED", "BOOKMARK"])
    guard case .modified(let modified) = events.first, case .added(let added) = events[1] else {
      Issue.record("unexpected events \(events.map(\.type))")
      return
    }
    #expect(modified.metadata.name == "istiod-gateway")
    #expect(serverHosts(modified) == [["istiod.istio-system.svc.cluster.local"], ["*"]])
    #expect(added.informerKey == NamespacedName(namespace: "sample", name: "ingress"))
  }

  @Test("a watch refused with 404 after the CRDs were removed looks again and asks for a relist")
  func crdsRemoved() async throws {
    let notServed = try IstioFixtures.notServed()
    let server = try FixtureHTTPServer([
      try IstioFixtures.discoveryV1(), try .fixture(200, "gateways-v1.json"),
      try .fixture(404, "status-404.json"),  // the watch
      notServed, notServed, notServed,  // looking again
      notServed, notServed, notServed,  // the relist
    ])
    let (source, client) = gateways(server, logs: LogRecorder())
    _ = try await source.list()
    let error = await #expect(throws: KubeClientError.self) {
      _ = try await source.watch(resourceVersion: "202", timeout: .seconds(5))
    }
    #expect(error?.code == .gone)
    #expect(
      error?.message
        == "networking.istio.io/v1 gateways is no longer served (HTTP 404 Not Found: the server could not find the "
        + "requested resource)")
    let relisted = try await source.list()
    await client.shutdown()
    server.stop()
    #expect(relisted.items.isEmpty)
    #expect(server.requests.count == 9)
  }

  @Test("a 404 watch of a version still served is an ordinary error")
  func notFoundStillServed() async throws {
    let server = try FixtureHTTPServer([
      try IstioFixtures.discoveryV1(), try .fixture(200, "gateways-v1.json"),
      try .fixture(404, "status-404.json"), try IstioFixtures.discoveryV1(),
    ])
    let (source, client) = gateways(server, logs: LogRecorder())
    _ = try await source.list()
    let error = await #expect(throws: KubeClientError.self) {
      _ = try await source.watch(resourceVersion: "202", timeout: .seconds(5))
    }
    await client.shutdown()
    server.stop()
    #expect(error?.code == .notFound)
  }

  @Test("discovery failures other than 404 are errors, not \"not served\"")
  func discoveryFails() async throws {
    let server = try FixtureHTTPServer([
      FixtureHTTPServer.Response(
        status: 403,
        body: Array(#"{"kind":"Status","code":403,"reason":"Forbidden","message":"no discovery for you"}"#.utf8))
    ])
    let (source, client) = gateways(server, logs: LogRecorder())
    let error = await #expect(throws: KubeClientError.self) { _ = try await source.list() }
    await client.shutdown()
    server.stop()
    #expect(error?.code == .forbidden)
    #expect(error?.clusterID == "primary")
    #expect(source.chosen == nil)
  }
}

/// `spec.servers[*].hosts` of a Gateway, as strings.
func serverHosts(_ gateway: IstioGateway) -> [[String]] {
  guard case .array(let servers)? = gateway.spec?["servers"] else { return [] }
  return servers.map { server in
    guard case .array(let hosts)? = server["hosts"] else { return [] }
    return hosts.compactMap { if case .string(let host) = $0 { host } else { nil } }
  }
}
