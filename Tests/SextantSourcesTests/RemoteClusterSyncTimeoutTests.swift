import SextantKube
import SextantRegistry
import SextantTestSupport
import Synchronization
import Testing

@testable import SextantSources

/// PILOT_REMOTE_CLUSTER_TIMEOUT: a runner's timer, on a hand-driven clock, and what the coordinator makes of it.
@Suite("Remote cluster sync timeout")
struct RemoteClusterSyncTimeoutTests {
  typealias H = RemoteClusterHarness

  @Test func timeoutStopsReadinessWaitingForAClusterThatHasNotSynced() async throws {
    let clock = HandClock()
    let h = H(syncTimeout: .seconds(30), clock: clock)
    let runner = try await h.start(H.secret("cluster2", server: "https://a"))
    #expect(!h.registry.allSynced)

    let timer = Task { await runner.reportSyncTimeout(to: h.coordinator) }
    await clock.waitForSleepers(1)
    clock.advance(by: .seconds(29))
    #expect(clock.sleeperCount == 1)
    #expect(h.info("cluster2")?.state == .syncing)
    clock.advance(by: .seconds(1))
    #expect(await timer.value)
    #expect(h.info("cluster2")?.state == .timeout)
    #expect(h.info("cluster2")?.hasSynced == false)
    #expect(h.registry.allSynced)
    let warnings = h.logged("remote cluster did not sync in time")
    #expect(warnings.count == 1)
    #expect(warnings.first?.metadata["state"] == "timeout")

    // A late initial load still counts.
    await h.coordinator.deliver(runner, H.initialLoad("cluster2", network: "late"))
    #expect(h.info("cluster2")?.state == .synced)
    #expect(h.info("cluster2")?.network == "late")
  }

  @Test func timeoutOfAClusterInErrorKeepsTheErrorAndItsReason() async throws {
    let clock = HandClock()
    let h = H(syncTimeout: .seconds(5), clock: clock)
    let runner = try await h.start(H.secret("cluster2", server: "https://a"))
    await h.coordinator.connection(runner, .error("connection refused"))
    #expect(!h.registry.allSynced)

    let timer = Task { await runner.reportSyncTimeout(to: h.coordinator) }
    await clock.waitForSleepers(1)
    clock.advance(by: .seconds(5))
    #expect(await timer.value)
    #expect(h.info("cluster2")?.state == .error)
    #expect(h.info("cluster2")?.reason == "connection refused")
    #expect(h.registry.allSynced)
    #expect(h.logged("remote cluster did not sync in time").first?.metadata["state"] == "error")
  }

  @Test func timeoutAfterTheInitialLoadChangesNothing() async throws {
    let clock = HandClock()
    let h = H(syncTimeout: .seconds(30), clock: clock)
    let runner = try await h.addSynced("cluster2", server: "https://a", network: "a")
    let version = h.registry.current.version

    let timer = Task { await runner.reportSyncTimeout(to: h.coordinator) }
    await clock.waitForSleepers(1)
    clock.advance(by: .seconds(30))
    #expect(await timer.value)
    #expect(h.registry.current.version == version)
    #expect(h.info("cluster2")?.state == .synced)
    #expect(h.logged("remote cluster did not sync in time").isEmpty)
  }

