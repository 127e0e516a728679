import Logging
import SextantKube
import SextantTestSupport
import Synchronization
import Testing

@testable import SextantKubeClient

@Suite("Informer")
struct InformerTests {
  typealias Step = ScriptedSource<Pod>.Step

  /// Runs an informer over `steps` until the script is used up, then cancels it; returns what it reported.
  private func run(
    _ steps: [Step], watchTimeout: Duration = .seconds(300), logs: LogRecorder = LogRecorder()
  ) async -> (changes: [InformerChange<Pod>], states: [InformerState], calls: [String], delays: [Duration]) {
    let source = ScriptedSource<Pod>(steps)
    let sleeper = SleepRecorder()
    let changes = Collector<InformerChange<Pod>>()
    let states = Collector<InformerState>()
    let informer = Informer(
      source: source, name: "Pods", watchTimeout: watchTimeout, backoff: Backoff(random: { 0.5 }),
      transform: { pod in
        var pod = pod
        pod.metadata.resourceVersion = nil
        return pod
      },
      logger: logs.logger, sleep: sleeper.sleep)
    let task = Task {
      await informer.run(onChange: { changes.append($0) }, onState: { states.append($0) })
    }
    await source.finished.wait()
    task.cancel()
    await task.value
    return (changes.values, states.values, source.calls.withLock { $0 }, sleeper.delays.withLock { $0 })
  }

  private func list(_ pods: [Pod], rv: String) -> Step {
    .list(.success(ObjectList(items: pods, resourceVersion: rv)))
  }

