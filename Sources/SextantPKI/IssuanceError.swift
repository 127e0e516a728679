/// Why the CA refused to issue a certificate, naming what was being issued and the check that failed.
///
/// `description` reads `issuing SUBJECT: MESSAGE`, where SUBJECT is the SPIFFE ID of a workload certificate or
/// `serving certificate for NAMES` (for example `issuing spiffe://cluster.local/ns/default/sa/app: the CSR's
/// signature does not verify with its public key`). CSR contents are never echoed beyond their type.
package struct IssuanceError: Error, Sendable, Hashable, CustomStringConvertible {
  /// The check that failed.
  package enum Code: String, Sendable, Hashable, CaseIterable {
    /// The CSR is not PEM, not a single CERTIFICATE REQUEST, or not valid PKCS#10.
    case invalidCSR
    /// The CSR's signature does not verify with the public key it carries (no proof of possession).
    case csrSignatureInvalid
    /// The CSR's key is of a kind the CA does not certify (Ed25519, P-521, RSA under 2048 or over 4096 bits); checked
    /// before the signature.
    case unsupportedKey
    /// The TTL is zero or negative.
    case invalidTTL
    /// A DNS name for a serving certificate is empty, too long or has characters a DNS SAN cannot hold.
    case invalidDNSName
    /// An IP address for a serving certificate is not IPv4 or IPv6 text.
    case invalidIPAddress
    /// A serving certificate was asked for without any DNS name or IP address.
    case noNames
    /// The CA's signing certificate is no longer valid, so nothing it signs would be.
    case signerNotValid
    /// swift-certificates or swift-crypto failed to build, sign or encode the certificate.
    case signingFailed
  }

  /// The check that failed.
  package var code: Code
  /// What was being issued: a SPIFFE ID, or `serving certificate for NAMES`.
  package var subject: String
  /// What failed, without the subject in front.
  package var message: String

  package init(_ code: Code, subject: String, _ message: String) {
    self.code = code
    self.subject = subject
    self.message = message
  }

  /// `issuing SUBJECT: MESSAGE`.
  package var description: String { "issuing \(subject): \(message)" }
}
