import Yams

/// The only way Sextant parses YAML: Yams (libyaml) behind the guards that hostile input needs.
///
/// Kubernetes object files (`YAMLReader`), kubeconfigs (remote secrets come from other clusters), mesh config and
/// meshNetworks all come through here. Call this, never `Yams.compose` or `Yams.load`. The guards:
/// - input that could nest deeply (`LargeStack.mightNestDeeply`) is parsed on a thread with a large stack, because
///   Yams recurses once per nesting level;
/// - nesting deeper than `SourceLimits.maximumDepth` is an error;
/// - a stream that expands through aliases to more than `SourceLimits.maximumValues` values is an error, found before
///   the caller walks any tree (this stops "billion laughs" bombs);
/// - a mapping key that is an alias, a list or a mapping is an error, found before Yams composes (`YAMLKeyGuard`):
///   Yams hashes every key in full, so an alias bomb as a key would cost exponential time before any budget;
/// - Yams' errors become `SourceSyntaxError`s with a line and column where libyaml gives one.
///
/// The nodes handed back nest at most `maximumDepth` levels, so a caller may walk them recursively on any thread.
package enum GuardedYAML {
  /// The single document in `text`, or nil when there is none (empty text, or only comments).
  ///
  /// A second document is a syntax error, as with `Yams.compose`.
  ///
  /// - Parameter resolver: How Yams tags plain scalars. `.default` gives YAML 1.1 types, which `Node.bool`,
  ///   `Node.int` and `Node.null` need; `.basic` tags nothing, for a caller that types scalars itself.
  package static func document(
    in text: String, resolver: Resolver = .default
  ) throws(SourceSyntaxError) -> Yams.Node? {
    let roots = try parse(text, resolver: resolver, singleDocument: true) {
      (root: Yams.Node, budget: inout ExpansionBudget) throws(SourceSyntaxError) -> Handoff in
      try budget.check(root)
      return Handoff(node: root)
    }
    return roots.first?.node
  }

  /// Composes the documents of `text` and hands each root to `convert`, with one budget for the whole stream.
  ///
  /// `convert` runs on the parsing thread (the large-stack one when `text` could nest deeply) and must spend the
  /// budget on every value it visits, or call `ExpansionBudget.check`. With `singleDocument`, a second document is
  /// a syntax error.
  static func parse<Value: Sendable>(
    _ text: String, resolver: Resolver, singleDocument: Bool,
    convert: @escaping @Sendable (Yams.Node, inout ExpansionBudget) throws(SourceSyntaxError) -> Value
  ) throws(SourceSyntaxError) -> [Value] {
    let work: @Sendable () -> Result<[Value], SourceSyntaxError> = {
      Result { () throws(SourceSyntaxError) in
        try compose(text, resolver: resolver, singleDocument: singleDocument, convert: convert)
      }
    }
    guard LargeStack.mightNestDeeply(text) else { return try work().get() }
    // Yams recurses once per nesting level (up to libyaml's limit of 1,000): give it room.
    return try LargeStack.run(work).get()
  }

  private static func compose<Value>(
    _ text: String, resolver: Resolver, singleDocument: Bool,
    convert: (Yams.Node, inout ExpansionBudget) throws(SourceSyntaxError) -> Value
  ) throws(SourceSyntaxError) -> [Value] {
    var budget = ExpansionBudget(byteCount: text.utf8.count)
    var values: [Value] = []
    // Before Yams hashes any key: an alias key would cost exponential time there.
    try YAMLKeyGuard.check(text)
    do {
      let parser = try Parser(yaml: text, resolver: resolver)
      if singleDocument {
        if let root = try parser.singleRoot() { values.append(try convert(root, &budget)) }
      } else {
        while let root = try parser.nextRoot() { values.append(try convert(root, &budget)) }
      }
    } catch let error as SourceSyntaxError {
      throw error
    } catch let error as YamlError {
      throw syntaxError(error, in: text)
    } catch {
      throw SourceSyntaxError(message: "\(error)")
    }
    return values
  }

  /// Carries a composed tree out of `LargeStack.run`. Unchecked: the parsing thread drops every reference to the
  /// tree before the caller receives it, so it is never shared between threads.
  private struct Handoff: @unchecked Sendable {
    let node: Yams.Node
  }

  // MARK: - Errors

  private static func syntaxError(_ error: YamlError, in text: String) -> SourceSyntaxError {
    switch error {
    case .scanner(let context, let problem, let mark, _),
      .parser(let context, let problem, let mark, _),
      .composer(let context, let problem, let mark, _):
      if problem.hasPrefix("Maximum nesting level") {
        return ExpansionBudget.tooDeep(line: mark.line, column: mark.column)
      }
      var message = problem
      if let context {
        message +=
          context.mark.line == mark.line
          ? " (\(context.text))" : " (\(context.text) at line \(context.mark.line))"
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

  /// The 1-based line and column of a `Character` offset (Yams reports reader errors as one).
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

/// How many more values a YAML stream may expand to, and how deep it may nest: spent by every walk over composed
/// nodes, so an alias bomb or deep nesting stops the walk early instead of exhausting memory, time or stack.
struct ExpansionBudget {
  private var remaining: Int

  /// The budget for a text of `byteCount` UTF-8 bytes (`SourceLimits.maximumValues`).
  init(byteCount: Int) {
    remaining = SourceLimits.maximumValues(forByteCount: byteCount)
  }

  /// Counts one value `depth` levels below a document's root (0 for the root itself), found at `line`/`column`.
  ///
  /// Throws when the value nests deeper than `SourceLimits.maximumDepth` or the budget is used up.
  mutating func spend(depth: Int, line: Int, column: Int) throws(SourceSyntaxError) {
    guard depth < SourceLimits.maximumDepth else { throw Self.tooDeep(line: line, column: column) }
    remaining -= 1
    guard remaining >= 0 else { throw Self.tooManyValues(line: line, column: column) }
  }

  /// Spends the budget on every node of `root`, keys included, with aliases expanded. Iterative: the depth of the
  /// input never becomes depth of the call stack.
  mutating func check(_ root: Yams.Node) throws(SourceSyntaxError) {
    var pending: [(node: Yams.Node, depth: Int)] = [(root, 0)]
    while let (node, depth) = pending.popLast() {
      try spend(depth: depth, line: node.mark?.line ?? 1, column: node.mark?.column ?? 1)
      switch node {
      case .scalar, .alias:
        break
      case .sequence(let sequence):
        for child in sequence.reversed() { pending.append((child, depth + 1)) }
      case .mapping(let mapping):
        for (key, value) in mapping.reversed() {
          pending.append((value, depth + 1))
          pending.append((key, depth + 1))
        }
      }
    }
  }

  static func tooDeep(line: Int?, column: Int?) -> SourceSyntaxError {
    SourceSyntaxError(message: "nesting deeper than \(SourceLimits.maximumDepth) levels", line: line, column: column)
  }

  static func tooManyValues(line: Int, column: Int) -> SourceSyntaxError {
    SourceSyntaxError(
      message: "the document expands to too many values (aliases referring to aliases?)", line: line, column: column)
  }
}
