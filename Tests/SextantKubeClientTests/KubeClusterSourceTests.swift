import Logging
import SextantKube
import SextantTestSupport
import Synchronization
import Testing

@testable import SextantKubeClient
@testable import SextantSources

@Suite("KubeClusterSource")
struct KubeClusterSourceTests {
  struct Scripts {
    var namespaces = ScriptedSource<Namespace>([
      .list(
        .success(
          ObjectList(
            items: [Namespace(metadata: ObjectMeta(name: "sample", resourceVersion: "3"))], resourceVersion: "100")))
    ])
    var services = ScriptedSource<KubeService>([
      .list(
        .success(
          ObjectList(
            items: [
              KubeService(
                metadata: ObjectMeta(name: "helloworld", namespace: "sample", resourceVersion: "4"),
                spec: KubeService.Spec(clusterIP: "10.96.0.10", ports: [KubeService.Port(name: "http", port: 5000)]))
            ], resourceVersion: "100")))
    ])
    var endpointSlices = ScriptedSource<EndpointSlice>([
      .list(
        .success(
          ObjectList(
            items: [
              EndpointSlice(
                metadata: ObjectMeta(
                  name: "helloworld-0", namespace: "sample", labels: ["kubernetes.io/service-name": "helloworld"],
                  resourceVersion: "5"),
                addressType: "IPv4",
                endpoints: [
                  EndpointSlice.Endpoint(
                    addresses: ["10.244.1.7"],
                    topology: ["kubernetes.io/hostname": "node-a", "topology.kubernetes.io/zone": "zone-a"])
                ])
            ], resourceVersion: "100")))
    ])
    var endpoints = ScriptedSource<Endpoints>([.list(.success(ObjectList(items: [], resourceVersion: "100")))])
    var pods: ScriptedSource<Pod>
    var nodes = ScriptedSource<Node>([
      .list(
        .success(
          ObjectList(items: [Node(metadata: ObjectMeta(name: "node-a", resourceVersion: "9"))], resourceVersion: "100"))
      )
    ])

    init(pods: [ScriptedSource<Pod>.Step]) {
      self.pods = ScriptedSource<Pod>(pods, clusterID: "cluster2")
    }

    var sources: KubeClusterSource.Sources {
      KubeClusterSource.Sources(
        namespaces: namespaces, services: services, endpointSlices: endpointSlices, endpoints: endpoints, pods: pods,
        nodes: nodes)
    }

    /// The same sources, plus Istio config ones.
    func sources(
      gateways: any ListWatchSource<IstioGateway>, virtualServices: any ListWatchSource<IstioVirtualService>
    ) -> KubeClusterSource.Sources {
      var sources = self.sources
      sources.gateways = gateways
      sources.virtualServices = virtualServices
      return sources
    }

    /// Waits until every script is used up.
    func finished() async {
      await namespaces.finished.wait()
      await services.finished.wait()
      await endpointSlices.finished.wait()
      await endpoints.finished.wait()
      await pods.finished.wait()
      await nodes.finished.wait()
    }
  }

  private func makeSource(
    _ scripts: Scripts, sources: KubeClusterSource.Sources? = nil, watchTimeout: Duration = .seconds(300),
    logs: LogRecorder = LogRecorder()
  ) -> KubeClusterSource {
    var options = KubeSourceOptions(watchTimeout: watchTimeout, watchIstioConfig: sources?.gateways != nil)
    options.sleep = SleepRecorder().sleep
    options.random = { 0.5 }
    return KubeClusterSource(
      clusterID: "cluster2", sources: sources ?? scripts.sources, options: options, logger: logs.logger)
  }

