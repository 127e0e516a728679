/// An IPv4 or IPv6 address parsed from its text, as network-order bytes (4 or 16): the one IP parser Sextant has.
///
/// The rules are those of Go's `net.ParseIP` (what istiod applies to node IDs and meshNetworks) and of an X.509
/// iPAddress SAN. IPv4 is dotted decimal with exactly four parts of one to three digits, each at most 255, without
/// leading zeros (`10.0.0.1`; `010.0.0.1` is refused). IPv6 is RFC 4291 text: groups of one to four hex digits, at
/// most one `::` (standing for at least one group of zeros) and an optional dotted IPv4 tail (`fd00::1`,
/// `::ffff:10.0.0.1`). Zone suffixes (`%eth0`), brackets, prefixes (`/24`) and surrounding spaces are refused; use
/// `init?(host:)` for a URL host, whose IPv6 form is bracketed.
///
/// The text is kept as given and is what `description` shows. Values compare by text as well as bytes (`::1` and
/// `0::1` differ): compare `bytes` to ask whether two texts name the same address.
package struct IPAddress: Sendable, Hashable, CustomStringConvertible {
  /// 4 bytes for IPv4, 16 for IPv6, in network order.
  package let bytes: [UInt8]
  private let text: String

  /// Parses `text`; nil when it is not an IPv4 or IPv6 address by the rules above.
  package init?(_ text: String) {
    let utf8 = Array(text.utf8)[...]
    guard let bytes = utf8.contains(Self.colon) ? Self.ipv6(utf8) : Self.ipv4(utf8) else { return nil }
    self.bytes = bytes
    self.text = text
  }

  /// Parses a host as it appears in a URL or a TLS server name: an IPv6 address may be in brackets (`[fd00::1]`).
  ///
  /// Brackets around anything but IPv6 text are refused (`[10.0.0.1]`); without brackets this is `init?(_:)`.
  package init?(host: String) {
    guard host.hasPrefix("["), host.hasSuffix("]"), host.count >= 2 else {
      self.init(host)
      return
    }
    let inner = String(host.dropFirst().dropLast())
    guard inner.utf8.contains(Self.colon) else { return nil }
    self.init(inner)
  }

  /// Whether this is an IPv4 address (4 bytes).
  package var isIPv4: Bool { bytes.count == 4 }

  /// The text the address was parsed from.
  package var description: String { text }

  // MARK: - Parsing

  private static let colon = UInt8(ascii: ":")
  private static let dot = UInt8(ascii: ".")
  private static let zero = UInt8(ascii: "0")

  /// Four dotted decimal parts, or nil.
  private static func ipv4(_ text: ArraySlice<UInt8>) -> [UInt8]? {
    let parts = text.split(separator: dot, omittingEmptySubsequences: false)
    guard parts.count == 4 else { return nil }
    var bytes: [UInt8] = []
    bytes.reserveCapacity(4)
    for part in parts {
      guard (1...3).contains(part.count), part.allSatisfy({ (zero...zero + 9).contains($0) }) else { return nil }
      guard part.count == 1 || part.first != zero else { return nil }
      let value = part.reduce(0) { $0 * 10 + Int($1 - zero) }
      guard value <= 255 else { return nil }
      bytes.append(UInt8(value))
    }
    return bytes
  }

  /// RFC 4291 text, or nil.
  private static func ipv6(_ text: ArraySlice<UInt8>) -> [UInt8]? {
    guard let ellipsis = doubleColon(in: text) else {
      guard let groups = groups(text, allowIPv4Tail: true), groups.count == 16 else { return nil }
      return groups
    }
    let tailText = text[(ellipsis + 2)...]
    guard doubleColon(in: tailText) == nil,
      let head = groups(text[..<ellipsis], allowIPv4Tail: false),
      let tail = groups(tailText, allowIPv4Tail: true),
      head.count + tail.count <= 14  // "::" stands for at least one group of zeros.
    else { return nil }
    return head + [UInt8](repeating: 0, count: 16 - head.count - tail.count) + tail
  }

  /// The index of the first `::` in `text`.
  private static func doubleColon(in text: ArraySlice<UInt8>) -> Int? {
    var index = text.startIndex
    while index + 1 < text.endIndex {
      if text[index] == colon && text[index + 1] == colon { return index }
      index += 1
    }
    return nil
  }

  /// The bytes of colon-separated hex groups (empty text gives none); the last group may be dotted IPv4 when
  /// `allowIPv4Tail`.
  private static func groups(_ text: ArraySlice<UInt8>, allowIPv4Tail: Bool) -> [UInt8]? {
    if text.isEmpty { return [] }
    let parts = text.split(separator: colon, omittingEmptySubsequences: false)
    var bytes: [UInt8] = []
    for (index, part) in parts.enumerated() {
      if index == parts.count - 1, allowIPv4Tail, part.contains(dot) {
        guard let v4 = ipv4(part) else { return nil }
        bytes += v4
        continue
      }
      guard (1...4).contains(part.count) else { return nil }
      var value: UInt16 = 0
      for byte in part {
        guard let digit = hexValue(byte) else { return nil }
        value = value << 4 | UInt16(digit)
      }
      bytes += [UInt8(value >> 8), UInt8(value & 0xff)]
    }
    return bytes
  }

  private static func hexValue(_ byte: UInt8) -> UInt8? {
    switch byte {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
    default: nil
    }
  }
}
