import Foundation
import Yams

/// Reads a YAML stream (one or more `---` separated documents) into `SourceNode`s, typing scalars as Kubernetes does.
///
/// Parsing is Yams (libyaml); typing is done here rather than by Yams' resolver so that it matches Kubernetes'
/// YAML-to-JSON conversion: quoted and block scalars are strings; plain scalars are null (`~`, `null`, empty), booleans
/// (`true`/`false`/`yes`/`no`/`on`/`off` in their three casings), integers (decimal, `0x`, `0o`/leading-zero octal,
/// `0b`, `_` separators), floats (including `.inf`, `.nan`) or else strings. Timestamps and sexagesimal numbers stay
/// strings. Merge keys (`<<: *anchor`) are applied; explicit keys win. Empty documents are dropped.
enum YAMLReader {
  /// Every non-empty document in `text`, in order.
  static func documents(in text: String) throws(SourceSyntaxError) -> [SourceNode] {
    var budget = SourceLimits.maximumValues(forByteCount: text.utf8.count)
    var documents: [SourceNode] = []
    do {
      // `.basic` resolves nothing: this reader types plain scalars itself (and no regular expressions run per scalar).
      let parser = try Parser(yaml: text, resolver: .basic)
      while let root = try parser.nextRoot() {
        let document = try convert(root, depth: 0, budget: &budget)
        if !document.isNull { documents.append(document) }
      }
    } catch let error as SourceSyntaxError {
      throw error
    } catch let error as YamlError {
      throw syntaxError(error, in: text)
    } catch {
      throw SourceSyntaxError(message: "\(error)")
    }
    return documents
  }

  // MARK: - Conversion

  private static func convert(_ node: Yams.Node, depth: Int, budget: inout Int) throws(SourceSyntaxError) -> SourceNode {
    let line = node.mark?.line ?? 1
    let column = node.mark?.column ?? 1
    guard depth < SourceLimits.maximumDepth else {
      throw SourceSyntaxError(message: "nesting deeper than \(SourceLimits.maximumDepth) levels", line: line, column: column)
    }
    budget -= 1
    guard budget >= 0 else {
      throw SourceSyntaxError(
        message: "the document expands to too many values (aliases referring to aliases?)", line: line, column: column)
    }
    switch node {
    case .scalar(let scalar):
      return SourceNode(typed(scalar), line: line, column: column)
    case .sequence(let sequence):
      var items: [SourceNode] = []
      items.reserveCapacity(sequence.count)
      for item in sequence { items.append(try convert(item, depth: depth + 1, budget: &budget)) }
      return SourceNode(.sequence(items), line: line, column: column)
    case .mapping(let mapping):
      var result = SourceMapping()
      var merged: [SourceMapping] = []
      for (key, value) in mapping {
        guard case .scalar(let keyScalar) = key else {
          throw SourceSyntaxError(
            message: "mapping keys must be strings, found \(key.mapping != nil ? "a mapping" : "a list")",
            line: key.mark?.line ?? line, column: key.mark?.column ?? column)
        }
        let converted = try convert(value, depth: depth + 1, budget: &budget)
        // By style, not tag: Yams resolves key tags while checking for duplicate keys, so a plain `<<` key may
        // already carry `!!str` here.
        if keyScalar.style == .plain, keyScalar.string == "<<" {
          switch converted.value {
          case .mapping(let source):
            merged.append(source)
          case .sequence(let sources):
            for source in sources {
              guard let mapping = source.mapping else {
                throw SourceSyntaxError(
                  message: "a merge key (<<) needs mappings, found \(source.foundDescription)",
                  line: source.line, column: source.column)
              }
              merged.append(mapping)
            }
          default:
            throw SourceSyntaxError(
              message: "a merge key (<<) needs a mapping or a list of mappings, found \(converted.foundDescription)",
              line: converted.line, column: converted.column)
          }
          continue
        }
        result.set(keyScalar.string, converted)
      }
      for source in merged {
        for key in source.keys where result[key] == nil {
          if let value = source[key] { result.set(key, value) }
        }
      }
      return SourceNode(.mapping(result), line: line, column: column)
    case .alias:
      // Yams' parser substitutes the anchored node for every alias; an alias node here would be a Yams change.
      throw SourceSyntaxError(message: "unresolved alias", line: line, column: column)
    }
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

  // MARK: - Errors

  private static func syntaxError(_ error: YamlError, in text: String) -> SourceSyntaxError {
    switch error {
    case .scanner(let context, let problem, let mark, _),
      .parser(let context, let problem, let mark, _),
      .composer(let context, let problem, let mark, _):
      var message = problem
      if let context {
        message += context.mark.line == mark.line ? " (\(context.text))" : " (\(context.text) at line \(context.mark.line))"
      }
      return SourceSyntaxError(message: message, line: mark.line, column: mark.column)
    case .reader(let problem, let offset, let value, _):
      let position = offset.map { lineAndColumn(ofCharacterOffset: $0, in: text) }
      let detail = value >= 0 ? " (#x\(String(value, radix: 16, uppercase: true)))" : ""
      return SourceSyntaxError(message: problem + detail, line: position?.line, column: position?.column)
    case .duplicatedKeysInMapping(let duplicates, let context):
      let keys = duplicates.map { "'\($0)'" }.joined(separator: ", ")
      return SourceSyntaxError(
        message: "duplicate key \(keys) in a mapping", line: context.mark.line, column: context.mark.column)
    case .memory:
      return SourceSyntaxError(message: "out of memory while parsing")
    case .dataCouldNotBeDecoded:
      return SourceSyntaxError(code: .invalidEncoding, message: "not UTF-8 text")
    default:
      return SourceSyntaxError(message: "\(error)")
    }
  }

  private static func lineAndColumn(ofCharacterOffset offset: Int, in text: String) -> (line: Int, column: Int) {
    var line = 1
    var column = 1
    for character in text.prefix(offset) {
      if character == "\n" || character == "\r\n" {
        line += 1
        column = 1
      } else {
        column += 1
      }
    }
    return (line, column)
  }
}
