import SextantKube
import Testing

@testable import SextantKubeClient

/// The informer's decisions, driven with made-up results: no source, no clock, no sleeps.
@Suite("Informer state machine")
struct InformerStateMachineTests {
  typealias Machine = InformerStateMachine<Pod>
  static let url = "https://test.invalid/api/v1/things"

  private func machine(watchTimeout: Duration = .seconds(300)) -> Machine {
    Machine(
      clusterID: "cluster1", url: Self.url, watchTimeout: watchTimeout, backoff: Backoff(random: { 0.5 }),
      transform: { pod in
        var pod = pod
        pod.metadata.resourceVersion = nil
        return pod
      })
  }

  /// A machine that listed `pods` at `rv` and is about to watch from it.
  private func listed(_ pods: [Pod] = [], rv: String = "10", watchTimeout: Duration = .seconds(300)) -> Machine {
    var machine = machine(watchTimeout: watchTimeout)
    #expect(machine.nextAction() == .list)
    _ = machine.listed(ObjectList(items: pods, resourceVersion: rv))
    return machine
  }

  /// Opens a watch: expects it to start from `rv`.
  private func watch(_ machine: inout Machine, from rv: String) {
    #expect(machine.nextAction() == .watch(resourceVersion: rv))
    _ = machine.watchStarted()
  }

  private static let gone = KubeClientError(
    code: .gone, message: "HTTP 410 Gone", clusterID: "cluster1", url: url, status: 410)

