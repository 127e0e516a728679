/// Reads JSON text into `SourceNode`s, keeping the line and column of every value.
///
/// Strict RFC 8259 JSON, with two allowances that `kubectl` output and hand-made files need: several top-level values
/// in a row (a stream of objects) are read as separate documents, and a repeated key keeps the last value (as Go's
/// decoder does). Lone UTF-16 surrogates in `\u` escapes become U+FFFD, also as Go does. Input must already be valid
/// UTF-8 (`ObjectDecoder` checks it).
struct JSONReader {
  private let bytes: [UInt8]
  private var offset = 0
  private var line = 1
  private var lineStart = 0
  private var budget: Int

  private init(bytes: [UInt8]) {
    self.bytes = bytes
    self.budget = SourceLimits.maximumValues(forByteCount: bytes.count)
    // A UTF-8 byte order mark is allowed before the first value.
    if bytes.starts(with: [0xEF, 0xBB, 0xBF]) {
      offset = 3
      lineStart = 3
    }
  }

  /// Every top-level value in `bytes`, in order.
  static func documents(in bytes: [UInt8]) throws(SourceSyntaxError) -> [SourceNode] {
    var reader = JSONReader(bytes: bytes)
    var documents: [SourceNode] = []
    while true {
      reader.skipWhitespace()
      if reader.offset >= reader.bytes.count { return documents }
      documents.append(try reader.readValue())
    }
  }

  // MARK: - Values

  /// A list or object being read.
  private struct Container {
    var line: Int
    var column: Int
    var items: [SourceNode]?
    var mapping: SourceMapping?
    /// For an object, the key of the value being read.
    var pendingKey = ""

    var node: SourceNode {
      if let items { return SourceNode(.sequence(items), line: line, column: column) }
      return SourceNode(.mapping(mapping ?? SourceMapping()), line: line, column: column)
    }
  }

  /// Reads one value. Iterative, with an explicit stack: the depth of the input never turns into depth of the call
  /// stack (Swift's cooperative threads have small stacks on some platforms).
  private mutating func readValue() throws(SourceSyntaxError) -> SourceNode {
    var stack: [Container] = []
    while true {
      // Descend: read a scalar, an empty container, or open a container and position on its first value.
      skipWhitespace()
      budget -= 1
      guard budget >= 0 else { throw failure("too many values") }
      let line = self.line
      let column = self.column
      var finished: SourceNode?
      guard let byte = peek() else { throw failure("unexpected end of file, expected a value") }
      switch byte {
      case UInt8(ascii: "{"), UInt8(ascii: "["):
        guard stack.count < SourceLimits.maximumDepth else {
          throw failure("nesting deeper than \(SourceLimits.maximumDepth) levels")
        }
        offset += 1
        skipWhitespace()
        let isObject = byte == UInt8(ascii: "{")
        if peek() == (isObject ? UInt8(ascii: "}") : UInt8(ascii: "]")) {
          offset += 1
          finished = SourceNode(isObject ? .mapping(SourceMapping()) : .sequence([]), line: line, column: column)
        } else if isObject {
          var container = Container(line: line, column: column, items: nil, mapping: SourceMapping())
          container.pendingKey = try readKey()
          stack.append(container)
          continue
        } else {
          stack.append(Container(line: line, column: column, items: [], mapping: nil))
          continue
        }
      case UInt8(ascii: "\""): finished = SourceNode(.string(try readString()), line: line, column: column)
      case UInt8(ascii: "t"):
        try readLiteral("true")
        finished = SourceNode(.bool(true), line: line, column: column)
      case UInt8(ascii: "f"):
        try readLiteral("false")
        finished = SourceNode(.bool(false), line: line, column: column)
      case UInt8(ascii: "n"):
        try readLiteral("null")
        finished = SourceNode(.null, line: line, column: column)
      case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
        finished = SourceNode(.number(try readNumber()), line: line, column: column)
      default:
        throw failure("unexpected \(describe(byte)), expected a value")
      }
      // Ascend: add finished values to their containers, closing those that end, until one has another value.
      while let value = finished {
        guard !stack.isEmpty else { return value }
        let top = stack.count - 1
        if stack[top].items != nil {
          stack[top].items?.append(value)
        } else {
          let key = stack[top].pendingKey
          stack[top].mapping?.set(key, value)
        }
        skipWhitespace()
        let isObject = stack[top].items == nil
        switch peek() {
        case UInt8(ascii: ","):
          offset += 1
          if isObject { stack[top].pendingKey = try readKey() }
          finished = nil
        case UInt8(ascii: "}") where isObject, UInt8(ascii: "]") where !isObject:
          offset += 1
          finished = stack.removeLast().node
        default:
          throw unexpected(expected: isObject ? "',' or '}'" : "',' or ']'")
        }
      }
    }
  }

