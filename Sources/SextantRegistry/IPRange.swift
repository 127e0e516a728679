import SextantBase

/// A CIDR range such as `10.0.0.0/16` or `fd00::/8`.
package struct IPRange: Sendable, Hashable, CustomStringConvertible {
  package let base: IPAddress
  package let prefixLength: Int

  /// Parses `ADDRESS/PREFIX`; nil when it is not one (a bare address is a /32 or /128 range).
  package init?(_ text: String) {
    let parts = text.split(separator: "/", omittingEmptySubsequences: false)
    guard parts.count <= 2, let base = IPAddress(String(parts[0])) else { return nil }
    let maximum = base.bytes.count * 8
    if parts.count == 2 {
      guard let length = Int(parts[1]), (0...maximum).contains(length) else { return nil }
      prefixLength = length
    } else {
      prefixLength = maximum
    }
    self.base = base
  }

  /// True when `address` is of the same family and its first `prefixLength` bits equal the base's.
  package func contains(_ address: IPAddress) -> Bool {
    guard address.bytes.count == base.bytes.count else { return false }
    var remaining = prefixLength
    for index in base.bytes.indices where remaining > 0 {
      let bits = min(remaining, 8)
      let mask = UInt8(truncatingIfNeeded: 0xFF << (8 - bits))
      if address.bytes[index] & mask != base.bytes[index] & mask { return false }
      remaining -= bits
    }
    return true
  }

  package var description: String { "\(base)/\(prefixLength)" }
}
