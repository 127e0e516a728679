import Foundation
import SwiftASN1
import X509

/// Verifies a peer's certificate chain against the mesh roots and returns the peer's SPIFFE identity; pure functions.
///
/// `chain[0]` is the peer's certificate, the rest are intermediates in any order (extra ones are ignored; the roots
/// may appear too, as Istio's chains end with the root). A chain of more than `maximumChainCertificates`
/// certificates or `maximumChainBytes` bytes is refused (`chainTooLong`) before any signature is checked. A path is
/// built from the peer's certificate in one pass, each step taking a mesh root or, failing that, an unused
/// intermediate whose subject is the current issuer (looked up by name; one whose subject key identifier matches the
/// current authority key identifier is tried first) and whose key verifies the signature; it ends at the first
/// certificate a mesh root issued (or that is a mesh root). Each certificate's signature is checked at most once per
/// candidate issuer, so the work is linear in the chain's length unless several candidates share the issuer's name.
/// Checks: every certificate on the path, the root included, is valid at `now`; every issuer is a CA
/// (basicConstraints CA:TRUE, keyUsage keyCertSign when present) within its pathLen; the peer's certificate is not a
/// CA; no certificate on the path has a critical extension other than basicConstraints, keyUsage,
/// extendedKeyUsage, subjectAltName, subject/authority key identifiers (name constraints and policies are refused,
/// not enforced); the peer's certificate has exactly one `spiffe://` URI SAN. Extended key usage and revocation
/// are not checked.
package enum PeerCertificateVerifier {
  /// The most certificates a presented chain may hold: istio-proxy sends its leaf and the intermediates (and maybe the
  /// root), so 8 leaves room for 6 levels of intermediates.
  package static let maximumChainCertificates = 8
  /// The most DER bytes a presented chain may hold, all certificates together (64 KiB; a workload certificate is
  /// about 1 KiB). Checked by `verify(chainDER:)` and `verify(chainPEM:)`, before the certificates are decoded.
  package static let maximumChainBytes = 64 * 1024

  /// Verifies the decoded `chain` against `roots` at `now` (its length is checked, its size in bytes cannot be).
  package static func verify(
    chain: [Certificate], roots: [Certificate], now: Date = Date()
  ) throws(PeerVerificationError) -> SpiffeID {
    guard let leaf = chain.first else {
      throw PeerVerificationError(.emptyChain, certificate: "", "the peer presented no certificate")
    }
    try checkLength(certificates: chain.count, bytes: nil)
    guard !roots.isEmpty else {
      throw PeerVerificationError(.noRoots, certificate: "", "no mesh root certificate to verify against")
    }
    if case .some(.isCertificateAuthority) = try? leaf.extensions.basicConstraints {
      throw PeerVerificationError(
        .leafIsCA, certificate: "chain[0]", "\(leaf.subjectDescription) has basicConstraints CA:TRUE")
    }
    try checkCertificate(leaf, label: "chain[0]", now: now)

    let rootsBySubject = Dictionary(grouping: roots.indices, by: { roots[$0].subject })
    let chainBySubject = Dictionary(grouping: chain.indices.dropFirst(), by: { chain[$0].subject })
    var current = leaf
    var currentLabel = "chain[0]"
    var used: Set<Int> = []
    // Intermediate CAs between the current issuer and the leaf, for pathLen checks.
    var intermediatesBelow = 0
    while true {
      if let rootIndex = issuer(of: current, among: rootsBySubject[current.issuer] ?? [], in: roots) {
        let root = roots[rootIndex]
        try checkIssuer(root, label: "root[\(rootIndex)]", intermediatesBelow: intermediatesBelow, now: now)
        break
      }
      if current != leaf, roots.contains(current) { break }
      let candidates = (chainBySubject[current.issuer] ?? []).filter { !used.contains($0) }
      guard let index = issuer(of: current, among: candidates, in: chain) else {
        let unused = chain.indices.dropFirst().filter { !used.contains($0) }
        throw unknownAuthority(current, label: currentLabel, chain: chain, unused: unused, roots: roots)
      }
      used.insert(index)
      let issuer = chain[index]
      try checkIssuer(issuer, label: "chain[\(index)]", intermediatesBelow: intermediatesBelow, now: now)
      if issuer.subject != issuer.issuer { intermediatesBelow += 1 }
      current = issuer
      currentLabel = "chain[\(index)]"
    }

    do {
      return try SpiffeID(certificate: leaf)
    } catch {
      switch error.code {
      case .notInCertificate:
        throw PeerVerificationError(.noSpiffeID, certificate: "chain[0]", error.message)
      default:
        throw PeerVerificationError(.invalidSpiffeID, certificate: "chain[0]", error.message)
      }
    }
  }

  /// Verifies a chain given as DER certificates (as TLS libraries hand them over) against `roots` at `now`.
  package static func verify(
    chainDER: [[UInt8]], roots: [Certificate], now: Date = Date()
  ) throws(PeerVerificationError) -> SpiffeID {
    try checkLength(certificates: chainDER.count, bytes: chainDER.reduce(0) { $0 + $1.count })
    let chain: [Certificate]
    do {
      chain = try PEMDecoding.certificates(der: chainDER, label: "chain")
    } catch {
      throw PeerVerificationError(.invalidCertificate, certificate: "", error.message)
    }
    return try verify(chain: chain, roots: roots, now: now)
  }

  /// Verifies a chain given as PEM text (leaf first) against the roots in `rootsPEM` (root-cert.pem) at `now`.
  package static func verify(
    chainPEM: String, rootsPEM: String, now: Date = Date()
  ) throws(PeerVerificationError) -> SpiffeID {
    let chain: [Certificate]
    let roots: [Certificate]
    let blocks: [PEMDocument]
    do {
      blocks = try PEMDecoding.blocks(chainPEM)
    } catch {
      throw PeerVerificationError(.invalidCertificate, certificate: "", "the chain: \(error.message)")
    }
    try checkLength(certificates: blocks.count, bytes: blocks.reduce(0) { $0 + $1.derBytes.count })
    do {
      chain = try PEMDecoding.certificates(chainPEM, label: "chain")
    } catch {
      throw PeerVerificationError(.invalidCertificate, certificate: "", "the chain: \(error.message)")
    }
    do {
      roots = try PEMDecoding.certificates(rootsPEM, label: "root")
    } catch {
      throw PeerVerificationError(.invalidCertificate, certificate: "", "the roots: \(error.message)")
    }
    return try verify(chain: chain, roots: roots, now: now)
  }

  // MARK: - Checks

  /// Refuses a chain of more than `maximumChainCertificates` certificates or (when known) `maximumChainBytes` bytes.
  private static func checkLength(certificates: Int, bytes: Int?) throws(PeerVerificationError) {
    if certificates > maximumChainCertificates {
      throw PeerVerificationError(
        .chainTooLong, certificate: "",
        "the peer presented \(certificates) certificates; at most \(maximumChainCertificates) are accepted")
    }
    if let bytes, bytes > maximumChainBytes {
      throw PeerVerificationError(
        .chainTooLong, certificate: "",
        "the peer presented \(bytes) bytes of certificates; at most \(maximumChainBytes) bytes are accepted")
    }
  }

  /// The index (into `certificates`) of the first of `candidates` whose key verifies `certificate`'s signature.
  ///
  /// Candidates are the certificates named as `certificate`'s issuer; those whose subject key identifier is
  /// `certificate`'s authority key identifier are tried first, those with another one last (a hint, as RFC 5280
  /// path building uses it: the signature decides). Each candidate's key is tried at most once.
  private static func issuer(of certificate: Certificate, among candidates: [Int], in certificates: [Certificate])
    -> Int?
  {
    guard !candidates.isEmpty else { return nil }
    let authorityKeyID = (try? certificate.extensions.authorityKeyIdentifier)??.keyIdentifier
    func rank(_ index: Int) -> Int {
      guard let authorityKeyID,
        let subjectKeyID = (try? certificates[index].extensions.subjectKeyIdentifier)??.keyIdentifier
      else { return 1 }
      return subjectKeyID == authorityKeyID ? 0 : 2
    }
    let ordered = candidates.count == 1 ? candidates : candidates.sorted { rank($0) < rank($1) }
    return ordered.first { certificates[$0].publicKey.isValidSignature(certificate.signature, for: certificate) }
  }

  /// The extensions this verifier understands, and so may be critical.
  private static let understoodExtensions: Set<ASN1ObjectIdentifier> = [
    .X509ExtensionID.basicConstraints, .X509ExtensionID.keyUsage, .X509ExtensionID.extendedKeyUsage,
    .X509ExtensionID.subjectAlternativeName, .X509ExtensionID.subjectKeyIdentifier,
    .X509ExtensionID.authorityKeyIdentifier,
  ]

  private static func checkCertificate(_ certificate: Certificate, label: String, now: Date)
    throws(PeerVerificationError)
  {
    switch CertificateChecks.validity(of: certificate, at: now) {
    case .valid:
      break
    case .expired(let message):
      throw PeerVerificationError(.expired, certificate: label, "\(certificate.subjectDescription) \(message)")
    case .notYetValid(let message):
      throw PeerVerificationError(.notYetValid, certificate: label, "\(certificate.subjectDescription) \(message)")
    }
    if let critical = certificate.extensions.first(where: { $0.critical && !understoodExtensions.contains($0.oid) }) {
      throw PeerVerificationError(
        .unsupportedCriticalExtension, certificate: label,
        "\(certificate.subjectDescription) has critical extension \(critical.oid), which is not supported")
    }
  }

  private static func checkIssuer(
    _ issuer: Certificate, label: String, intermediatesBelow: Int, now: Date
  ) throws(PeerVerificationError) {
    try checkCertificate(issuer, label: label, now: now)
    if let problem = CertificateChecks.caProblem(issuer, requireKeyUsage: false) {
      throw PeerVerificationError(.notACA, certificate: label, "\(issuer.subjectDescription) \(problem)")
    }
    if let limit = CertificateChecks.maxPathLength(issuer), intermediatesBelow > limit {
      throw PeerVerificationError(
        .notACA, certificate: label,
        "\(issuer.subjectDescription) allows \(limit) intermediate CA(s) below it, the path has \(intermediatesBelow)")
    }
  }

  private static func unknownAuthority(
    _ certificate: Certificate, label: String, chain: [Certificate], unused: [Int], roots: [Certificate]
  ) -> PeerVerificationError {
    let sameName =
      roots.contains { $0.subject == certificate.issuer } || unused.contains { chain[$0].subject == certificate.issuer }
    let message =
      sameName
      ? "\(certificate.subjectDescription) names \(certificate.issuerDescription) as issuer, but no mesh root or "
        + "certificate of the chain with that name verifies its signature"
      : "no mesh root or certificate of the chain issued \(certificate.subjectDescription) "
        + "(issuer \(certificate.issuerDescription))"
    return PeerVerificationError(.unknownAuthority, certificate: label, message)
  }
}