  @Test("the first list is reported whole, then synced; the next step watches from its resourceVersion")
  func firstList() {
    var machine = machine()
    #expect(machine.phase == .ready)
    #expect(machine.nextAction() == .list)
    let a = pod("ns", "a", rv: "5")
    let b = pod("ns", "b", rv: "6")
    let skipped = SkippedItem(namespace: "ns", name: "bad", reason: "spec: wrong")
    let effects = machine.listed(ObjectList(items: [b, a], resourceVersion: "10", skipped: [skipped]))
    #expect(
      effects == [
        .note(.skipped(skipped)),
        .note(.listed(objects: 2, resourceVersion: "10")),
        .change(InformerChange(kind: .initialList, upserted: [stored(a), stored(b)], deleted: [])),
        .state(.synced, previous: .syncing),
      ])
    #expect(machine.state == .synced)
    #expect(machine.resourceVersion == "10")
    #expect(machine.nextAction() == .watch(resourceVersion: "10"))
    // Accepted watch: already synced, nothing to report.
    #expect(machine.watchStarted().isEmpty)
  }

  @Test("an empty first list is still reported")
  func emptyFirstList() {
    var machine = machine()
    _ = machine.nextAction()
    #expect(
      machine.listed(ObjectList(items: [], resourceVersion: "1"))
        == [
          .note(.listed(objects: 0, resourceVersion: "1")),
          .change(InformerChange(kind: .initialList, upserted: [], deleted: [])),
          .state(.synced, previous: .syncing),
        ])
  }

  @Test("watch events update the store and the resourceVersion; unchanged objects are not reported")
  func watchEvents() {
    let a = pod("ns", "a", rv: "5")
    var machine = listed([a, pod("ns", "b", rv: "6")])
    watch(&machine, from: "10")
    let c = pod("ns", "c", rv: "11")
    let a2 = pod("ns", "a", rv: "12", ip: "10.0.0.2")
    let first = machine.received([.added(c), .modified(a2), .modified(pod("ns", "c", rv: "13"))])
    #expect(first.readOn)
    #expect(first.effects == [.change(InformerChange(kind: .watch, upserted: [stored(a2), stored(c)], deleted: []))])
    #expect(machine.resourceVersion == "13")

    // Added then deleted in one batch: reported as a delete only; a bookmark moves the resourceVersion.
    let d = pod("ns", "d", rv: "14")
    let second = machine.received([
      .added(d), .deleted(pod("ns", "d", rv: "15")), .deleted(pod("ns", "b", rv: "16")),
      .deleted(pod("ns", "gone", rv: "17")), .bookmark(resourceVersion: "20"),
    ])
    #expect(
      second.effects == [
        .change(
          InformerChange(
            kind: .watch, upserted: [],
            deleted: [NamespacedName(namespace: "ns", name: "b"), NamespacedName(namespace: "ns", name: "d")]))
      ])
    #expect(machine.resourceVersion == "20")

    // Nothing the store keeps changed: no change.
    #expect(machine.received([.modified(pod("ns", "a", rv: "21", ip: "10.0.0.2"))]).effects.isEmpty)
    #expect(machine.store.keys.sorted().map(\.name) == ["a", "c"])

    // The watch ended normally after events: watch again at once from the last resourceVersion.
    #expect(machine.watchEnded(nil, after: .zero).isEmpty)
    #expect(machine.nextAction() == .watch(resourceVersion: "21"))
  }

  @Test("list failures back off with growing delays and report the error once per code")
  func listFailures() {
    var machine = machine()
    let refused = connectionRefused()
    #expect(machine.nextAction() == .list)
    var other = refused
    other.clusterID = "somewhere-else"
    #expect(machine.listFailed(other) == [.state(.error(refused), previous: .syncing)])
    #expect(machine.nextAction() == .backOff(.milliseconds(100)))
    #expect(machine.nextAction() == .list)
    #expect(machine.listFailed(refused).isEmpty)
    #expect(machine.nextAction() == .backOff(.milliseconds(200)))
    #expect(machine.nextAction() == .list)
    let timeout = KubeClientError(code: .timeout, message: "timed out", clusterID: "cluster1", url: Self.url)
    #expect(machine.listFailed(timeout) == [.state(.error(timeout), previous: .error(refused))])
    #expect(machine.nextAction() == .backOff(.milliseconds(400)))
    #expect(machine.nextAction() == .list)
    let effects = machine.listed(ObjectList(items: [], resourceVersion: "10"))
    #expect(effects.last == .state(.synced, previous: .error(timeout)))
    // A list alone does not reset the backoff (only a watch that made progress does).
    watch(&machine, from: "10")
    _ = machine.watchEnded(refused, after: .zero)
    #expect(machine.nextAction() == .backOff(.milliseconds(800)))
  }

  @Test("a cancelled list or watch stops")
  func cancellation() {
    let cancelled = KubeClientError(code: .cancelled, message: "cancelled", clusterID: "cluster1", url: Self.url)
    var listing = machine()
    _ = listing.nextAction()
    #expect(listing.listFailed(cancelled).isEmpty)
    #expect(listing.phase == .stopped)
    #expect(listing.nextAction() == .stop)

    var watching = listed()
    watch(&watching, from: "10")
    #expect(watching.watchEnded(cancelled, after: .zero).isEmpty)
    #expect(watching.nextAction() == .stop)
  }

  @Test("a failed watch resumes from the same resourceVersion; events do not reset the backoff, a good end does")
  func watchFailures() {
    let refused = connectionRefused()
    var machine = listed()
    watch(&machine, from: "10")
    #expect(machine.watchEnded(refused, after: .zero) == [.state(.error(refused), previous: .synced)])
    #expect(machine.nextAction() == .backOff(.milliseconds(100)))
    #expect(machine.nextAction() == .watch(resourceVersion: "10"))
    #expect(machine.watchStarted() == [.state(.synced, previous: .error(refused))])
    _ = machine.received([.added(pod("ns", "a", rv: "11"))])
    #expect(machine.watchEnded(refused, after: .zero) == [.state(.error(refused), previous: .synced)])
    #expect(machine.nextAction() == .backOff(.milliseconds(200)))
    watch(&machine, from: "11")
    _ = machine.received([.modified(pod("ns", "a", rv: "12", ip: "10.0.0.9"))])
    #expect(machine.watchEnded(nil, after: .zero).isEmpty)
    watch(&machine, from: "12")
    _ = machine.watchEnded(refused, after: .zero)
    #expect(machine.nextAction() == .backOff(.milliseconds(100)))
  }

  @Test("an error that is not a KubeClientError is a connection failure of the source")
  func otherThrownError() {
    struct Broken: Error, CustomStringConvertible {
      var description: String { "stream broke" }
    }
    var machine = listed()
    watch(&machine, from: "10")
    let expected = KubeClientError(
      code: .connectionFailed, message: "stream broke", clusterID: "cluster1", url: Self.url)
    #expect(machine.watchEnded(Broken(), after: .zero) == [.state(.error(expected), previous: .synced)])
    #expect(machine.nextAction() == .backOff(.milliseconds(100)))
    #expect(machine.nextAction() == .watch(resourceVersion: "10"))
  }

  @Test("410 Gone relists at once; again without progress, after a backoff; progress resets the count")
  func gone() {
    var machine = listed()
    watch(&machine, from: "10")
    #expect(
      machine.watchEnded(Self.gone, after: .zero)
        == [.note(.relisting(reason: "HTTP 410 Gone", resourceVersion: "10"))])
    #expect(machine.state == .synced)
    #expect(machine.nextAction() == .list)
    // Nothing changed and the state is still synced: only the log line.
    #expect(
      machine.listed(ObjectList(items: [], resourceVersion: "20"))
        == [.note(.listed(objects: 0, resourceVersion: "20"))])
    watch(&machine, from: "20")
    _ = machine.watchEnded(Self.gone, after: .zero)
    #expect(machine.goneWithoutProgress == 2)
    #expect(machine.nextAction() == .backOff(.milliseconds(100)))
    #expect(machine.nextAction() == .list)
    _ = machine.listed(ObjectList(items: [], resourceVersion: "30"))

    // A 410 after events in the same watch relists at once, though the count goes on.
    watch(&machine, from: "30")
    _ = machine.received([.added(pod("ns", "a", rv: "31"))])
    _ = machine.watchEnded(Self.gone, after: .zero)
    #expect(machine.goneWithoutProgress == 3)
    #expect(machine.nextAction() == .list)
    _ = machine.listed(ObjectList(items: [pod("ns", "a", rv: "31")], resourceVersion: "40"))

    // A watch that ended normally with events is progress: the next 410 relists at once.
    watch(&machine, from: "40")
    _ = machine.received([.bookmark(resourceVersion: "41")])
    _ = machine.watchEnded(nil, after: .zero)
    #expect(machine.goneWithoutProgress == 0)
    watch(&machine, from: "41")
    _ = machine.watchEnded(Self.gone, after: .zero)
    #expect(machine.nextAction() == .list)
  }

  @Test("an ERROR 410 event ends the watch: later events of the batch are not applied, then a relist at once")
  func expiredEvent() {
    var machine = listed([pod("ns", "a", rv: "1")])
    watch(&machine, from: "10")
    let a2 = pod("ns", "a", rv: "11", ip: "10.0.0.2")
    let expired = KubeStatus(
      status: "Failure", message: "too old resource version: 10 (15)", reason: "Expired", code: 410)
    let result = machine.received([.modified(a2), .error(expired), .added(pod("ns", "b", rv: "12"))])
    #expect(!result.readOn)
    #expect(result.effects == [.change(InformerChange(kind: .watch, upserted: [stored(a2)], deleted: []))])
    #expect(machine.store[NamespacedName(namespace: "ns", name: "b")] == nil)
    #expect(
      machine.watchEnded(nil, after: .zero)
        == [
          .note(
            .relisting(
              reason: "watch ERROR event: HTTP 410 Expired: too old resource version: 10 (15)", resourceVersion: "10"))
        ])
    #expect(machine.nextAction() == .list)
    // The relist reports only the difference.
    let c = pod("ns", "c", rv: "25")
    #expect(
      machine.listed(ObjectList(items: [pod("ns", "a", rv: "11", ip: "10.0.0.2"), c], resourceVersion: "30"))
        == [
          .note(.listed(objects: 2, resourceVersion: "30")),
          .change(InformerChange(kind: .relist, upserted: [stored(c)], deleted: [])),
        ])
  }

  @Test("another ERROR event: the error state, a backoff, then a relist")
  func otherErrorEvent() {
    var machine = listed()
    watch(&machine, from: "10")
    let status = KubeStatus(status: "Failure", message: "etcd is unhappy", reason: "InternalError", code: 500)
    #expect(!machine.received([.error(status)]).readOn)
    let effects = machine.watchEnded(nil, after: .seconds(1000))
    guard case .state(.error(let error), previous: .synced)? = effects.first, effects.count == 1 else {
      Issue.record("unexpected effects \(effects)")
      return
    }
    #expect(error.code == .serverError)
    #expect(error.message == "watch ERROR event: HTTP 500 InternalError: etcd is unhappy")
    #expect(error.clusterID == "cluster1")
    #expect(error.url == Self.url)
    #expect(machine.resourceVersion == nil)
    #expect(machine.nextAction() == .backOff(.milliseconds(100)))
    #expect(machine.nextAction() == .list)
  }

  @Test("an event that does not decode: the error state, a backoff, then a relist")
  func undecodableEvent() {
    let undecodable = KubeClientError(
      code: .decodingFailed, message: "unexpected watch event", clusterID: "cluster1", url: "u")
    var machine = listed()
    watch(&machine, from: "10")
    _ = machine.received([.added(pod("ns", "c", rv: "11"))])
    #expect(machine.watchEnded(undecodable, after: .zero) == [.state(.error(undecodable), previous: .synced)])
    #expect(machine.nextAction() == .backOff(.milliseconds(100)))
    #expect(machine.nextAction() == .list)
  }

  @Test("a watch that ends at once without events relists after a delay; one that lasted re-watches")
  func watchEndings() {
    var quick = listed()
    watch(&quick, from: "10")
    #expect(quick.watchEnded(nil, after: .seconds(149)) == [.note(.endedWithoutEvents)])
    #expect(quick.nextAction() == .backOff(.milliseconds(100)))
    #expect(quick.nextAction() == .list)

    var lasted = listed()
    watch(&lasted, from: "10")
    #expect(lasted.watchEnded(nil, after: .seconds(150)).isEmpty)
    #expect(lasted.nextAction() == .watch(resourceVersion: "10"))

    // With a zero watch timeout every ending counts as a normal timeout.
    var zero = listed(watchTimeout: .zero)
    watch(&zero, from: "10")
    #expect(zero.watchEnded(nil, after: .zero).isEmpty)
    #expect(zero.nextAction() == .watch(resourceVersion: "10"))
  }

  /// How a watch fails at once, right after a successful list.
  enum ImmediateWatchFailure: String, CaseIterable, Sendable {
    case gone, closedWithoutEvents, undecodableEvent
  }

  @Test(
    "list ok, then a watch that fails at once, again and again: the delays grow to the cap; progress resets them",
    arguments: ImmediateWatchFailure.allCases)
  func backoffPersistsAcrossRelists(failure: ImmediateWatchFailure) {
    var machine = Machine(
      clusterID: "cluster1", url: Self.url, watchTimeout: .seconds(300),
      backoff: Backoff(cap: .milliseconds(1600), random: { 0.5 }))
    var delays: [Duration] = []
    var version = 10
    for _ in 0..<8 {
      #expect(machine.nextAction() == .list)
      _ = machine.listed(ObjectList(items: [], resourceVersion: "\(version)"))
      watch(&machine, from: "\(version)")
      switch failure {
      case .gone: _ = machine.watchEnded(Self.gone, after: .milliseconds(5))
      case .closedWithoutEvents: _ = machine.watchEnded(nil, after: .milliseconds(5))
      case .undecodableEvent:
        let undecodable = KubeClientError(
          code: .decodingFailed, message: "unexpected watch event", clusterID: "cluster1", url: Self.url)
        _ = machine.watchEnded(undecodable, after: .milliseconds(5))
      }
      if case .backOff(let delay) = machine.nextAction() { delays.append(delay) }
      version += 10
    }
    // The first 410 relists at once; every later failure, like every other kind, waits longer than the last.
    let expected: [Duration] = [
      .milliseconds(100), .milliseconds(200), .milliseconds(400), .milliseconds(800), .milliseconds(1600),
      .milliseconds(1600), .milliseconds(1600), .milliseconds(1600),
    ]
    #expect(delays == (failure == .gone ? Array(expected.prefix(7)) : expected))

    // A watch that lasted half the watch timeout made progress: the next failure starts from the first delay.
    #expect(machine.nextAction() == .list)
    _ = machine.listed(ObjectList(items: [], resourceVersion: "1000"))
    watch(&machine, from: "1000")
    #expect(machine.watchEnded(nil, after: .seconds(150)).isEmpty)
    watch(&machine, from: "1000")
    _ = machine.watchEnded(connectionRefused(), after: .zero)
    #expect(machine.nextAction() == .backOff(.milliseconds(100)))
  }

  @Test("results fed outside a watch change nothing")
  func outOfOrderInputs() {
    var machine = listed()
    let ignored = machine.received([.added(pod("ns", "a", rv: "11"))])
    #expect(ignored.effects.isEmpty)
    #expect(!ignored.readOn)
    #expect(machine.watchEnded(Self.gone, after: .zero).isEmpty)
    #expect(machine.store.isEmpty)
    #expect(machine.nextAction() == .watch(resourceVersion: "10"))
    // Asking again while the watch is open names the same watch.
    #expect(machine.nextAction() == .watch(resourceVersion: "10"))
  }
}