  @Test("reports all objects then synced once every list is in, then one coalesced state per burst")
  func syncThenCoalesce() async throws {
    let burst = Gate()
    let p1 = pod("sample", "p1", rv: "6")
    let p2 = pod("sample", "p2", rv: "101")
    let p3 = pod("sample", "p3", rv: "102")
    let p1b = pod("sample", "p1", rv: "103", ip: "10.0.0.9")
    let scripts = Scripts(pods: [
      .list(.success(ObjectList(items: [p1], resourceVersion: "100"))),
      .watch([[.added(p2), .added(p3), .modified(p1b), .deleted(pod("sample", "p2", rv: "104"))]], after: burst),
    ])
    let source = makeSource(scripts)
    let updates = Collector<[ClusterSourceUpdate]>()
    let states = Collector<KubeConnectionState>()
    let task = Task {
      await source.run(onUpdates: { updates.append($0) }, onState: { states.append($0) })
    }

    await updates.wait(for: 1)
    let first = updates.values[0]
    #expect(first.map(\.clusterID) == ["cluster2", "cluster2"])
    #expect(first.last?.event == .synced)
    guard case .state(let initial) = first.first?.event else {
      Issue.record("first update is not a state: \(first)")
      task.cancel()
      return
    }
    #expect(initial.count == 5)
    #expect(initial.pods[NamespacedName(namespace: "sample", name: "p1")] == stored(p1))
    #expect(initial.namespaces["sample"]?.metadata.resourceVersion == nil)
    let slice = try #require(initial.endpointSlices[NamespacedName(namespace: "sample", name: "helloworld-0")])
    #expect(slice.endpoints?.first?.zone == "zone-a")
    #expect(slice.endpoints?.first?.nodeName == "node-a")
    #expect(initial.nodes["node-a"] != nil)

    burst.open()
    await updates.wait(for: 2)
    await scripts.finished()
    await states.wait(for: 2)
    task.cancel()
    await task.value

    #expect(updates.values.count == 2)
    guard case .state(let after)? = updates.values.last?.first?.event else {
      Issue.record("second update is not a state")
      return
    }
    #expect(updates.values.last?.count == 1)
    #expect(
      Set(after.pods.keys) == [
        NamespacedName(namespace: "sample", name: "p1"), NamespacedName(namespace: "sample", name: "p3"),
      ])
    #expect(after.pods[NamespacedName(namespace: "sample", name: "p1")]?.status?.podIP == "10.0.0.9")
    #expect(states.values == [.syncing, .synced])
  }

  @Test("reports an error while a collection fails, and synced once it recovers")
  func errorAndRecovery() async {
    let retry = Gate()
    let scripts = Scripts(pods: [
      .list(.failure(connectionRefused("https://10.0.0.2:6443/api/v1/pods?limit=500"))),
      .list(.success(ObjectList(items: [], resourceVersion: "100")), after: retry),
    ])
    let logs = LogRecorder()
    let source = makeSource(scripts, logs: logs)
    let updates = Collector<[ClusterSourceUpdate]>()
    let states = Collector<KubeConnectionState>()
    let task = Task {
      await source.run(onUpdates: { updates.append($0) }, onState: { states.append($0) })
    }
    await states.wait(for: 2)
    #expect(states.values == [.syncing, .error("Pods: connection refused")])
    #expect(updates.values.isEmpty)

    retry.open()
    await states.wait(for: 3)
    await updates.wait(for: 1)
    task.cancel()
    await task.value
    #expect(states.values.last == .synced)
    #expect(updates.values.count == 1)
    #expect(updates.values[0].last?.event == .synced)
    let errors = logs.entries(atLeast: .warning)
    #expect(errors.map(\.message) == ["Pods: cannot list or watch: connection refused"])
    #expect(errors.first?.metadata["cluster"] == "cluster2")
    #expect(errors.first?.metadata["url"] == "https://10.0.0.2:6443/api/v1/pods?limit=500")
  }

  // MARK: - Istio config

  /// The state of the last `.state` event in `batch`.
  private static func lastState(_ batch: [ClusterSourceUpdate]) -> ClusterObjects? {
    batch.reversed().lazy.compactMap { update -> ClusterObjects? in
      if case .state(let objects) = update.event { objects } else { nil }
    }.first
  }

  /// A client of `server` for cluster2.
  private func client(_ server: FixtureHTTPServer, logs: LogRecorder) -> KubeClient {
    KubeClient(clusterID: "cluster2", config: KubeClientConfig(server: server.url), logger: logs.logger)
  }

  @Test(
    "Istio CRDs not installed: synced without Istio objects; installed later: picked up at the next watch timeout",
    .timeLimit(.minutes(1)))
  func istioConfigInstalledLater() async throws {
    let notServed = try IstioFixtures.notServed()
    // Each collection has a server of its own, so the order of its requests is fixed.
    let gatewayServer = try FixtureHTTPServer([
      notServed, notServed, notServed,  // the first list: not served
      try IstioFixtures.discoveryV1(),  // the watch after the first timeout asks again: served now
      try IstioFixtures.discoveryV1(), try .fixture(200, "gateways-v1.json"),  // the relist
      .hold,  // its watch
    ])
    let virtualServiceServer = try FixtureHTTPServer([
      notServed, notServed, notServed,
      try IstioFixtures.discoveryV1(),
      try IstioFixtures.discoveryV1(), try .fixture(200, "virtualservices-v1.json"),
      .hold,
    ])
    let logs = LogRecorder()
    let gatewayClient = client(gatewayServer, logs: logs)
    let virtualServiceClient = client(virtualServiceServer, logs: logs)
    // Stands in for the watch timeout of a collection that is not served.
    let timeoutPassed = Gate()
    let gateways = VersionedResourceSource<IstioGateway>.istioNetworking(
      client: gatewayClient, clusterID: "cluster2", name: "Gateways", plural: "gateways", logger: logs.logger,
      idle: { _ in await timeoutPassed.wait() })
    let virtualServices = VersionedResourceSource<IstioVirtualService>.istioNetworking(
      client: virtualServiceClient, clusterID: "cluster2", name: "VirtualServices", plural: "virtualservices",
      logger: logs.logger, idle: { _ in await timeoutPassed.wait() })
    let scripts = Scripts(pods: [.list(.success(ObjectList(items: [], resourceVersion: "100")))])
    // With a zero watch timeout, an idle watch that ends counts as having run its full timeout.
    let source = makeSource(
      scripts, sources: scripts.sources(gateways: gateways, virtualServices: virtualServices), watchTimeout: .zero,
      logs: logs)
    let updates = Collector<[ClusterSourceUpdate]>()
    let states = Collector<KubeConnectionState>()
    let installed = Gate()
    let task = Task {
      await source.run(
        onUpdates: { batch in
          updates.append(batch)
          if let objects = Self.lastState(batch), objects.gateways.count == 2, objects.virtualServices.count == 1 {
            installed.open()
          }
        },
        onState: { states.append($0) })
    }

    await updates.wait(for: 1)
    #expect(updates.values[0].last?.event == .synced)
    let synced = try #require(Self.lastState(updates.values[0]))
    #expect(synced.gateways.isEmpty)
    #expect(synced.virtualServices.isEmpty)
    #expect(synced.count == 4)
    #expect(gatewayServer.requests.count == 3)

    timeoutPassed.open()
    await installed.wait()
    let watching = await eventually { gatewayServer.requests.count == 7 && virtualServiceServer.requests.count == 7 }
    task.cancel()
    await task.value
    await gatewayClient.shutdown()
    await virtualServiceClient.shutdown()
    gatewayServer.stop()
    virtualServiceServer.stop()

    #expect(watching)
    let objects = try #require(updates.values.last.flatMap(Self.lastState))
    #expect(
      objects.gateways.keys.sorted() == [
        NamespacedName(namespace: "istio-system", name: "cross-network-gateway"),
        NamespacedName(namespace: "istio-system", name: "istiod-gateway"),
      ])
    let istiod = try #require(objects.gateways[NamespacedName(namespace: "istio-system", name: "istiod-gateway")])
    #expect(istiod.metadata.resourceVersion == nil)
    #expect(istiod.spec?["selector"] == .object(["istio": .string("eastwestgateway")]))
    #expect(Array(objects.virtualServices.keys) == [NamespacedName(namespace: "istio-system", name: "istiod-vs")])
    #expect(states.values == [.syncing, .synced])
    #expect(
      gatewayServer.targets == [
        "/apis/networking.istio.io/v1", "/apis/networking.istio.io/v1beta1", "/apis/networking.istio.io/v1alpha3",
        "/apis/networking.istio.io/v1",
        "/apis/networking.istio.io/v1", "/apis/networking.istio.io/v1/gateways?limit=500",
        "/apis/networking.istio.io/v1/gateways?watch=true&allowWatchBookmarks=true&resourceVersion=202"
          + "&timeoutSeconds=1",
      ])
    let info = logs.messages(atLeast: .info)
    #expect(info.filter { $0.hasPrefix("Gateways are not served") }.count == 1)
    #expect(info.contains("Gateways: listing again: networking.istio.io/v1 gateways is served now"))
    #expect(info.contains("VirtualServices: using networking.istio.io/v1"))
    #expect(logs.entries(atLeast: .warning).isEmpty)
  }

  @Test("a recorded Gateway watch updates the emitted state", .timeLimit(.minutes(1)))
  func gatewayWatchEvents() async throws {
    let gatewayServer = try FixtureHTTPServer([
      try IstioFixtures.discoveryV1(), try .fixture(200, "gateways-v1.json"),
      try .fixture(200, "watch-gateways-v1.ndjson"), .hold,
    ])
    let virtualServiceServer = try FixtureHTTPServer([
      try IstioFixtures.discoveryV1(), try .fixture(200, "virtualservices-v1.json"), .hold,
    ])
    let logs = LogRecorder()
    let gatewayClient = client(gatewayServer, logs: logs)
    let virtualServiceClient = client(virtualServiceServer, logs: logs)
    let scripts = Scripts(pods: [.list(.success(ObjectList(items: [], resourceVersion: "100")))])
    let source = makeSource(
      scripts,
      sources: scripts.sources(
        gateways: VersionedResourceSource.istioGateways(
          client: gatewayClient, clusterID: "cluster2", logger: logs.logger),
        virtualServices: VersionedResourceSource.istioVirtualServices(
          client: virtualServiceClient, clusterID: "cluster2", logger: logs.logger)),
      logs: logs)
    let ingress = NamespacedName(namespace: "sample", name: "ingress")
    let updates = Collector<[ClusterSourceUpdate]>()
    let changed = Gate()
    let task = Task {
      await source.run(
        onUpdates: { batch in
          updates.append(batch)
          if let objects = Self.lastState(batch), objects.gateways[ingress] != nil { changed.open() }
        },
        onState: { _ in })
    }
    await changed.wait()
    // After the recorded stream ended, the watch resumes from its BOOKMARK.
    let resumed = await eventually { gatewayServer.requests.count == 4 }
    task.cancel()
    await task.value
    await gatewayClient.shutdown()
    await virtualServiceClient.shutdown()
    gatewayServer.stop()
    virtualServiceServer.stop()

    let initial = try #require(Self.lastState(updates.values[0]))
    #expect(initial.gateways.count == 2)
    #expect(
      serverHosts(try #require(initial.gateways[NamespacedName(namespace: "istio-system", name: "istiod-gateway")]))
        == [["*"], ["*"]])
    let objects = try #require(updates.values.last.flatMap(Self.lastState))
    #expect(
      objects.gateways.keys.sorted() == [NamespacedName(namespace: "istio-system", name: "istiod-gateway"), ingress])
    let istiod = try #require(objects.gateways[NamespacedName(namespace: "istio-system", name: "istiod-gateway")])
    #expect(serverHosts(istiod) == [["istiod.istio-system.svc.cluster.local"], ["*"]])
    #expect(istiod.metadata.resourceVersion == nil)
    #expect(objects.virtualServices.count == 1)
    #expect(resumed)
    #expect(gatewayServer.targets.last?.contains("&resourceVersion=206&") == true)
  }

  @Test("the initial sync waits for the Istio collections too")
  func syncWaitsForIstioConfig() async {
    let listed = Gate()
    let gateway = IstioGateway(
      metadata: ObjectMeta(name: "istiod-gateway", namespace: "istio-system", resourceVersion: "7"),
      spec: .object(["selector": .object(["istio": .string("eastwestgateway")])]))
    let gateways = ScriptedSource<IstioGateway>(
      [.list(.success(ObjectList(items: [gateway], resourceVersion: "100")), after: listed)], clusterID: "cluster2")
    let virtualServices = ScriptedSource<IstioVirtualService>(
      [.list(.success(ObjectList(items: [], resourceVersion: "100")))], clusterID: "cluster2")
    let scripts = Scripts(pods: [.list(.success(ObjectList(items: [], resourceVersion: "100")))])
    let source = makeSource(
      scripts, sources: scripts.sources(gateways: gateways, virtualServices: virtualServices))
    let updates = Collector<[ClusterSourceUpdate]>()
    let task = Task { await source.run(onUpdates: { updates.append($0) }, onState: { _ in }) }
    await scripts.finished()
    await virtualServices.finished.wait()
    await Task.yield()
    #expect(updates.values.isEmpty)

    listed.open()
    await updates.wait(for: 1)
    task.cancel()
    await task.value
    #expect(updates.values[0].last?.event == .synced)
    let objects = Self.lastState(updates.values[0])
    var stored = gateway
    stored.metadata.resourceVersion = nil
    #expect(objects?.gateways[NamespacedName(namespace: "istio-system", name: "istiod-gateway")] == stored)
  }

  @Test(
    "watchIstioConfig off: no request for Istio config at all; on: Gateways and VirtualServices are asked for",
    .timeLimit(.minutes(1)), arguments: [false, true])
  func istioOption(watchIstioConfig: Bool) async throws {
    let server = try FixtureHTTPServer { _ in
      FixtureHTTPServer.Response(
        status: 403, body: Array(#"{"kind":"Status","code":403,"reason":"Forbidden","message":"denied"}"#.utf8))
    }
    let logs = LogRecorder()
    let client = client(server, logs: logs)
    let parking = ParkingSleep()
    var options = KubeSourceOptions(watchTimeout: .seconds(300), watchIstioConfig: watchIstioConfig)
    // Every informer fails its first request, then waits in its backoff until the end of the test.
    options.sleep = parking.sleep
    let source = KubeClusterSource(clusterID: "cluster2", client: client, options: options, logger: logs.logger)
    let states = Collector<KubeConnectionState>()
    let task = Task { await source.run(onUpdates: { _ in }, onState: { states.append($0) }) }
    let informers = watchIstioConfig ? 8 : 6
    let allParked = await eventually { parking.count == informers }
    let targets = server.targets
    task.cancel()
    await task.value
    await client.shutdown()
    server.stop()

    #expect(allParked)
    #expect(targets.count == informers)
    #expect(
      targets.filter { $0.contains("networking.istio.io") }
        == (watchIstioConfig ? ["/apis/networking.istio.io/v1", "/apis/networking.istio.io/v1"] : []))
    #expect(
      Set(targets.filter { !$0.contains("networking.istio.io") }) == [
        "/api/v1/namespaces?limit=500", "/api/v1/services?limit=500", "/apis/discovery.k8s.io/v1",
        "/api/v1/endpoints?limit=500", "/api/v1/pods?limit=500", "/api/v1/nodes?limit=500",
      ])
    guard case .error(let reason)? = states.values.last else {
      Issue.record("not in error: \(states.values)")
      return
    }
    #expect(reason.hasSuffix(": HTTP 403 Forbidden: denied"))
    let failing = logs.messages(atLeast: .error).compactMap { $0.split(separator: ":").first.map(String.init) }
    #expect(
      Set(failing)
        == Set(
          ["Namespaces", "Services", "EndpointSlices", "Endpoints", "Pods", "Nodes"]
            + (watchIstioConfig ? ["Gateways", "VirtualServices"] : [])))
  }
}

