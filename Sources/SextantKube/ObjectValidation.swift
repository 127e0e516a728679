/// The checks a decoded object must pass beyond its types, as the API server's validation would reject it otherwise.
///
/// Every object needs a non-empty `metadata.name`; Service and Endpoints ports need a number in 1-65535 (an integer
/// `targetPort` too); EndpointSlice endpoints need at least one address and slice ports, when numbered, 1-65535.
/// A failure names the field and points at its node in the file.
enum ObjectValidation {
  static let portRange = 1...65535

  /// Throws the first problem found in `object`, decoded from `node`.
  static func validate(_ object: KubeObject, node: SourceNode) throws(FieldDecodingFailure) {
    let check = Checker(root: node)
    switch object {
    case .namespace(let namespace):
      try check.name(namespace.metadata)
    case .service(let service):
      try check.name(service.metadata)
      for (index, port) in (service.spec.ports ?? []).enumerated() {
        let portPath: [PathComponent] = [.key("spec"), .key("ports"), .index(index)]
        try check.port(port.port, at: portPath + [.key("port")])
        if case .int(let target) = port.targetPort {
          try check.port(target, at: portPath + [.key("targetPort")])
        }
      }
    case .endpointSlice(let slice):
      try check.name(slice.metadata)
      for (index, endpoint) in (slice.endpoints ?? []).enumerated() where endpoint.addresses.isEmpty {
        throw check.failure(
          .invalidValue, at: [.key("endpoints"), .index(index), .key("addresses")], "must contain at least one address")
      }
      for (index, port) in (slice.ports ?? []).enumerated() {
        if let number = port.port { try check.port(number, at: [.key("ports"), .index(index), .key("port")]) }
      }
    case .endpoints(let endpoints):
      try check.name(endpoints.metadata)
      for (subsetIndex, subset) in (endpoints.subsets ?? []).enumerated() {
        for (index, port) in (subset.ports ?? []).enumerated() {
          try check.port(
            port.port, at: [.key("subsets"), .index(subsetIndex), .key("ports"), .index(index), .key("port")])
        }
      }
    case .pod(let pod):
      try check.name(pod.metadata)
    case .node(let node):
      try check.name(node.metadata)
    case .gateway(let gateway):
      // The spec is checked per object by the registry, so one bad Gateway does not reject the file.
      try check.name(gateway.metadata)
    case .virtualService(let virtualService):
      try check.name(virtualService.metadata)
    }
  }

  private struct Checker {
    let root: SourceNode

    func name(_ metadata: ObjectMeta) throws(FieldDecodingFailure) {
      if metadata.name.isEmpty {
        throw failure(.invalidValue, at: [.key("metadata"), .key("name")], "must not be empty")
      }
    }

    func port(_ number: Int, at path: [PathComponent]) throws(FieldDecodingFailure) {
      if !ObjectValidation.portRange.contains(number) {
        throw failure(.invalidValue, at: path, "port \(number) is not between 1 and 65535")
      }
    }

    func failure(_ code: ObjectDecodingError.Code, at path: [PathComponent], _ reason: String) -> FieldDecodingFailure {
      let node = root.deepest(at: path)
      return FieldDecodingFailure(code: code, path: path, line: node.line, column: node.column, reason: reason)
    }
  }
}
