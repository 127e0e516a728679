/// A value of a decoded object that the API server's validation would reject: the field and the reason.
///
/// Found by ``KubeObject/validationProblem``; a file decoder turns it into an `ObjectDecodingError` at the field's
/// line, a list or watch decoder leaves the object out, naming it and the field.
package struct ObjectProblem: Error, Sendable, Hashable, CustomStringConvertible {
  /// `invalidValue` (a number out of range, an empty name or address list).
  package var code: ObjectDecodingError.Code
  /// The path of the offending field inside the object.
  let path: [PathComponent]
  /// The reason, without the field: `port 70000 is not between 1 and 65535`.
  package var reason: String

  init(code: ObjectDecodingError.Code, path: [PathComponent], reason: String) {
    self.code = code
    self.path = path
    self.reason = reason
  }

  /// The field as Kubernetes names it: `spec.ports[0].port`.
  package var field: String { PathComponent.render(path) }

  /// `FIELD: REASON`.
  package var description: String { "\(field): \(reason)" }
}

extension KubeObject {
  /// The first value of the object that the API server's validation would reject, or nil when there is none; see
  /// `ObjectValidation`. Objects from files and from API servers are checked alike.
  package var validationProblem: ObjectProblem? { ObjectValidation.problem(in: self) }
}

/// The checks a decoded object must pass beyond its types, as the API server's validation would reject it otherwise.
///
/// Every object needs a non-empty `metadata.name`; Service and Endpoints ports need a number in 1-65535 (an integer
/// `targetPort` too, and a Service's `nodePort` unless it is 0, the API's "none allocated"); EndpointSlice endpoints
/// need at least one address and slice ports, when numbered, 1-65535. So no port outside 1-65535 reaches the
/// registry, whose ports become Envoy's 32-bit port numbers. A failure names the field (and, from a file, points at
/// its node).
enum ObjectValidation {
  static let portRange = 1...65535

  /// Throws the first problem found in `object`, decoded from `node`, located at its field's node.
  static func validate(_ object: KubeObject, node: SourceNode) throws(FieldDecodingFailure) {
    guard let problem = problem(in: object) else { return }
    let located = node.deepest(at: problem.path)
    throw FieldDecodingFailure(
      code: problem.code, path: problem.path, line: located.line, column: located.column, reason: problem.reason)
  }

  /// The first problem found in `object`, nil when it passes.
  static func problem(in object: KubeObject) -> ObjectProblem? {
    do throws(ObjectProblem) {
      try check(object)
      return nil
    } catch {
      return error
    }
  }

  private static func check(_ object: KubeObject) throws(ObjectProblem) {
    switch object {
    case .namespace(let namespace):
      try name(namespace.metadata)
    case .service(let service):
      try name(service.metadata)
      for (index, port) in (service.spec.ports ?? []).enumerated() {
        let portPath: [PathComponent] = [.key("spec"), .key("ports"), .index(index)]
        try self.port(port.port, at: portPath + [.key("port")])
        if case .int(let target) = port.targetPort {
          try self.port(target, at: portPath + [.key("targetPort")])
        }
        if let nodePort = port.nodePort, nodePort != 0 {
          try self.port(nodePort, at: portPath + [.key("nodePort")])
        }
      }
    case .endpointSlice(let slice):
      try name(slice.metadata)
      for (index, endpoint) in (slice.endpoints ?? []).enumerated() where endpoint.addresses.isEmpty {
        throw ObjectProblem(
          code: .invalidValue, path: [.key("endpoints"), .index(index), .key("addresses")],
          reason: "must contain at least one address")
      }
      for (index, port) in (slice.ports ?? []).enumerated() {
        if let number = port.port { try self.port(number, at: [.key("ports"), .index(index), .key("port")]) }
      }
    case .endpoints(let endpoints):
      try name(endpoints.metadata)
      for (subsetIndex, subset) in (endpoints.subsets ?? []).enumerated() {
        for (index, port) in (subset.ports ?? []).enumerated() {
          try self.port(
            port.port, at: [.key("subsets"), .index(subsetIndex), .key("ports"), .index(index), .key("port")])
        }
      }
    case .pod(let pod):
      try name(pod.metadata)
    case .node(let node):
      try name(node.metadata)
    case .gateway(let gateway):
      // The spec is checked per object by the registry, so one bad Gateway does not reject the file.
      try name(gateway.metadata)
    case .virtualService(let virtualService):
      try name(virtualService.metadata)
    }
  }

  private static func name(_ metadata: ObjectMeta) throws(ObjectProblem) {
    if metadata.name.isEmpty {
      throw ObjectProblem(code: .invalidValue, path: [.key("metadata"), .key("name")], reason: "must not be empty")
    }
  }

  private static func port(_ number: Int, at path: [PathComponent]) throws(ObjectProblem) {
    if !portRange.contains(number) {
      throw ObjectProblem(code: .invalidValue, path: path, reason: "port \(number) is not between 1 and 65535")
    }
  }
}
