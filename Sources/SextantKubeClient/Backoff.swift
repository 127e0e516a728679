import SextantBase

/// Capped exponential backoff with jitter: the delays between retries of a failing connection.
///
/// The n-th delay since the last `reset()` (n from 0) is `min(cap, initial × factor^n)`, scaled by a random factor
/// in `1 ± jitter`, and never more than `cap`: with the defaults 100 ms, 200 ms, 400 ms, ... up to 30 s, each ±20%
/// (at the cap, 24-30 s). A pure value: the random source is injected, so tests get exact sequences.
package struct Backoff: Sendable {
  /// The first delay.
  package var initial: Duration
  /// Growth per attempt.
  package var factor: Double
  /// The longest delay.
  package var cap: Duration
  /// The relative spread, 0.2 for ±20%.
  package var jitter: Double
  /// Attempts since the last reset: the exponent of the next delay.
  package private(set) var attempt: Int = 0
  /// Returns a number in `0..<1`; 0.5 means no jitter.
  private let random: @Sendable () -> Double

  package init(
    initial: Duration = .milliseconds(100),
    factor: Double = 2,
    cap: Duration = .seconds(30),
    jitter: Double = 0.2,
    random: @escaping @Sendable () -> Double = { Double.random(in: 0..<1) }
  ) {
    self.initial = initial
    self.factor = factor
    self.cap = cap
    self.jitter = jitter
    self.random = random
  }

  /// The delay to wait before the next attempt; advances the attempt count.
  package mutating func next() -> Duration {
    let delay = Self.delay(
      attempt: attempt, initial: initial, factor: factor, cap: cap, jitter: jitter, randomUnit: random())
    attempt += 1
    return delay
  }

  /// Starts again from `initial`: call it after a success.
  package mutating func reset() {
    attempt = 0
  }

  /// The delay of attempt `attempt` for a random draw `randomUnit` in `0..<1`; see the type's documentation.
  package static func delay(
    attempt: Int, initial: Duration, factor: Double, cap: Duration, jitter: Double, randomUnit: Double
  ) -> Duration {
    let capSeconds = cap.inSeconds
    let exponential = initial.inSeconds * pow(factor, attempt)
    let base = min(capSeconds, exponential.isFinite ? exponential : capSeconds)
    let scale = 1 + jitter * (2 * min(max(randomUnit, 0), 1) - 1)
    return .nanoseconds(Int64((min(base * scale, capSeconds) * 1e9).rounded()))
  }

  /// `base` to the power `exponent` by repeated multiplication (stops growing once infinite).
  private static func pow(_ base: Double, _ exponent: Int) -> Double {
    var result = 1.0
    for _ in 0..<max(0, min(exponent, 2048)) {
      result *= base
      if !result.isFinite { break }
    }
    return result
  }
}
