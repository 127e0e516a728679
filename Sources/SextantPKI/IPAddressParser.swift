import Foundation

/// Parses textual IP addresses into the network-order bytes an X.509 iPAddress SAN holds.
///
/// IPv4 is dotted decimal with exactly four parts and no leading zeros (`10.0.0.1`); IPv6 is RFC 4291 text with at
/// most one `::` and an optional dotted IPv4 tail (`fd00::1`, `::ffff:10.0.0.1`). Zone suffixes (`%eth0`), brackets
/// and prefixes (`/24`) are refused: a certificate cannot hold them.
package enum IPAddressParser {
  /// 4 bytes for IPv4, 16 for IPv6, nil when `text` is neither.
  package static func bytes(_ text: String) -> [UInt8]? {
    text.contains(":") ? ipv6(Substring(text)) : ipv4(Substring(text))
  }

  package static func ipv4(_ text: Substring) -> [UInt8]? {
    let parts = text.split(separator: ".", omittingEmptySubsequences: false)
    guard parts.count == 4 else { return nil }
    var bytes: [UInt8] = []
    for part in parts {
      guard !part.isEmpty, part.count <= 3, part.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
      guard part == "0" || !part.hasPrefix("0"), let value = UInt8(part) else { return nil }
      bytes.append(value)
    }
    return bytes
  }

  package static func ipv6(_ text: Substring) -> [UInt8]? {
    let halves = text.components(separatedBy: "::")
    guard halves.count <= 2 else { return nil }
    guard let head = groups(Substring(halves[0]), allowIPv4Tail: halves.count == 1) else { return nil }
    if halves.count == 1 {
      return head.count == 16 ? head : nil
    }
    guard let tail = groups(Substring(halves[1]), allowIPv4Tail: true) else { return nil }
    // "::" stands for at least one group of zeros.
    guard head.count + tail.count <= 14 else { return nil }
    return head + [UInt8](repeating: 0, count: 16 - head.count - tail.count) + tail
  }

  /// The bytes of colon-separated hex groups (empty text gives none); the last group may be dotted IPv4.
  private static func groups(_ text: Substring, allowIPv4Tail: Bool) -> [UInt8]? {
    if text.isEmpty { return [] }
    let parts = text.split(separator: ":", omittingEmptySubsequences: false)
    var bytes: [UInt8] = []
    for (index, part) in parts.enumerated() {
      if index == parts.count - 1, allowIPv4Tail, part.contains(".") {
        guard let v4 = ipv4(part) else { return nil }
        bytes += v4
        continue
      }
      guard (1...4).contains(part.count), part.allSatisfy(\.isHexDigit), let value = UInt16(part, radix: 16) else {
        return nil
      }
      bytes += [UInt8(value >> 8), UInt8(value & 0xff)]
    }
    return bytes
  }
}