  @Test func onlyTheServingRunnerOfAClusterThatHasNotSyncedTimesOut() async throws {
    let clock = HandClock()
    let h = H(syncTimeout: .seconds(30), clock: clock)
    let old = try await h.addSynced("cluster2", server: "https://old", network: "old")
    let replacement = try await h.start(H.secret("cluster2", server: "https://new"))
    let third = try await h.start(
      H.secrets([
        "remote-cluster2": ["cluster2": H.kubeconfig("https://new")],
        "remote-cluster3": ["cluster3": H.kubeconfig("https://three")],
      ]))
    // cluster2's serving runner has synced and its replacement does not serve; cluster3's runner serves unsynced.
    let timers = [old, replacement, third].map { runner in
      Task { await runner.reportSyncTimeout(to: h.coordinator) }
    }
    await clock.waitForSleepers(3)
    clock.advance(by: .seconds(30))
    for timer in timers { #expect(await timer.value) }
    #expect(h.info("cluster2")?.state == .synced)
    #expect(h.info("cluster3")?.state == .timeout)
    #expect(h.logged("remote cluster did not sync in time").map { $0.metadata["cluster"] } == ["cluster3"])
    #expect(await h.coordinator.status().map(\.replacementPending) == [true, false])
  }

  @Test(arguments: [nil, Duration.zero])
  func withoutATimeoutNothingIsReported(_ timeout: Duration?) async throws {
    let clock = HandClock()
    let h = H(syncTimeout: timeout, clock: clock)
    let runner = try await h.start(H.secret("cluster2", server: "https://a"))
    #expect(await runner.reportSyncTimeout(to: h.coordinator) == false)
    #expect(clock.sleeperCount == 0)
    #expect(h.info("cluster2")?.state == .syncing)
    #expect(!h.registry.allSynced)
  }

  @Test func cancelledTimerReportsNothing() async throws {
    let clock = HandClock()
    let h = H(syncTimeout: .seconds(30), clock: clock)
    let runner = try await h.start(H.secret("cluster2", server: "https://a"))
    let timer = Task { await runner.reportSyncTimeout(to: h.coordinator) }
    await clock.waitForSleepers(1)
    timer.cancel()
    #expect(await timer.value == false)
    clock.advance(by: .seconds(60))
    #expect(h.info("cluster2")?.state == .syncing)
    #expect(!h.registry.allSynced)
  }
}

/// A clock that moves only when a test calls `advance(by:)`; sleepers whose deadline has come then resume.
///
/// Local to these tests (the shared `ManualClock` is being consolidated): `waitForSleepers(_:)` lets a test know the
/// timer is waiting before it moves time, without polling.
private final class HandClock: Clock, Sendable {
  typealias Instant = TestInstant

  private struct Sleeper {
    var deadline: TestInstant
    var continuation: CheckedContinuation<Void, any Error>
  }

  private struct State {
    var now = TestInstant(offset: .zero)
    var nextID: UInt64 = 0
    var sleepers: [UInt64: Sleeper] = [:]
    /// Tests waiting until this many tasks sleep.
    var waiters: [(count: Int, continuation: CheckedContinuation<Void, Never>)] = []
  }

  private let state = Mutex(State())

  var now: TestInstant { state.withLock { $0.now } }
  var minimumResolution: Duration { .zero }

  /// How many tasks sleep on the clock now.
  var sleeperCount: Int { state.withLock { $0.sleepers.count } }

  func sleep(until deadline: TestInstant, tolerance: Duration?) async throws {
    let id = state.withLock { state in
      defer { state.nextID += 1 }
      return state.nextID
    }
    try await withTaskCancellationHandler {
      try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
        let (outcome, ready) = state.withLock {
          state -> (Result<Void, any Error>?, [CheckedContinuation<Void, Never>]) in
          if Task.isCancelled { return (.failure(CancellationError()), []) }
          if deadline <= state.now { return (.success(()), []) }
          state.sleepers[id] = Sleeper(deadline: deadline, continuation: continuation)
          let count = state.sleepers.count
          let ready = state.waiters.filter { $0.count <= count }.map(\.continuation)
          state.waiters.removeAll { $0.count <= count }
          return (nil, ready)
        }
        for waiter in ready { waiter.resume() }
        if let outcome { continuation.resume(with: outcome) }
      }
    } onCancel: {
      let sleeper = state.withLock { $0.sleepers.removeValue(forKey: id) }
      sleeper?.continuation.resume(throwing: CancellationError())
    }
  }

  /// Returns once at least `count` tasks sleep on the clock.
  func waitForSleepers(_ count: Int) async {
    await withCheckedContinuation { continuation in
      let ready = state.withLock { state -> Bool in
        if state.sleepers.count >= count { return true }
        state.waiters.append((count, continuation))
        return false
      }
      if ready { continuation.resume() }
    }
  }

  /// Moves time forward and wakes every sleeper whose deadline has come.
  func advance(by duration: Duration) {
    let due = state.withLock { state -> [CheckedContinuation<Void, any Error>] in
      state.now = state.now.advanced(by: duration)
      let now = state.now
      let due = state.sleepers.filter { $0.value.deadline <= now }
      for id in due.keys { state.sleepers[id] = nil }
      return due.values.map(\.continuation)
    }
    for continuation in due { continuation.resume() }
  }
}
