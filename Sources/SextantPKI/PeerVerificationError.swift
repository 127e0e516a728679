/// Why a peer's certificate chain was refused, naming the certificate (`chain[i]`, `root`) and the failed check.
///
/// `description` reads `peer certificate CERTIFICATE: PHRASE: MESSAGE`, for example `peer certificate chain[0]:
/// unknown authority: no mesh root or certificate of the chain issued it (issuer CN=other root)`. PHRASE is the
/// code's fixed wording (`unknown authority`, `expired`, `no SPIFFE URI SAN`, ...).
package struct PeerVerificationError: Error, Sendable, Hashable, CustomStringConvertible {
  /// The check that failed.
  package enum Code: String, Sendable, Hashable, CaseIterable {
    /// The peer presented no certificate.
    case emptyChain
    /// A certificate (or a root) is not valid PEM/DER X.509.
    case invalidCertificate
    /// The chain does not lead to any of the mesh roots (a missing or wrong issuer, a signature that does not verify).
    case unknownAuthority
    /// A certificate on the path is past its notAfter.
    case expired
    /// A certificate on the path is before its notBefore.
    case notYetValid
    /// An issuer on the path is not a CA (basicConstraints, keyUsage), or its path length limit is exceeded.
    case notACA
    /// The peer's own certificate is a CA certificate, which a workload certificate never is.
    case leafIsCA
    /// A certificate on the path has a critical extension this verifier does not enforce (name constraints,
    /// policies, ...); refused rather than ignored.
    case unsupportedCriticalExtension
    /// The peer's certificate has no `spiffe://` URI SAN.
    case noSpiffeID
    /// The peer's SPIFFE URI SAN is malformed, or there are several.
    case invalidSpiffeID
    /// No mesh root was given.
    case noRoots
    /// The chain has more certificates or bytes than `PeerCertificateVerifier.maximumChainCertificates` /
    /// `maximumChainBytes` allow; refused before any signature is checked.
    case chainTooLong

    /// The fixed wording in `description`.
    package var phrase: String {
      switch self {
      case .emptyChain: "empty chain"
      case .invalidCertificate: "invalid certificate"
      case .unknownAuthority: "unknown authority"
      case .expired: "expired"
      case .notYetValid: "not yet valid"
      case .notACA: "issuer is not a CA"
      case .leafIsCA: "peer certificate is a CA"
      case .unsupportedCriticalExtension: "unsupported critical extension"
      case .noSpiffeID: "no SPIFFE URI SAN"
      case .invalidSpiffeID: "invalid SPIFFE ID"
      case .noRoots: "no mesh roots"
      case .chainTooLong: "chain too long"
      }
    }
  }

  /// The check that failed.
  package var code: Code
  /// The certificate concerned: `chain[i]` (0 is the peer's own), `root[i]`, or empty when about the whole input.
  package var certificate: String
  /// What failed, naming the certificate's subject.
  package var message: String

  package init(_ code: Code, certificate: String, _ message: String) {
    self.code = code
    self.certificate = certificate
    self.message = message
  }

  /// `peer certificate CERTIFICATE: PHRASE: MESSAGE`.
  package var description: String {
    let location = certificate.isEmpty ? "peer certificate chain" : "peer certificate \(certificate)"
    return "\(location): \(code.phrase): \(message)"
  }
}
