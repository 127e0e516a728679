internal import CYaml

/// Refuses mapping keys that are aliases, lists or mappings, from libyaml's event stream, before Yams composes a tree.
///
/// Yams checks a mapping for duplicate keys by hashing every key in full, before `GuardedYAML`'s budget sees the
/// tree: a key that is an alias to a "billion laughs" tree costs exponential time there. No Kubernetes object,
/// kubeconfig or mesh config has such keys (JSON cannot even express them), so they are refused outright. The scan
/// is iterative and keeps one entry per open collection (libyaml bounds the nesting); it reads the text once more
/// than composing does. A text libyaml cannot parse passes: composing reports that error with its usual message.
enum YAMLKeyGuard {
  /// Throws a `SourceSyntaxError` at the first mapping key of `text` that is an alias or a collection.
  ///
  /// The error names the key's 1-based line and column: `a mapping key may not be an alias (*a11)`, or
  /// `a mapping key may not be a list or mapping`.
  static func check(_ text: String) throws(SourceSyntaxError) {
    var bytes = Array(text.utf8)
    if bytes.isEmpty { return }
    var failure: SourceSyntaxError?
    bytes.withUnsafeMutableBufferPointer { buffer in
      failure = scan(buffer)
    }
    if let failure { throw failure }
  }

  /// One open collection: a list, or a mapping and whether its next node is a key.
  private enum Frame {
    case sequence
    case mapping(expectingKey: Bool)
  }

  private static func scan(_ buffer: UnsafeMutableBufferPointer<UInt8>) -> SourceSyntaxError? {
    var parser = yaml_parser_t()
    guard yaml_parser_initialize(&parser) == 1 else { return nil }
    defer { yaml_parser_delete(&parser) }
    yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING)
    yaml_parser_set_input_string(&parser, buffer.baseAddress, buffer.count)
    var stack: [Frame] = []
    var event = yaml_event_t()
    while true {
      // A parse error is left to the composer, which reports it with libyaml's message and position.
      guard yaml_parser_parse(&parser, &event) == 1 else { return nil }
      defer { yaml_event_delete(&event) }
      let type = event.type
      if type == YAML_STREAM_END_EVENT { return nil }
      let isNode =
        type == YAML_ALIAS_EVENT || type == YAML_SCALAR_EVENT || type == YAML_SEQUENCE_START_EVENT
        || type == YAML_MAPPING_START_EVENT
      if isNode, case .mapping(expectingKey: true) = stack.last {
        let line = Int(event.start_mark.line) + 1
        let column = Int(event.start_mark.column) + 1
        if type == YAML_ALIAS_EVENT {
          let name = event.data.alias.anchor.map { String(cString: $0) } ?? ""
          return SourceSyntaxError(
            message: "a mapping key may not be an alias (*\(name))", line: line, column: column)
        }
        if type != YAML_SCALAR_EVENT {
          return SourceSyntaxError(message: "a mapping key may not be a list or mapping", line: line, column: column)
        }
      }
      switch type {
      case YAML_SEQUENCE_START_EVENT:
        stack.append(.sequence)
      case YAML_MAPPING_START_EVENT:
        stack.append(.mapping(expectingKey: true))
      case YAML_ALIAS_EVENT, YAML_SCALAR_EVENT:
        nodeFinished(&stack)
      case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
        _ = stack.popLast()
        nodeFinished(&stack)
      default:
        break
      }
    }
  }

  /// A key or value of the innermost mapping is complete: the next node is a value or key respectively.
  private static func nodeFinished(_ stack: inout [Frame]) {
    if case .mapping(let expectingKey) = stack.last {
      stack[stack.count - 1] = .mapping(expectingKey: !expectingKey)
    }
  }
}
