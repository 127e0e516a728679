/// Parses durations in Go's `time.ParseDuration` form (`100ms`, `10s`, `1m30s`, `1.5h`), as istiod's environment
/// variables and mesh config take them.
package enum GoDuration {
  /// The duration `text` stands for, or nil when it is not a Go duration. `0` alone is allowed without a unit.
  package static func parse(_ text: String) -> Duration? {
    var rest = Substring(text.trimmingCharacters(in: .whitespaces))
    guard !rest.isEmpty else { return nil }
    var negative = false
    if rest.first == "-" || rest.first == "+" {
      negative = rest.first == "-"
      rest = rest.dropFirst()
    }
    if rest == "0" { return .zero }
    var total: Double = 0
    while !rest.isEmpty {
      let number = rest.prefix { $0.isNumber || $0 == "." }
      guard !number.isEmpty, let value = Double(number) else { return nil }
      rest = rest.dropFirst(number.count)
      let unit = rest.prefix { !($0.isNumber || $0 == ".") }
      rest = rest.dropFirst(unit.count)
      guard let scale = units[String(unit)] else { return nil }
      total += value * scale
    }
    let nanoseconds = (negative ? -total : total) * 1e9
    guard nanoseconds.isFinite, abs(nanoseconds) < 9.2e18 else { return nil }
    return .nanoseconds(Int64(nanoseconds))
  }

  private static let units: [String: Double] = [
    "ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600,
  ]
}

extension String {
  fileprivate func trimmingCharacters(in set: Set<Character>) -> String {
    String(drop { set.contains($0) }.reversed().drop { set.contains($0) }.reversed())
  }
}

extension Set where Element == Character {
  fileprivate static var whitespaces: Set<Character> { [" ", "\t", "\n", "\r"] }
}