@Suite("Connection state of a source")
struct ConnectionStateTrackerTests {
  private func failure(_ message: String) -> InformerState {
    .error(KubeClientError(code: .connectionFailed, message: message, clusterID: "c", url: "u"))
  }

  @Test("syncing until synced; one error state per outage, kept while its informer fails; synced once all recover")
  func transitions() {
    var tracker = ConnectionStateTracker()
    var states: [ObjectKind: InformerState] = [.pod: .synced]
    #expect(tracker.update(states: states, synced: false) == nil)
    #expect(tracker.update(states: states, synced: true) == .synced)
    states[.service] = failure("connection refused")
    #expect(tracker.update(states: states, synced: true) == .error("Services: connection refused"))
    // Others failing (even one sorting first) or recovering leave the reported error alone.
    states[.endpoints] = failure("connection reset")
    states[.pod] = failure("connection refused")
    #expect(tracker.update(states: states, synced: true) == nil)
    states[.pod] = .synced
    #expect(tracker.update(states: states, synced: true) == nil)
    // The reported informer recovers while another still fails: the reason moves to that one.
    states[.service] = .synced
    #expect(tracker.update(states: states, synced: true) == .error("Endpoints: connection reset"))
    states[.endpoints] = .synced
    #expect(tracker.update(states: states, synced: true) == .synced)
    #expect(tracker.update(states: states, synced: true) == nil)
  }

