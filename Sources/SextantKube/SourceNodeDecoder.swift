/// A `Decoder` over a `SourceNode` tree: decodes the `Codable` models strictly, as the Kubernetes API server would.
///
/// Types are not coerced: a string is never read as a number nor a number as a string, and an integer field rejects
/// `1.5` or a value out of range. Failures are `FieldDecodingFailure`s carrying the field path and the node's position,
/// so `ObjectDecoder` can say exactly where the problem is.
struct SourceNodeDecoder: Decoder {
  let node: SourceNode
  let path: [PathComponent]

  init(node: SourceNode, path: [PathComponent] = []) {
    self.node = node
    self.path = path
  }

  var codingPath: [any CodingKey] { path.map(PathKey.init) }
  var userInfo: [CodingUserInfoKey: Any] { [:] }

  func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
    guard case .mapping(let mapping) = node.value else { throw mismatch(expected: "a mapping") }
    return KeyedDecodingContainer(KeyedContainer<Key>(decoder: self, mapping: mapping))
  }

  func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
    guard case .sequence(let items) = node.value else { throw mismatch(expected: "a list") }
    return UnkeyedContainer(decoder: self, items: items)
  }

  func singleValueContainer() throws -> any SingleValueDecodingContainer { self }

  func child(_ node: SourceNode, _ component: PathComponent) -> SourceNodeDecoder {
    SourceNodeDecoder(node: node, path: path + [component])
  }

  func mismatch(expected: String) -> FieldDecodingFailure {
    FieldDecodingFailure(
      code: .typeMismatch, path: path, line: node.line, column: node.column,
      reason: "expected \(expected), found \(node.foundDescription)")
  }

  /// An integer field: an integer literal, or a number with no fraction (`80.0`, `1e3`), that fits `T`.
  func integer<T: FixedWidthInteger>(_ type: T.Type) throws -> T {
    guard case .number(let number) = node.value else { throw mismatch(expected: "a number") }
    if let integer = number.integer {
      if let value = T(exactly: integer) { return value }
    } else if let double = number.double {
      guard double.rounded(.towardZero) == double else { throw mismatch(expected: "an integer") }
      if let value = T(exactly: double) { return value }
    } else {
      let text = number.text.lowercased()
      if text.contains("inf") || text.contains("nan") { throw mismatch(expected: "an integer") }
    }
    throw FieldDecodingFailure(
      code: .invalidValue, path: path, line: node.line, column: node.column,
      reason: "number \(number.text.prefix(40)) is out of range")
  }

  func floatingPoint() throws -> Double {
    guard case .number(let number) = node.value else { throw mismatch(expected: "a number") }
    guard let double = number.double else {
      throw FieldDecodingFailure(
        code: .invalidValue, path: path, line: node.line, column: node.column,
        reason: "number \(number.text.prefix(40)) is not a finite number")
    }
    return double
  }
}

extension SourceNodeDecoder: SingleValueDecodingContainer {
  func decodeNil() -> Bool { node.isNull }

  func decode(_ type: Bool.Type) throws -> Bool {
    guard case .bool(let value) = node.value else { throw mismatch(expected: "a boolean") }
    return value
  }

  func decode(_ type: String.Type) throws -> String {
    guard case .string(let value) = node.value else { throw mismatch(expected: "a string") }
    return value
  }

  func decode(_ type: Double.Type) throws -> Double { try floatingPoint() }
  func decode(_ type: Float.Type) throws -> Float { Float(try floatingPoint()) }
  func decode(_ type: Int.Type) throws -> Int { try integer(type) }
  func decode(_ type: Int8.Type) throws -> Int8 { try integer(type) }
  func decode(_ type: Int16.Type) throws -> Int16 { try integer(type) }
  func decode(_ type: Int32.Type) throws -> Int32 { try integer(type) }
  func decode(_ type: Int64.Type) throws -> Int64 { try integer(type) }
  func decode(_ type: UInt.Type) throws -> UInt { try integer(type) }
  func decode(_ type: UInt8.Type) throws -> UInt8 { try integer(type) }
  func decode(_ type: UInt16.Type) throws -> UInt16 { try integer(type) }
  func decode(_ type: UInt32.Type) throws -> UInt32 { try integer(type) }
  func decode(_ type: UInt64.Type) throws -> UInt64 { try integer(type) }
  func decode<T: Decodable>(_ type: T.Type) throws -> T { try T(from: self) }
}

/// A field that could not be decoded or failed validation: where it is and why.
struct FieldDecodingFailure: Error, Sendable {
  var code: ObjectDecodingError.Code
  /// Path of the field inside the object.
  var path: [PathComponent]
  var line: Int
  var column: Int
  var reason: String
}

/// A `CodingKey` for `codingPath`, built from a path component.
struct PathKey: CodingKey {
  var stringValue: String
  var intValue: Int?

  init(stringValue: String) {
    self.stringValue = stringValue
    self.intValue = nil
  }

  init(intValue: Int) {
    self.stringValue = "Index \(intValue)"
    self.intValue = intValue
  }

