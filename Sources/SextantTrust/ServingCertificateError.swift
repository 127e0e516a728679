import SextantPKI

/// Why the control plane's serving certificate could not be issued or renewed, naming the certificate's names.
///
/// `description` reads `serving certificate for NAMES: MESSAGE`. A renewal failure keeps the previous certificate in
/// use; the first issuance failing (at start) leaves no certificate to serve with.
package struct ServingCertificateError: Error, Sendable, Hashable, CustomStringConvertible {
  /// What failed.
  package enum Code: String, Sendable, Hashable, CaseIterable {
    /// The mesh CA refused to issue it (see `issuanceError`): a bad name, an expired signer, a signing failure.
    case issuanceFailed
    /// The issued certificate or key could not be converted to NIOSSL's types.
    case notConvertible
  }

  /// What failed.
  package var code: Code
  /// The certificate's DNS names and IP addresses, comma-separated.
  package var names: String
  /// What failed, without the names in front.
  package var message: String
  /// The CA's error, for `issuanceFailed`.
  package var issuanceError: IssuanceError?

  package init(_ code: Code, names: String, _ message: String, issuanceError: IssuanceError? = nil) {
    self.code = code
    self.names = names
    self.message = message
    self.issuanceError = issuanceError
  }

  /// `serving certificate for NAMES: MESSAGE`.
  package var description: String { "serving certificate for \(names): \(message)" }
}
