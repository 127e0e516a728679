import Foundation

/// A JSON-shaped value read from a YAML or JSON file, with the position where it starts.
///
/// Both readers (`YAMLReader`, `JSONReader`) produce this tree, so decoding, validation and error positions work the
/// same for both formats. Scalars are already typed the way Kubernetes' YAML-to-JSON conversion types them.
struct SourceNode: Sendable {
  enum Value: Sendable {
    case null
    case bool(Bool)
    case number(SourceNumber)
    case string(String)
    case sequence([SourceNode])
    case mapping(SourceMapping)
  }

  var value: Value
  /// 1-based line of the node's first character.
  var line: Int
  /// 1-based column of the node's first character.
  var column: Int

  init(_ value: Value, line: Int, column: Int) {
    self.value = value
    self.line = line
    self.column = column
  }

  var mapping: SourceMapping? {
    if case .mapping(let mapping) = value { mapping } else { nil }
  }

  var string: String? {
    if case .string(let string) = value { string } else { nil }
  }

  var isNull: Bool {
    if case .null = value { true } else { false }
  }

  /// The node at `path`, or the deepest node on the way that exists (so an error about a missing field points at the
  /// mapping that lacks it).
  func deepest(at path: some Sequence<PathComponent>) -> SourceNode {
    var node = self
    for component in path {
      switch (component, node.value) {
      case (.key(let key), .mapping(let mapping)):
        guard let child = mapping[key] else { return node }
        node = child
      case (.index(let index), .sequence(let items)):
        guard items.indices.contains(index) else { return node }
        node = items[index]
      default:
        return node
      }
    }
    return node
  }

  /// How the value reads in an error message: `string "http"`, `number 80`, `a mapping`.
  var foundDescription: String {
    switch value {
    case .null: return "null"
    case .bool(let value): return "boolean \(value)"
    case .number(let number): return "number \(number.text.prefix(40))"
    case .string(let string):
      let shown = string.count > 40 ? String(string.prefix(40)) + "..." : string
      return "string \"\(shown)\""
    case .sequence: return "a list"
    case .mapping: return "a mapping"
    }
  }
}

/// A number as written, with its exact integer value when it has one that fits an `Int`.
struct SourceNumber: Sendable, Hashable {
  /// The text as written in the file.
  var text: String
  /// The value as an `Int` when the text is an integer that fits.
  var integer: Int?
  /// The value as a finite `Double`, when it has one (nil for an integer too large for a Double, or infinity).
  var double: Double?
}

/// A mapping with string keys, in file order; a repeated key replaces the earlier value but keeps its position.
struct SourceMapping: Sendable {
  private(set) var keys: [String] = []
  private var entries: [String: SourceNode] = [:]

  init() {}

  subscript(key: String) -> SourceNode? { entries[key] }

  var count: Int { keys.count }

  mutating func set(_ key: String, _ node: SourceNode) {
    if entries.updateValue(node, forKey: key) == nil { keys.append(key) }
  }
}

/// One step of a path into a document: a mapping key or a list index.
enum PathComponent: Sendable, Hashable {
  case key(String)
  case index(Int)

  /// Renders a path the way Kubernetes error messages do: `spec.ports[0].port`, with keys that are not plain words
  /// quoted (`metadata.labels["kubernetes.io/service-name"]`).
  static func render(_ path: some Sequence<PathComponent>) -> String {
    var text = ""
    for component in path {
      switch component {
      case .index(let index):
        text += "[\(index)]"
      case .key(let key):
        let plain =
          !key.isEmpty
          && key.unicodeScalars.allSatisfy { scalar in
            scalar.isASCII
              && (scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) || scalar == "_" || scalar == "-")
          }
        if plain {
          text += text.isEmpty ? key : ".\(key)"
        } else {
          let escaped = key.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
          text += "[\"\(escaped)\"]"
        }
      }
    }
    return text
  }
}

/// A syntax problem found while reading a file, before any object is decoded.
///
/// Also what `GuardedYAML` throws: callers outside this module map it to their own error, keeping `message`, `line`
/// and `column`.
package struct SourceSyntaxError: Error, Sendable {
  /// `syntax`, or `invalidEncoding` for text that is not UTF-8.
  package var code: ObjectDecodingError.Code = .syntax
  /// The problem, without the location: `duplicate key 'name' in a mapping`.
  package var message: String
  /// The 1-based line, when known.
  package var line: Int?
  /// The 1-based column, when known.
  package var column: Int?
}

/// Limits shared by both readers; they keep hostile or broken input from exhausting the stack or memory.
enum SourceLimits {
  /// Deepest nesting of lists and mappings accepted (Kubernetes objects nest about 10 levels).
  static let maximumDepth = 128

  /// The most values a document may expand to: generous for real files, but stops "billion laughs" alias bombs.
  static func maximumValues(forByteCount count: Int) -> Int { count * 2 + 10_000 }
}
