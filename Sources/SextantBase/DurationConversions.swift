/// Conversions of `Duration` to plain numbers: the only ones Sextant has, so every module rounds the same way.
///
/// The `Double` forms carry about 16 significant digits (exact to the nanosecond for anything under about 100
/// days); `inNanoseconds` is exact but truncates toward zero and traps beyond ±292 years, which no configured
/// timeout reaches.
extension Duration {
  /// The duration in seconds, fractions included; also a Foundation `TimeInterval`, for `Date` arithmetic.
  package var inSeconds: Double {
    let (seconds, attoseconds) = components
    return Double(seconds) + Double(attoseconds) / 1e18
  }

  /// The duration in milliseconds, fractions included (for timings in logs and reports).
  package var inMilliseconds: Double {
    let (seconds, attoseconds) = components
    return Double(seconds) * 1e3 + Double(attoseconds) / 1e15
  }

  /// The duration in whole nanoseconds, truncated toward zero (for NIO's `TimeAmount.nanoseconds`).
  package var inNanoseconds: Int64 {
    let (seconds, attoseconds) = components
    return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
  }
}
