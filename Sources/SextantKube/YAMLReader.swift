import Foundation
import Yams

/// Reads a YAML stream (one or more `---` separated documents) into `SourceNode`s, typing scalars as Kubernetes does.
///
/// Parsing is Yams (libyaml); typing is done here rather than by Yams' resolver so that it matches Kubernetes'
/// YAML-to-JSON conversion: quoted and block scalars are strings; plain scalars are null (`~`, `null`, empty), booleans
/// (`true`/`false`/`yes`/`no`/`on`/`off` in their three casings), integers (decimal, `0x`, `0o`/leading-zero octal,
/// `0b`, `_` separators), floats (including `.inf`, `.nan`) or else strings. Timestamps and sexagesimal numbers stay
/// strings. Merge keys (`<<: *anchor`) are applied; explicit keys win. Empty documents are dropped. Parsing goes
/// through `GuardedYAML` (large stack, depth and alias-expansion limits, error positions).
enum YAMLReader {
  /// Every non-empty document in `text`, in order.
  static func documents(in text: String) throws(SourceSyntaxError) -> [SourceNode] {
    // `.basic` resolves nothing: this reader types plain scalars itself (and no regular expressions run per scalar).
    let documents = try GuardedYAML.parse(text, resolver: .basic, singleDocument: false) {
      (root: Yams.Node, budget: inout ExpansionBudget) throws(SourceSyntaxError) -> SourceNode in
      try convert(root, budget: &budget)
    }
    return documents.filter { !$0.isNull }
  }

  // MARK: - Conversion

  /// Converts one document. Iterative, with an explicit stack: the depth of the input never turns into depth of the
  /// call stack (Swift's cooperative threads have small stacks on some platforms).
  private static func convert(
    _ root: Yams.Node, budget: inout ExpansionBudget
  ) throws(SourceSyntaxError) -> SourceNode {
    var stack: [CollectionFrame] = []
    var next = root
    while true {
      // Descend into `next`: a scalar is finished at once, a collection opens a frame.
      let line = next.mark?.line ?? 1
      let column = next.mark?.column ?? 1
      try budget.spend(depth: stack.count, line: line, column: column)
      var finished: SourceNode?
      switch next {
      case .scalar(let scalar):
        finished = SourceNode(typed(scalar), line: line, column: column)
      case .sequence(let sequence):
        stack.append(CollectionFrame(children: .sequence(Array(sequence)), line: line, column: column))
      case .mapping(let mapping):
        stack.append(CollectionFrame(children: .mapping(Array(mapping)), line: line, column: column))
      case .alias:
        // Yams' parser substitutes the anchored node for every alias; an alias node here would be a Yams change.
        throw SourceSyntaxError(message: "unresolved alias", line: line, column: column)
      }
      // Ascend: hand finished values to their parents, closing frames, until one has another child to descend into.
      while true {
        if let value = finished {
          guard !stack.isEmpty else { return value }
          try stack[stack.count - 1].attach(value)
          finished = nil
        }
        guard !stack.isEmpty else { throw SourceSyntaxError(message: "empty document structure") }
        if let child = try stack[stack.count - 1].nextChild() {
          next = child
          break
        }
        finished = stack.removeLast().build()
      }
    }
  }

  /// A list or mapping being converted: its Yams children, and the values converted so far.
  private struct CollectionFrame {
    enum Children {
      case sequence([Yams.Node])
      case mapping([(key: Yams.Node, value: Yams.Node)])
    }

    let children: Children
    let line: Int
    let column: Int
    private var index = 0
    private var items: [SourceNode] = []
    private var mapping = SourceMapping()
    private var merged: [SourceMapping] = []
    /// The key of the mapping value being converted, and whether it is the merge key `<<`.
    private var pendingKey: (name: String, isMerge: Bool)?

    init(children: Children, line: Int, column: Int) {
      self.children = children
      self.line = line
      self.column = column
    }

    /// The next child node to convert, or nil when all are done.
    mutating func nextChild() throws(SourceSyntaxError) -> Yams.Node? {
      switch children {
      case .sequence(let nodes):
        guard index < nodes.count else { return nil }
        index += 1
        return nodes[index - 1]
      case .mapping(let pairs):
        guard index < pairs.count else { return nil }
        let (key, value) = pairs[index]
        index += 1
        guard case .scalar(let keyScalar) = key else {
          throw YAMLReader.nonScalarKey(key, line: line, column: column)
        }
        // By style, not tag: Yams resolves key tags while checking for duplicate keys, so a plain `<<` key may
        // already carry `!!str` here.
        pendingKey = (keyScalar.string, keyScalar.style == .plain && keyScalar.string == "<<")
        return value
      }
    }

    /// Takes the converted value of the child last returned by `nextChild()`.
    mutating func attach(_ value: SourceNode) throws(SourceSyntaxError) {
      guard let key = pendingKey else {
        items.append(value)
        return
      }
      pendingKey = nil
      guard key.isMerge else {
        mapping.set(key.name, value)
        return
      }
      switch value.value {
      case .mapping(let source):
        merged.append(source)
      case .sequence(let sources):
        for source in sources {
          guard let sourceMapping = source.mapping else { throw YAMLReader.badMerge(source) }
          merged.append(sourceMapping)
        }
      default:
        throw YAMLReader.badMerge(value)
      }
    }

