import Foundation
import Synchronization

/// A wall clock a test sets: what `now: () -> Date` parameters read.
final class TestWallClock: Sendable {
  private let date: Mutex<Date>

  init(_ start: Date = testNow) { date = Mutex(start) }

  func now() -> Date { date.withLock { $0 } }
  func set(_ value: Date) { date.withLock { $0 = value } }
  func advance(by seconds: TimeInterval) { date.withLock { $0 += seconds } }
}
