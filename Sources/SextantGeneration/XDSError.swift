/// An error Sextant's xDS layer reports: a stable code, a message for people and the context it happened in.
package struct XDSError: Error, Sendable, Hashable, CustomStringConvertible {
  /// What kind of failure this is.
  package enum Code: String, Sendable, Hashable {
    /// The node id does not have the form `TYPE~IP~POD.NAMESPACE~NAMESPACE.svc.DOMAIN`.
    case invalidNodeID = "invalid-node-id"
    /// The node metadata has a value of the wrong shape.
    case invalidNodeMetadata = "invalid-node-metadata"
    /// The first request of a stream carried no node.
    case missingNode = "missing-node"
    /// A request named a type URL Sextant does not serve.
    case unsupportedType = "unsupported-type"
    /// A resource could not be generated or serialized.
    case generation = "generation"
  }

  package var code: Code
  package var message: String
  /// Where: the node id, stream or resource concerned.
  package var context: String

  package init(_ code: Code, _ message: String, context: String = "") {
    self.code = code
    self.message = message
    self.context = context
  }

  package var description: String {
    context.isEmpty ? "\(code.rawValue): \(message)" : "\(code.rawValue): \(message) (\(context))"
  }
}