  init(_ component: PathComponent) {
    switch component {
    case .key(let key): self.init(stringValue: key)
    case .index(let index): self.init(intValue: index)
    }
  }
}

private struct KeyedContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
  let decoder: SourceNodeDecoder
  let mapping: SourceMapping

  var codingPath: [any CodingKey] { decoder.codingPath }
  var allKeys: [Key] { mapping.keys.compactMap { Key(stringValue: $0) } }

  func contains(_ key: Key) -> Bool { mapping[key.stringValue] != nil }

  private func child(_ key: Key) throws -> SourceNodeDecoder {
    guard let node = mapping[key.stringValue] else {
      throw FieldDecodingFailure(
        code: .missingField, path: decoder.path + [.key(key.stringValue)], line: decoder.node.line,
        column: decoder.node.column, reason: "required field is missing")
    }
    return decoder.child(node, .key(key.stringValue))
  }

  func decodeNil(forKey key: Key) throws -> Bool { mapping[key.stringValue]?.isNull ?? true }

  func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool { try child(key).decode(type) }
  func decode(_ type: String.Type, forKey key: Key) throws -> String { try child(key).decode(type) }
  func decode(_ type: Double.Type, forKey key: Key) throws -> Double { try child(key).decode(type) }
  func decode(_ type: Float.Type, forKey key: Key) throws -> Float { try child(key).decode(type) }
  func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try child(key).decode(type) }
  func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { try child(key).decode(type) }
  func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 { try child(key).decode(type) }
  func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { try child(key).decode(type) }
  func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try child(key).decode(type) }
  func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { try child(key).decode(type) }
  func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 { try child(key).decode(type) }
  func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 { try child(key).decode(type) }
  func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { try child(key).decode(type) }
  func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { try child(key).decode(type) }
  func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T { try child(key).decode(type) }

  func nestedContainer<NestedKey: CodingKey>(
    keyedBy type: NestedKey.Type, forKey key: Key
  ) throws -> KeyedDecodingContainer<NestedKey> {
    try child(key).container(keyedBy: type)
  }

  func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
    try child(key).unkeyedContainer()
  }

  func superDecoder() throws -> any Decoder {
    decoder.child(
      mapping["super"] ?? SourceNode(.null, line: decoder.node.line, column: decoder.node.column), .key("super"))
  }

  func superDecoder(forKey key: Key) throws -> any Decoder { try child(key) }
}

private struct UnkeyedContainer: UnkeyedDecodingContainer {
  let decoder: SourceNodeDecoder
  let items: [SourceNode]
  private(set) var currentIndex = 0

  init(decoder: SourceNodeDecoder, items: [SourceNode]) {
    self.decoder = decoder
    self.items = items
  }

  var codingPath: [any CodingKey] { decoder.codingPath }
  var count: Int? { items.count }
  var isAtEnd: Bool { currentIndex >= items.count }

  private mutating func next() throws -> SourceNodeDecoder {
    guard !isAtEnd else {
      throw FieldDecodingFailure(
        code: .invalidValue, path: decoder.path + [.index(currentIndex)], line: decoder.node.line,
        column: decoder.node.column, reason: "the list has too few items")
    }
    let child = decoder.child(items[currentIndex], .index(currentIndex))
    currentIndex += 1
    return child
  }

  mutating func decodeNil() throws -> Bool {
    guard !isAtEnd, items[currentIndex].isNull else { return false }
    currentIndex += 1
    return true
  }

  mutating func decode(_ type: Bool.Type) throws -> Bool { try next().decode(type) }
  mutating func decode(_ type: String.Type) throws -> String { try next().decode(type) }
  mutating func decode(_ type: Double.Type) throws -> Double { try next().decode(type) }
  mutating func decode(_ type: Float.Type) throws -> Float { try next().decode(type) }
  mutating func decode(_ type: Int.Type) throws -> Int { try next().decode(type) }
  mutating func decode(_ type: Int8.Type) throws -> Int8 { try next().decode(type) }
  mutating func decode(_ type: Int16.Type) throws -> Int16 { try next().decode(type) }
  mutating func decode(_ type: Int32.Type) throws -> Int32 { try next().decode(type) }
  mutating func decode(_ type: Int64.Type) throws -> Int64 { try next().decode(type) }
  mutating func decode(_ type: UInt.Type) throws -> UInt { try next().decode(type) }
  mutating func decode(_ type: UInt8.Type) throws -> UInt8 { try next().decode(type) }
  mutating func decode(_ type: UInt16.Type) throws -> UInt16 { try next().decode(type) }
  mutating func decode(_ type: UInt32.Type) throws -> UInt32 { try next().decode(type) }
  mutating func decode(_ type: UInt64.Type) throws -> UInt64 { try next().decode(type) }
  mutating func decode<T: Decodable>(_ type: T.Type) throws -> T { try next().decode(type) }

  mutating func nestedContainer<NestedKey: CodingKey>(
    keyedBy type: NestedKey.Type
  ) throws -> KeyedDecodingContainer<NestedKey> {
    try next().container(keyedBy: type)
  }

  mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
    try next().unkeyedContainer()
  }

  mutating func superDecoder() throws -> any Decoder { try next() }
}
