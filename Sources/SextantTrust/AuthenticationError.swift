import GRPCCore
import SextantPKI

/// Why a caller was not authenticated or not authorized; maps onto a gRPC status with `rpcError`.
///
/// `description` reads `MESSAGE (peer PEER)`, or just `MESSAGE` when the peer is unknown. Messages say what was
/// missing or wrong (never a token's content).
package struct AuthenticationError: Error, Sendable, Hashable, CustomStringConvertible {
  /// The kind of failure, which decides the gRPC status code.
  package enum Code: String, Sendable, Hashable, CaseIterable {
    /// No credential, or one that did not verify: gRPC UNAUTHENTICATED.
    case unauthenticated
    /// A verified identity that may not do what it asked: gRPC PERMISSION_DENIED.
    case permissionDenied
    /// The credential could not be checked now (the API server that reviews tokens is unreachable): gRPC UNAVAILABLE.
    case unavailable
  }

  /// The kind of failure.
  package var code: Code
  /// What was missing or wrong.
  package var message: String
  /// gRPC's remote-peer string of the caller (`ipv4:HOST:PORT`), or empty when not known.
  package var remotePeer: String

  package init(_ code: Code, _ message: String, remotePeer: String = "") {
    self.code = code
    self.message = message
    self.remotePeer = remotePeer
  }

  /// `MESSAGE (peer PEER)`.
  package var description: String { remotePeer.isEmpty ? message : "\(message) (peer \(remotePeer))" }

  /// The gRPC error to end the RPC with: the code's status and the message.
  package var rpcError: RPCError {
    switch code {
    case .unauthenticated: RPCError(code: .unauthenticated, message: message)
    case .permissionDenied: RPCError(code: .permissionDenied, message: message)
    case .unavailable: RPCError(code: .unavailable, message: message)
    }
  }
}