  @Test("the Istio collections' failures are reported like the others, named by collection")
  func istioCollections() {
    var tracker = ConnectionStateTracker()
    var states: [ObjectKind: InformerState] = [.pod: .synced, .gateway: .synced, .virtualService: .synced]
    #expect(tracker.update(states: states, synced: true) == .synced)
    states[.virtualService] = failure("HTTP 403 Forbidden: virtualservices is forbidden")
    #expect(
      tracker.update(states: states, synced: true)
        == .error("VirtualServices: HTTP 403 Forbidden: virtualservices is forbidden"))
    states[.virtualService] = .synced
    states[.gateway] = failure("connection refused")
    #expect(tracker.update(states: states, synced: true) == .error("Gateways: connection refused"))
    states[.gateway] = .synced
    #expect(tracker.update(states: states, synced: true) == .synced)
  }
}

/// A backoff sleep that counts the informers waiting in it and keeps them there until their task is cancelled.
final class ParkingSleep: Sendable {
  private let parked = Mutex(0)

  /// How many waits began.
  var count: Int { parked.withLock { $0 } }

  var sleep: @Sendable (Duration) async throws -> Void {
    { _ in
      self.parked.withLock { $0 += 1 }
      await suspendUntilCancelled()
      throw CancellationError()
    }
  }
}