  @Test("lists, then applies watch events chunk by chunk, resuming from the last bookmark")
  func listThenWatch() async {
    let a = pod("ns", "a", rv: "5")
    let b = pod("ns", "b", rv: "6")
    let c = pod("ns", "c", rv: "11")
    let a2 = pod("ns", "a", rv: "12", ip: "10.0.0.2")
    let result = await run([
      list([b, a], rv: "10"),
      .watch([[.added(c), .modified(a2)], [.deleted(pod("ns", "b", rv: "13")), .bookmark(resourceVersion: "20")]]),
    ])
    #expect(
      result.changes == [
        InformerChange(kind: .initialList, upserted: [stored(a), stored(b)], deleted: []),
        InformerChange(kind: .watch, upserted: [stored(a2), stored(c)], deleted: []),
        InformerChange(kind: .watch, upserted: [], deleted: [NamespacedName(namespace: "ns", name: "b")]),
      ])
    #expect(result.calls == ["list", "watch 10", "watch 20"])
    #expect(result.states == [.synced])
    #expect(result.delays.isEmpty)
  }

  @Test("an event that changes nothing the store keeps is not reported")
  func unchangedNotReported() async {
    let a = pod("ns", "a", rv: "5")
    let result = await run([
      list([a], rv: "10"),
      .watch([[.modified(pod("ns", "a", rv: "11"))]]),
    ])
    #expect(result.changes.count == 1)
    #expect(result.calls == ["list", "watch 10", "watch 11"])
  }

  @Test("an ERROR 410 event relists at once and reports only the difference")
  func relistOnExpired() async {
    let a = pod("ns", "a", rv: "1")
    let b = pod("ns", "b", rv: "2")
    let c = pod("ns", "c", rv: "3")
    let a2 = pod("ns", "a", rv: "11", ip: "10.0.0.2")
    let c2 = pod("ns", "c", rv: "25", ip: "10.0.0.3")
    let d = pod("ns", "d", rv: "26")
    let expired = KubeStatus(
      status: "Failure", message: "too old resource version: 10 (15)", reason: "Expired", code: 410)
    let logs = LogRecorder()
    let result = await run(
      [
        list([a, b, c], rv: "10"),
        .watch([[.modified(a2)], [.error(expired)]]),
        list([pod("ns", "a", rv: "11", ip: "10.0.0.2"), c2, d], rv: "30"),
      ], logs: logs)
    #expect(
      result.changes == [
        InformerChange(kind: .initialList, upserted: [stored(a), stored(b), stored(c)], deleted: []),
        InformerChange(kind: .watch, upserted: [stored(a2)], deleted: []),
        InformerChange(
          kind: .relist, upserted: [stored(c2), stored(d)], deleted: [NamespacedName(namespace: "ns", name: "b")]),
      ])
    #expect(result.calls == ["list", "watch 10", "list", "watch 30"])
    #expect(result.states == [.synced])
    #expect(result.delays.isEmpty)
    #expect(logs.messages(atLeast: .warning).isEmpty)
    #expect(
      logs.messages(atLeast: .info) == [
        "Pods: listing again: watch ERROR event: HTTP 410 Expired: too old resource version: 10 (15)"
      ])
  }

  @Test("a 410 Gone response to the watch request relists at once too")
  func relistOnGoneStatus() async {
    let gone = KubeClientError(code: .gone, message: "HTTP 410 Gone", clusterID: "cluster1", url: "u", status: 410)
    let result = await run([list([], rv: "10"), .watchFails(gone), list([], rv: "40")])
    #expect(result.calls == ["list", "watch 10", "list", "watch 40"])
    #expect(result.delays.isEmpty)
    #expect(result.changes.count == 1)
  }

  @Test("connection failures back off, and enter and leave the error state once, logging once each")
  func backoffAndStateChanges() async {
    let logs = LogRecorder()
    let refused = connectionRefused()
    let result = await run(
      [.list(.failure(refused)), .list(.failure(refused)), .list(.failure(refused)), list([], rv: "10")], logs: logs)
    #expect(result.delays == [.milliseconds(100), .milliseconds(200), .milliseconds(400)])
    #expect(result.states == [.error(refused), .synced])
    #expect(result.calls == ["list", "list", "list", "list", "watch 10"])
    let errors = logs.entries(atLeast: .warning)
    #expect(errors.count == 1)
    #expect(errors.first?.message == "Pods: cannot list or watch: connection refused")
    #expect(errors.first?.metadata["cluster"] == "cluster1")
    #expect(errors.first?.metadata["url"] == "https://test.invalid/api/v1/things")
    #expect(logs.messages(atLeast: .info).filter { $0.contains("recovered") }.count == 1)
  }

  @Test("a failed watch resumes from the same resourceVersion; progress resets the backoff")
  func watchFailures() async {
    let refused = connectionRefused()
    let forbidden = KubeClientError(
      code: .forbidden, message: "HTTP 403 Forbidden", clusterID: "cluster1", url: "u", status: 403)
    let result = await run([
      list([], rv: "10"),
      .watchFails(refused),
      .watchFails(refused),
      .watch([[.added(pod("ns", "a", rv: "11"))]], endingWith: refused),
      .watchFails(forbidden),
    ])
    #expect(result.calls == ["list", "watch 10", "watch 10", "watch 10", "watch 11", "watch 11"])
    // The third watch delivered an event, then broke: the failure still backs off, from where the count stood.
    #expect(result.delays == [.milliseconds(100), .milliseconds(200), .milliseconds(400), .milliseconds(800)])
    #expect(result.states == [.synced, .error(refused), .synced, .error(refused), .error(forbidden)])
  }

  @Test("a watch that ends at once without events relists after a delay; one that lasted re-watches")
  func watchEndings() async {
    let quick = await run([list([], rv: "10"), .watch([]), list([], rv: "12")])
    #expect(quick.calls == ["list", "watch 10", "list", "watch 12"])
    #expect(quick.delays == [.milliseconds(100)])

    // With a zero watch timeout every ending counts as a normal timeout: re-watch from the same version.
    let timedOut = await run([list([], rv: "10"), .watch([]), .watch([])], watchTimeout: .zero)
    #expect(timedOut.calls == ["list", "watch 10", "watch 10", "watch 10"])
    #expect(timedOut.delays.isEmpty)
  }

  @Test("a watch event that does not decode: error, back off, then relist, so the watch goes on past it")
  func undecodableWatchEvent() async {
    let undecodable = KubeClientError(
      code: .decodingFailed, message: "unexpected watch event: object.metadata.name: required field is missing",
      clusterID: "cluster1", url: "u")
    let a = pod("ns", "a", rv: "5")
    let b = pod("ns", "b", rv: "12")
    let result = await run([
      list([a], rv: "10"),
      .watch([[.added(pod("ns", "c", rv: "11"))]], endingWith: undecodable),
      list([a, b], rv: "20"),
    ])
    #expect(result.calls == ["list", "watch 10", "list", "watch 20"])
    #expect(result.delays == [.milliseconds(100)])
    #expect(result.states == [.synced, .error(undecodable), .synced])
    #expect(
      result.changes.last
        == InformerChange(
          kind: .relist, upserted: [stored(b)], deleted: [NamespacedName(namespace: "ns", name: "c")]))
  }

  @Test("list items that do not decode are logged, naming the cluster, the kind, the object and the field")
  func skippedItemsLogged() async {
    let logs = LogRecorder()
    let skipped = SkippedItem(
      namespace: "istio-system", name: nil, index: 1, reason: "metadata.name: required field is missing")
    let result = await run(
      [.list(.success(ObjectList(items: [pod("ns", "a", rv: "5")], resourceVersion: "10", skipped: [skipped])))],
      logs: logs)
    #expect(result.changes.first?.upserted.count == 1)
    #expect(
      logs.messages(atLeast: .warning) == [
        "Leaving out an object that does not decode: cluster cluster1: Pod istio-system (item 1): metadata.name: "
          + "required field is missing"
      ])
  }

  @Test("an ERROR event other than 410 is an error: back off, then relist")
  func otherErrorEvent() async {
    let status = KubeStatus(status: "Failure", message: "etcd is unhappy", reason: "InternalError", code: 500)
    let result = await run([list([], rv: "10"), .watch([[.error(status)]]), list([], rv: "50")])
    #expect(result.calls == ["list", "watch 10", "list", "watch 50"])
    #expect(result.delays == [.milliseconds(100)])
    guard case .error(let error) = result.states.dropFirst().first else {
      Issue.record("no error state: \(result.states)")
      return
    }
    #expect(error.code == .serverError)
    #expect(error.message == "watch ERROR event: HTTP 500 InternalError: etcd is unhappy")
    #expect(result.states.last == .synced)
  }
}
