import Foundation
import SextantTestSupport
import Synchronization

@testable import SextantPKI
@testable import SextantTrust

/// A clock that moves only when a test calls `advance(by:)`; sleepers whose deadline is reached then resume.
final class ManualTestClock: Clock, Sendable {
  typealias Instant = TestInstant

  private struct Sleeper {
    var deadline: Instant
    var continuation: CheckedContinuation<Void, any Error>
  }

  private struct State {
    var now = Instant(offset: .zero)
    var sleepers: [UUID: Sleeper] = [:]
  }

  private let state = Mutex(State())

  var now: Instant { state.withLock { $0.now } }
  var minimumResolution: Duration { .zero }

  /// How many tasks are sleeping now.
  var sleeping: Int { state.withLock { $0.sleepers.count } }

  func sleep(until deadline: Instant, tolerance: Duration?) async throws {
    let id = UUID()
    try await withTaskCancellationHandler {
      try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
        let resumeNow: Bool = state.withLock { state in
          if Task.isCancelled || deadline <= state.now { return true }
          state.sleepers[id] = Sleeper(deadline: deadline, continuation: continuation)
          return false
        }
        if resumeNow {
          if Task.isCancelled {
            continuation.resume(throwing: CancellationError())
          } else {
            continuation.resume()
          }
        }
      }
    } onCancel: {
      let sleeper = state.withLock { $0.sleepers.removeValue(forKey: id) }
      sleeper?.continuation.resume(throwing: CancellationError())
    }
  }

  /// Moves time forward and wakes every sleeper whose deadline has come.
  func advance(by duration: Duration) {
    let due: [Sleeper] = state.withLock { state in
      state.now = state.now.advanced(by: duration)
      let now = state.now
      let due = state.sleepers.filter { $0.value.deadline <= now }
      for id in due.keys { state.sleepers.removeValue(forKey: id) }
      return Array(due.values)
    }
    for sleeper in due { sleeper.continuation.resume() }
  }
}

/// A wall clock a test sets: what `now: () -> Date` parameters read.
final class TestWallClock: Sendable {
  private let date: Mutex<Date>

  init(_ start: Date = testNow) { date = Mutex(start) }

  func now() -> Date { date.withLock { $0 } }
  func set(_ value: Date) { date.withLock { $0 = value } }
  func advance(by seconds: TimeInterval) { date.withLock { $0 += seconds } }
}

/// Waits until `condition` holds, checking every few milliseconds, for at most `timeout`; returns whether it held.
func eventually(timeout: Duration = .seconds(10), _ condition: () -> Bool) async -> Bool {
  let deadline = ContinuousClock.now + timeout
  while ContinuousClock.now < deadline {
    if condition() { return true }
    try? await Task.sleep(for: .milliseconds(5))
  }
  return condition()
}
