/// Standard base64 (RFC 4648 §4) decoding as Kubernetes writes it: `[]byte` fields of kubeconfigs and Secret `data`.
///
/// Line breaks and other ASCII whitespace are skipped (Go's decoder skips `\r` and `\n`; YAML folding can add
/// spaces); padding may be present or absent. Any other byte outside the alphabet, or a length that cannot be valid, is
/// a failure naming the offset of the offending character.
enum Base64 {
  /// Why a string is not base64.
  struct Failure: Error, Sendable, Hashable {
    /// A description fit for an error message: `invalid character "%" at offset 12`.
    var reason: String
  }

  private static let table: [UInt8] = {
    var table = [UInt8](repeating: 0xFF, count: 256)
    for (index, character) in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8.enumerated() {
      table[Int(character)] = UInt8(index)
    }
    return table
  }()

  /// Decodes `text`; see the type's documentation for what is accepted.
  static func decode(_ text: String) -> Result<[UInt8], Failure> {
    var output: [UInt8] = []
    output.reserveCapacity(text.utf8.count * 3 / 4)
    var accumulator: UInt32 = 0
    var pending = 0
    var padding = 0
    for (offset, byte) in text.utf8.enumerated() {
      switch byte {
      case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\n"), UInt8(ascii: "\r"):
        continue
      case UInt8(ascii: "="):
        padding += 1
        if padding > 2 || pending < 2 {
          return .failure(Failure(reason: "misplaced padding \"=\" at offset \(offset)"))
        }
        continue
      default:
        break
      }
      let value = table[Int(byte)]
      guard value != 0xFF else {
        let shown =
          byte >= 0x20 && byte < 0x7F ? "\"\(Character(Unicode.Scalar(byte)))\"" : "byte 0x\(String(byte, radix: 16))"
        return .failure(Failure(reason: "invalid character \(shown) at offset \(offset)"))
      }
      guard padding == 0 else {
        return .failure(Failure(reason: "data after padding at offset \(offset)"))
      }
      accumulator = accumulator << 6 | UInt32(value)
      pending += 1
      if pending == 4 {
        output.append(UInt8(truncatingIfNeeded: accumulator >> 16))
        output.append(UInt8(truncatingIfNeeded: accumulator >> 8))
        output.append(UInt8(truncatingIfNeeded: accumulator))
        accumulator = 0
        pending = 0
      }
    }
    switch pending {
    case 0:
      break
    case 2:
      output.append(UInt8(truncatingIfNeeded: accumulator >> 4))
    case 3:
      output.append(UInt8(truncatingIfNeeded: accumulator >> 10))
      output.append(UInt8(truncatingIfNeeded: accumulator >> 2))
    default:
      return .failure(Failure(reason: "truncated input (\(pending) character\(pending == 1 ? "" : "s") left over)"))
    }
    if padding > 0 && pending + padding != 4 {
      return .failure(Failure(reason: "wrong amount of padding"))
    }
    return .success(output)
  }
}
