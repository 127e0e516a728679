import Synchronization

/// A clock that moves only when the test moves it: the one manual clock the test targets share.
///
/// Hand it to code that sleeps on an injected `Clock` (instants are `TestInstant`s starting at zero), or hand
/// `continuousNow` to code that reads an injected `now: () -> ContinuousClock.Instant`. Two ways to drive sleepers:
/// - `advance(by:)` moves time forward and wakes every sleeper whose deadline has come; a sleep until a deadline
///   already reached returns at once.
/// - `tick()` ends exactly one sleep whatever its deadline: the earliest one in progress (time jumps to its deadline
///   if that is later), or, when nothing sleeps, the next one to start. Ticks given early are kept.
///
/// `sleeping` counts the sleeps in progress and `sleeps` those ever started: poll them with `eventually` to know the
/// code under test is waiting before moving time. A cancelled sleeper throws `CancellationError` at once.
package final class ManualClock: Clock, Sendable {
  package typealias Instant = TestInstant

  private struct Sleeper {
    var id: Int
    var deadline: Instant
    var continuation: CheckedContinuation<Void, any Error>
  }

  private struct State {
    var now = Instant(offset: .zero)
    var sleepers: [Sleeper] = []
    var nextID = 0
    var sleeps = 0
    var bankedTicks = 0
  }

  private let state = Mutex(State())
  private let continuousZero = ContinuousClock.now

  /// A clock at offset zero with nobody sleeping.
  package init() {}

  package var now: Instant { state.withLock { $0.now } }
  package var minimumResolution: Duration { .zero }

  /// How many sleeps are in progress.
  package var sleeping: Int { state.withLock { $0.sleepers.count } }

  /// How many sleeps have started, ended or not.
  package var sleeps: Int { state.withLock { $0.sleeps } }

  /// This clock's time as `ContinuousClock` instants: the real instant the clock was created at, plus every
  /// `advance` and `tick` since.
  package var continuousNow: @Sendable () -> ContinuousClock.Instant {
    { self.continuousZero + self.now.offset }
  }

  package func sleep(until deadline: Instant, tolerance: Duration? = nil) async throws {
    let id = state.withLock { state in
      defer { state.nextID += 1 }
      return state.nextID
    }
    try await withTaskCancellationHandler {
      try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
        enum Outcome { case wait, resume, cancel }
        let outcome: Outcome = state.withLock { state in
          state.sleeps += 1
          if Task.isCancelled { return .cancel }
          if deadline <= state.now { return .resume }
          if state.bankedTicks > 0 {
            state.bankedTicks -= 1
            state.now = max(state.now, deadline)
            return .resume
          }
          state.sleepers.append(Sleeper(id: id, deadline: deadline, continuation: continuation))
          return .wait
        }
        switch outcome {
        case .wait: break
        case .resume: continuation.resume()
        case .cancel: continuation.resume(throwing: CancellationError())
        }
      }
    } onCancel: {
      let sleeper = state.withLock { state -> Sleeper? in
        guard let index = state.sleepers.firstIndex(where: { $0.id == id }) else { return nil }
        return state.sleepers.remove(at: index)
      }
      sleeper?.continuation.resume(throwing: CancellationError())
    }
    try Task.checkCancellation()
  }

  /// Moves time forward by `duration` and wakes every sleeper whose deadline has come.
  package func advance(by duration: Duration) {
    let due: [Sleeper] = state.withLock { state in
      state.now = state.now.advanced(by: duration)
      let now = state.now
      let due = state.sleepers.filter { $0.deadline <= now }
      state.sleepers.removeAll { $0.deadline <= now }
      return due
    }
    for sleeper in due { sleeper.continuation.resume() }
  }

  /// Ends one sleep: the earliest in progress (moving time to its deadline if later), else the next one to start.
  package func tick() {
    let woken: Sleeper? = state.withLock { state in
      let earliest = state.sleepers.indices.min { lhs, rhs in
        (state.sleepers[lhs].deadline, state.sleepers[lhs].id) < (state.sleepers[rhs].deadline, state.sleepers[rhs].id)
      }
      guard let earliest else {
        state.bankedTicks += 1
        return nil
      }
      let sleeper = state.sleepers.remove(at: earliest)
      state.now = max(state.now, sleeper.deadline)
      return sleeper
    }
    woken?.continuation.resume()
  }
}