  /// Reads `"key" :` before an object's value.
  private mutating func readKey() throws(SourceSyntaxError) -> String {
    skipWhitespace()
    guard peek() == UInt8(ascii: "\"") else { throw unexpected(expected: "a string key") }
    let key = try readString()
    skipWhitespace()
    guard peek() == UInt8(ascii: ":") else { throw unexpected(expected: "':' after the key") }
    offset += 1
    return key
  }

  private mutating func readLiteral(_ literal: StaticString) throws(SourceSyntaxError) {
    let count = literal.utf8CodeUnitCount
    let matches = literal.withUTF8Buffer { expected in
      offset + count <= bytes.count && bytes[offset..<offset + count].elementsEqual(expected)
    }
    guard matches else { throw failure("invalid literal, expected \(literal)") }
    offset += count
  }

  private mutating func readNumber() throws(SourceSyntaxError) -> SourceNumber {
    let start = offset
    var isInteger = true
    if peek() == UInt8(ascii: "-") { offset += 1 }
    guard let first = peek(), isDigit(first) else { throw unexpected(expected: "a digit") }
    if first == UInt8(ascii: "0") {
      offset += 1
      if let next = peek(), isDigit(next) { throw failure("numbers must not have leading zeros") }
    } else {
      skipDigits()
    }
    if peek() == UInt8(ascii: ".") {
      isInteger = false
      offset += 1
      guard let next = peek(), isDigit(next) else { throw unexpected(expected: "a digit after '.'") }
      skipDigits()
    }
    if peek() == UInt8(ascii: "e") || peek() == UInt8(ascii: "E") {
      isInteger = false
      offset += 1
      if peek() == UInt8(ascii: "+") || peek() == UInt8(ascii: "-") { offset += 1 }
      guard let next = peek(), isDigit(next) else { throw unexpected(expected: "a digit in the exponent") }
      skipDigits()
    }
    let text = String(decoding: bytes[start..<offset], as: UTF8.self)
    let double = Double(text).flatMap { $0.isFinite ? $0 : nil }
    return SourceNumber(text: text, integer: isInteger ? Int(text) : nil, double: double)
  }