    /// The finished list or mapping; merged keys fill in only what the mapping does not set itself.
    func build() -> SourceNode {
      switch children {
      case .sequence:
        return SourceNode(.sequence(items), line: line, column: column)
      case .mapping:
        var result = mapping
        for source in merged {
          for key in source.keys where result[key] == nil {
            if let value = source[key] { result.set(key, value) }
          }
        }
        return SourceNode(.mapping(result), line: line, column: column)
      }
    }
  }

  private static func nonScalarKey(_ key: Yams.Node, line: Int, column: Int) -> SourceSyntaxError {
    SourceSyntaxError(
      message: "mapping keys must be strings, found \(key.mapping != nil ? "a mapping" : "a list")",
      line: key.mark?.line ?? line, column: key.mark?.column ?? column)
  }

  private static func badMerge(_ value: SourceNode) -> SourceSyntaxError {
    SourceSyntaxError(
      message: "a merge key (<<) needs a mapping or a list of mappings, found \(value.foundDescription)",
      line: value.line, column: value.column)
  }

  /// The JSON-shaped value of a scalar, following its tag: untagged plain scalars are typed by their text.
  private static func typed(_ scalar: Yams.Node.Scalar) -> SourceNode.Value {
    let tag = scalar.tag.rawValue
    switch tag {
    case Tag.Name.implicit.rawValue:
      // Untagged: libyaml tags quoted and block scalars `!!str` itself, so only plain scalars arrive here.
      return scalar.style == .plain || scalar.style == .any ? plainValue(scalar.string) : .string(scalar.string)
    case Tag.Name.str.rawValue, Tag.Name.nonSpecific.rawValue, Tag.Name.binary.rawValue, Tag.Name.timestamp.rawValue:
      return .string(scalar.string)
    default:
      // `!!int 80`, `!!bool yes`, or an application tag: typed by the text, as if untagged.
      return plainValue(scalar.string)
    }
  }

  /// The type of an untagged plain scalar (YAML 1.1 core types as Kubernetes' go-yaml reads them).
  static func plainValue(_ text: String) -> SourceNode.Value {
    switch text {
    case "", "~", "null", "Null", "NULL":
      return .null
    case "true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON":
      return .bool(true)
    case "false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF":
      return .bool(false)
    case ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF", ".nan", ".NaN", ".NAN":
      return .number(SourceNumber(text: text, integer: nil, double: nil))
    default:
      break
    }
    guard let first = text.utf8.first,
      first == UInt8(ascii: "-") || first == UInt8(ascii: "+") || first == UInt8(ascii: ".")
        || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(first)
    else { return .string(text) }
    if let number = integer(text) ?? float(text) { return .number(number) }
    return .string(text)
  }

  /// An integer literal: `[-+]` then decimal, `0x` hex, `0o` or leading-zero octal, or `0b` binary, `_` allowed.
  private static func integer(_ text: String) -> SourceNumber? {
    var body = Substring(text)
    var negative = false
    if let sign = body.first, sign == "-" || sign == "+" {
      negative = sign == "-"
      body = body.dropFirst()
    }
    let radix: Int
    if body.hasPrefix("0x") {
      radix = 16
      body = body.dropFirst(2)
    } else if body.hasPrefix("0o") {
      radix = 8
      body = body.dropFirst(2)
    } else if body.hasPrefix("0b") {
      radix = 2
      body = body.dropFirst(2)
    } else if body.count > 1, body.hasPrefix("0") {
      radix = 8
      body = body.dropFirst()
    } else {
      radix = 10
    }
    let digits = body.filter { $0 != "_" }
    guard !digits.isEmpty, body.first != "_",
      digits.allSatisfy({ $0.isASCII && $0.hexDigitValue.map { $0 < radix } == true })
    else { return nil }
    let signed = (negative ? "-" : "") + digits
    let value = Int(signed, radix: radix)
    // An integer too large for Int still has a (rounded) Double value when written in decimal.
    let double = value.map(Double.init) ?? (radix == 10 ? Double(signed).flatMap { $0.isFinite ? $0 : nil } : nil)
    return SourceNumber(text: text, integer: value, double: double)
  }

  /// A float literal: digits with a fraction and/or an exponent (`1.5`, `.5`, `1e3`), `_` allowed.
  private static func float(_ text: String) -> SourceNumber? {
    let cleaned = text.filter { $0 != "_" }
    guard cleaned.contains(where: { $0 == "." || $0 == "e" || $0 == "E" }),
      cleaned.allSatisfy({ $0.isASCII && ($0.isNumber || "+-.eE".contains($0)) }),
      cleaned.contains(where: \.isNumber),
      let value = Double(cleaned)
    else { return nil }
    return SourceNumber(text: text, integer: nil, double: value.isFinite ? value : nil)
  }
}
