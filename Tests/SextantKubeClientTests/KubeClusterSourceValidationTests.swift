import Foundation
import Logging
import SextantKube
import SextantTestSupport
import Testing

@testable import SextantKubeClient
@testable import SextantSources

/// Objects from a real HTTP answer that the API server's own validation would reject (ports outside 1-65535): each
/// is left out alone and reported by cluster, kind, namespace/name and field, while the rest of the cluster flows.
@Suite("KubeClusterSource: objects with values out of range")
struct KubeClusterSourceValidationTests {
  /// A Service as the API server lists it, with one port.
  private static func service(_ name: String, port: Int, rv: String) -> String {
    #"{"metadata":{"name":"\#(name)","namespace":"sample","resourceVersion":"\#(rv)"},"#
      + #""spec":{"clusterIP":"10.96.0.10","ports":[{"name":"http","port":\#(port)}]}}"#
  }

  private static func serviceList(_ items: [String], rv: String) -> FixtureHTTPServer.Response {
    let body =
      #"{"kind":"ServiceList","apiVersion":"v1","metadata":{"resourceVersion":"\#(rv)"},"items":["#
      + items.joined(separator: ",") + "]}"
    return FixtureHTTPServer.Response(status: 200, body: Array(body.utf8))
  }

  /// The state of the last `.state` event among all updates so far.
  private static func lastState(_ updates: [[ClusterSourceUpdate]]) -> ClusterObjects? {
    updates.joined().reversed().lazy.compactMap { update -> ClusterObjects? in
      if case .state(let objects) = update.event { objects } else { nil }
    }.first
  }

  /// cluster2's source with `services` from `server` and every other collection scripted.
  private func makeSource(_ server: FixtureHTTPServer, logs: LogRecorder) -> (KubeClusterSource, KubeClient) {
    let client = KubeClient(clusterID: "cluster2", config: KubeClientConfig(server: server.url), logger: logs.logger)
    let scripts = KubeClusterSourceTests.Scripts(pods: [.list(.success(ObjectList(items: [], resourceVersion: "100")))])
    var sources = scripts.sources
    sources.services = KubeResourceClient<KubeService>(client: client, resource: .services)
    var options = KubeSourceOptions(watchTimeout: .seconds(300))
    options.sleep = SleepRecorder().sleep
    options.random = { 0.5 }
    return (KubeClusterSource(clusterID: "cluster2", sources: sources, options: options, logger: logs.logger), client)
  }

  private static func leftOut(_ name: String, item: Int, port: Int) -> String {
    "Leaving out an object that does not decode: cluster cluster2: Service sample/\(name) (item \(item)): "
      + "spec.ports[0].port: port \(port) is not between 1 and 65535"
  }

  @Test(
    "Services with port 70000 and -1 from the API server are left out and reported; the good one and the rest flow",
    .timeLimit(.minutes(1)))
  func listed() async throws {
    let server = try FixtureHTTPServer([
      Self.serviceList(
        [
          Self.service("good", port: 5000, rv: "5"), Self.service("oversized", port: 70000, rv: "6"),
          Self.service("negative", port: -1, rv: "7"),
        ], rv: "100"),
      .hold,
    ])
    let logs = LogRecorder()
    let (source, client) = makeSource(server, logs: logs)
    let updates = Collector<[ClusterSourceUpdate]>()
    let states = Collector<KubeConnectionState>()
    let task = Task { await source.run(onUpdates: { updates.append($0) }, onState: { states.append($0) }) }
    await updates.wait(for: 1)
    let watching = await eventually { server.requests.count == 2 }
    task.cancel()
    await task.value
    await client.shutdown()
    server.stop()

    #expect(watching)
    #expect(updates.values[0].last?.event == .synced)
    let objects = try #require(Self.lastState(updates.values))
    #expect(Array(objects.services.keys) == [NamespacedName(namespace: "sample", name: "good")])
    #expect(objects.services.values.first?.spec.ports?.first?.port == 5000)
    #expect(objects.namespaces.count == 1 && objects.endpointSlices.count == 1 && objects.nodes.count == 1)
    #expect(states.values == [.syncing, .synced])
    let errors = logs.entries(atLeast: .warning)
    #expect(
      errors.map(\.message) == [
        Self.leftOut("oversized", item: 1, port: 70000), Self.leftOut("negative", item: 2, port: -1),
      ])
    #expect(errors.allSatisfy { $0.metadata["cluster"] == "cluster2" })
  }

  @Test(
    "a watch event with port 70000: the error state, a relist that leaves the Service out, then synced again",
    .timeLimit(.minutes(1)))
  func watched() async throws {
    let event = #"{"type":"ADDED","object":"# + Self.service("oversized", port: 70000, rv: "101") + "}\n"
    let server = try FixtureHTTPServer([
      Self.serviceList([Self.service("good", port: 5000, rv: "5")], rv: "100"),
      FixtureHTTPServer.Response(status: 200, body: Array(event.utf8)),
      Self.serviceList(
        [
          Self.service("good", port: 5000, rv: "5"), Self.service("oversized", port: 70000, rv: "101"),
          Self.service("later", port: 8080, rv: "102"),
        ], rv: "102"),
      .hold,
    ])
    let logs = LogRecorder()
    let (source, client) = makeSource(server, logs: logs)
    let updates = Collector<[ClusterSourceUpdate]>()
    let states = Collector<KubeConnectionState>()
    let relisted = Gate()
    let task = Task {
      await source.run(
        onUpdates: { batch in
          updates.append(batch)
          if let objects = Self.lastState([batch]), objects.services.count == 2 { relisted.open() }
        },
        onState: { states.append($0) })
    }
    await relisted.wait()
    let watching = await eventually { server.requests.count == 4 }
    task.cancel()
    await task.value
    await client.shutdown()
    server.stop()

    #expect(watching)
    let objects = try #require(Self.lastState(updates.values))
    #expect(
      objects.services.keys.sorted() == [
        NamespacedName(namespace: "sample", name: "good"), NamespacedName(namespace: "sample", name: "later"),
      ])
    #expect(states.values.first == .syncing && states.values.last == .synced)
    let failure = try #require(
      states.values.lazy.compactMap { state -> String? in if case .error(let reason) = state { reason } else { nil } }
        .first)
    #expect(
      failure
        == "Services: unexpected watch event: object: Service sample/oversized: spec.ports[0].port: port 70000 is "
        + "not between 1 and 65535")
    #expect(logs.messages(atLeast: .error).contains(Self.leftOut("oversized", item: 1, port: 70000)))
    #expect(server.targets.last?.contains("resourceVersion=102") == true)
  }
}