  private mutating func readString() throws(SourceSyntaxError) -> String {
    offset += 1  // opening quote
    var buffer: [UInt8] = []
    var pendingHighSurrogate: UInt32?
    func flushSurrogate(_ buffer: inout [UInt8]) {
      if pendingHighSurrogate != nil {
        Self.appendUTF8(0xFFFD, to: &buffer)
        pendingHighSurrogate = nil
      }
    }
    while true {
      guard let byte = peek() else { throw failure("unterminated string") }
      switch byte {
      case UInt8(ascii: "\""):
        offset += 1
        flushSurrogate(&buffer)
        return String(decoding: buffer, as: UTF8.self)
      case UInt8(ascii: "\\"):
        offset += 1
        guard let escape = peek() else { throw failure("unterminated string") }
        offset += 1
        if escape == UInt8(ascii: "u") {
          let unit = try readHex4()
          if (0xD800...0xDBFF).contains(unit) {
            flushSurrogate(&buffer)
            pendingHighSurrogate = unit
          } else if (0xDC00...0xDFFF).contains(unit) {
            if let high = pendingHighSurrogate {
              Self.appendUTF8(0x10000 + ((high - 0xD800) << 10) + (unit - 0xDC00), to: &buffer)
              pendingHighSurrogate = nil
            } else {
              Self.appendUTF8(0xFFFD, to: &buffer)
            }
          } else {
            flushSurrogate(&buffer)
            Self.appendUTF8(unit, to: &buffer)
          }
          continue
        }
        flushSurrogate(&buffer)
        switch escape {
        case UInt8(ascii: "\""): buffer.append(UInt8(ascii: "\""))
        case UInt8(ascii: "\\"): buffer.append(UInt8(ascii: "\\"))
        case UInt8(ascii: "/"): buffer.append(UInt8(ascii: "/"))
        case UInt8(ascii: "b"): buffer.append(0x08)
        case UInt8(ascii: "f"): buffer.append(0x0C)
        case UInt8(ascii: "n"): buffer.append(0x0A)
        case UInt8(ascii: "r"): buffer.append(0x0D)
        case UInt8(ascii: "t"): buffer.append(0x09)
        default:
          offset -= 1
          throw failure("invalid escape \\\(describeBare(escape)) in string")
        }
      default:
        guard byte >= 0x20 else { throw failure("control character \(describe(byte)) in string; escape it") }
        flushSurrogate(&buffer)
        buffer.append(byte)
        offset += 1
      }
    }
  }

  private mutating func readHex4() throws(SourceSyntaxError) -> UInt32 {
    var value: UInt32 = 0
    for _ in 0..<4 {
      guard let byte = peek() else { throw failure("unterminated \\u escape") }
      let digit: UInt32
      switch byte {
      case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(byte - UInt8(ascii: "0"))
      case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(byte - UInt8(ascii: "a") + 10)
      case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(byte - UInt8(ascii: "A") + 10)
      default: throw failure("invalid \\u escape: expected 4 hexadecimal digits")
      }
      value = value << 4 | digit
      offset += 1
    }
    return value
  }

  private static func appendUTF8(_ value: UInt32, to buffer: inout [UInt8]) {
    let scalar = Unicode.Scalar(value) ?? "\u{FFFD}"
    buffer.append(contentsOf: String(scalar).utf8)
  }

  // MARK: - Scanning

  private var column: Int { offset - lineStart + 1 }

  private func peek() -> UInt8? {
    offset < bytes.count ? bytes[offset] : nil
  }

  private func isDigit(_ byte: UInt8) -> Bool {
    (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
  }

  private mutating func skipDigits() {
    while let byte = peek(), isDigit(byte) { offset += 1 }
  }

  private mutating func skipWhitespace() {
    while let byte = peek() {
      switch byte {
      case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\r"):
        offset += 1
      case UInt8(ascii: "\n"):
        offset += 1
        line += 1
        lineStart = offset
      default:
        return
      }
    }
  }

  private func describe(_ byte: UInt8) -> String {
    if byte >= 0x21 && byte < 0x7F { return "character '\(describeBare(byte))'" }
    if byte >= 0x80 { return "character '\(nextCharacter())'" }
    return "byte 0x\(String(byte, radix: 16, uppercase: true))"
  }

  private func describeBare(_ byte: UInt8) -> String {
    String(decoding: [byte], as: UTF8.self)
  }

  /// The whole (possibly multi-byte) character at `offset`, for messages.
  private func nextCharacter() -> String {
    let end = min(bytes.count, offset + 4)
    return String(decoding: bytes[offset..<end], as: UTF8.self).first.map(String.init) ?? "?"
  }

  private func unexpected(expected: String) -> SourceSyntaxError {
    guard let byte = peek() else { return failure("unexpected end of file, expected \(expected)") }
    return failure("unexpected \(describe(byte)), expected \(expected)")
  }

  private func failure(_ message: String) -> SourceSyntaxError {
    SourceSyntaxError(message: message, line: line, column: column)
  }
}
