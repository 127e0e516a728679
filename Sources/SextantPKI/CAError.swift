/// Why CA material (Istio's plug-in files or Sextant's self-signed root) cannot be used, naming the file and the check.
///
/// `description` reads `FILE: MESSAGE`, for example `ca-dir/ca-cert.pem: does not chain to root-cert.pem: signature
/// of ca-cert.pem does not verify with cert-chain.pem[1]`. `file` is the path (or `SOURCE/NAME` for material that did
/// not come from a directory); `code` says which check failed and is stable for tests and metrics. Messages never
/// contain key material.
package struct CAError: Error, Sendable, Hashable, CustomStringConvertible {
  /// The check that failed.
  package enum Code: String, Sendable, Hashable, CaseIterable {
    /// The file (or the directory holding it) does not exist.
    case missingFile
    /// The file exists but cannot be read (permissions, a directory in its place, not UTF-8 text).
    case unreadable
    /// The file holds no PEM block, or a PEM block is malformed (bad base64, missing END line).
    case invalidPEM
    /// A PEM block that should be a certificate is of another type or is not a valid X.509 certificate.
    case notACertificate
    /// The key file holds no private key, several of them, or one that cannot be decoded.
    case notAKey
    /// The key is of a kind the CA does not sign with (encrypted, Ed25519, P-521, RSA under 2048 bits).
    case unsupportedKey
    /// The private key in ca-key.pem does not belong to the public key of ca-cert.pem.
    case keyMismatch
    /// A certificate that must be a CA is not one (basicConstraints CA:TRUE, keyUsage keyCertSign).
    case notACA
    /// ca-cert.pem does not chain through cert-chain.pem to a certificate in root-cert.pem, or cert-chain.pem is not
    /// laid out as Istio lays it out (ca-cert.pem first, nothing after the root).
    case brokenChain
    /// A certificate's notAfter is in the past.
    case expired
    /// A certificate's notBefore is in the future.
    case notYetValid
    /// A certificate in root-cert.pem is not self-signed (issuer differs from subject, or its own key does not verify
    /// its signature).
    case rootNotSelfSigned
    /// Self-signed material could not be created or written to disk.
    case writeFailed
    /// The trust domain given for a new self-signed root is not a SPIFFE trust domain.
    case invalidTrustDomain
  }

  /// The check that failed.
  package var code: Code
  /// The file concerned: `DIRECTORY/NAME` (`ca-dir/ca-cert.pem`), or the directory itself when it is missing.
  package var file: String
  /// What failed, without the file name in front.
  package var message: String

  package init(_ code: Code, file: String, _ message: String) {
    self.code = code
    self.file = file
    self.message = message
  }

  /// `FILE: MESSAGE`.
  package var description: String { "\(file): \(message)" }
}
