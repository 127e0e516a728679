import Logging
import SextantKube
import SextantTestSupport
import Testing

@testable import SextantKubeClient

@Suite("KubeClusterSource")
struct KubeClusterSourceTests {
  struct Scripts {
    var namespaces = ScriptedSource<Namespace>([
      .list(
        .success(
          ObjectList(
            items: [Namespace(metadata: ObjectMeta(name: "sample", resourceVersion: "3"))], resourceVersion: "100")))
    ])
    var services = ScriptedSource<Service>([
      .list(
        .success(
          ObjectList(
            items: [
              Service(
                metadata: ObjectMeta(name: "helloworld", namespace: "sample", resourceVersion: "4"),
                spec: Service.Spec(clusterIP: "10.96.0.10", ports: [Service.Port(name: "http", port: 5000)]))
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

  private func makeSource(_ scripts: Scripts, logs: LogRecorder = LogRecorder()) -> KubeClusterSource {
    var options = KubeSourceOptions(watchTimeout: .seconds(300))
    options.sleep = SleepRecorder().sleep
    options.random = { 0.5 }
    return KubeClusterSource(clusterID: "cluster2", sources: scripts.sources, options: options, logger: logs.logger)
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
    #expect(states.values == [.syncing, .error("Pod: connection refused")])
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
    #expect(tracker.update(states: states, synced: true) == .error("Service: connection refused"))
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
}
