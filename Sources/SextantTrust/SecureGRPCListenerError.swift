import SextantPKI

/// Why `SecureGRPCListener` could not start listening, naming the address.
///
/// `description` reads `secure gRPC listener on HOST:PORT: MESSAGE`. `GRPCServer.serve()` throws it (wrapped as
/// the transport's error) when the listener fails at start.
package struct SecureGRPCListenerError: Error, Sendable, Hashable, CustomStringConvertible {
  /// What failed.
  package enum Code: String, Sendable, Hashable, CaseIterable {
    /// NIOSSL refused the TLS configuration (the serving certificate or key could not be used).
    case tlsContextFailed
    /// The address could not be resolved or bound (in use, not local, no permission).
    case bindFailed
  }

  /// What failed.
  package var code: Code
  /// `HOST:PORT` as configured.
  package var address: String
  /// What failed, without the address in front.
  package var message: String

  package init(_ code: Code, address: String, _ message: String) {
    self.code = code
    self.address = address
    self.message = message
  }

  /// `secure gRPC listener on HOST:PORT: MESSAGE`.
  package var description: String { "secure gRPC listener on \(address): \(message)" }
}
