import Synchronization
import Testing

@testable import SextantKubeClient

@Suite("Backoff")
struct BackoffTests {
  @Test("doubles from 100 ms up to the 30 s cap; reset starts over")
  func sequenceWithoutJitter() {
    var backoff = Backoff(random: { 0.5 })
    let delays = (0..<12).map { _ in backoff.next() }
    #expect(
      delays == [
        .milliseconds(100), .milliseconds(200), .milliseconds(400), .milliseconds(800), .milliseconds(1600),
        .milliseconds(3200), .milliseconds(6400), .milliseconds(12800), .milliseconds(25600), .seconds(30),
        .seconds(30), .seconds(30),
      ])
    #expect(backoff.attempt == 12)
    backoff.reset()
    #expect(backoff.attempt == 0)
    #expect(backoff.next() == .milliseconds(100))
  }

  @Test("jitter spreads each delay by ±20% and never goes above the cap")
  func jitter() {
    var low = Backoff(random: { 0 })
    #expect(low.next() == .milliseconds(80))
    #expect(low.next() == .milliseconds(160))
    var high = Backoff(random: { 1 })
    #expect(high.next() == .milliseconds(120))
    #expect(high.next() == .milliseconds(240))
    #expect(
      Backoff.delay(attempt: 9, initial: .milliseconds(100), factor: 2, cap: .seconds(30), jitter: 0.2, randomUnit: 1)
        == .seconds(30))
    #expect(
      Backoff.delay(attempt: 20, initial: .milliseconds(100), factor: 2, cap: .seconds(30), jitter: 0.2, randomUnit: 0)
        == .seconds(24))
    #expect(
      Backoff.delay(
        attempt: 5000, initial: .milliseconds(100), factor: 2, cap: .seconds(30), jitter: 0.2, randomUnit: 0.5)
        == .seconds(30))
  }

  @Test("the random source is drawn once per delay, in order")
  func randomSequence() {
    let draws = [0.0, 0.25, 0.75, 1.0]
    let counter = Counter()
    var backoff = Backoff(cap: .seconds(1), random: { draws[counter.next() % draws.count] })
    let delays = (0..<4).map { _ in backoff.next() }
    #expect(delays == [.milliseconds(80), .milliseconds(180), .milliseconds(440), .milliseconds(960)])
  }
}

/// A thread-safe counter for random sources in tests.
final class Counter: Sendable {
  private let value = Mutex(0)

  func next() -> Int {
    value.withLock { value in
      defer { value += 1 }
      return value
    }
  }
}
