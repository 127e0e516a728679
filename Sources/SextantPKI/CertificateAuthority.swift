import Crypto
import Foundation
import Logging
import SextantBase
import SwiftASN1
import X509

/// Issues workload (SPIFFE) and serving certificates with verified CA material; a value, safe to share across tasks.
///
/// Every certificate it issues has an empty subject and a critical subjectAltName, basicConstraints CA:FALSE, a
/// random 20-byte serial, notBefore `clockSkewAllowance` in the past, and an authorityKeyIdentifier naming the signer.
/// notAfter is now + TTL, but never later than any certificate of the signer's chain (a leaf cannot outlive its
/// issuer; a warning is logged when that shortens it). The CA does not authenticate anyone: the caller decides the
/// identity (from the authenticated caller, never from the CSR) and the TTL (Istio's default is 24h).
package struct CertificateAuthority: Sendable {
  /// The longest workload certificate issued; longer TTLs are capped to it (Istio's default maximum, 90 days).
  package static let maximumWorkloadTTL: Duration = .seconds(90 * 86_400)
  /// How far notBefore lies in the past, so peers with slightly slow clocks accept a fresh certificate.
  package static let clockSkewAllowance: Duration = .seconds(5 * 60)

  /// The verified material certificates are signed with and chained to.
  package let material: CAMaterial
  private let logger: Logger
  private let now: @Sendable () -> Date

  /// A CA signing with `material`; `now` is the clock used for validity periods (injectable for tests).
  package init(material: CAMaterial, logger: Logger, now: @escaping @Sendable () -> Date = { Date() }) {
    self.material = material
    self.logger = logger
    self.now = now
  }

  /// Signs the PKCS#10 CSR in `csrPEM` for `identity` only: the CSR's subject, SANs and extensions are ignored.
  ///
  /// The CSR must carry an RSA (2048 to 4096 bits) or ECDSA P-256/P-384 key, checked first, and a valid
  /// self-signature (proof of possession of its key), checked only for such a key. The certificate has the URI SAN `identity`, keyUsage digitalSignature and keyEncipherment,
  /// extendedKeyUsage serverAuth and clientAuth, and lives `min(ttl, maximumWorkloadTTL)`.
  package func issueWorkloadCertificate(
    csrPEM: String, identity: SpiffeID, ttl: Duration
  ) throws(IssuanceError) -> IssuedCertificate {
    let subject = identity.uri
    let csr: CertificateSigningRequest
    do {
      csr = try PEMDecoding.csr(csrPEM)
    } catch {
      throw IssuanceError(.invalidCSR, subject: subject, error.message)
    }
    // The key's type and size first: a signature check with an oversized key is the expensive step.
    if let problem = KeyKind.csrProblem(csr.publicKey) {
      throw IssuanceError(.unsupportedKey, subject: subject, "the CSR's key: \(problem)")
    }
    guard csr.publicKey.isValidSignature(csr.signature, for: csr) else {
      throw IssuanceError(
        .csrSignatureInvalid, subject: subject, "the CSR's signature does not verify with its public key")
    }
    return try issueWorkload(publicKey: csr.publicKey, privateKey: nil, identity: identity, ttl: ttl)
  }

  /// Generates an ECDSA P-256 key and issues a workload certificate for it, as `issueWorkloadCertificate(csrPEM:...)`
  /// would; for serving SDS directly to proxies without an agent. The result carries the key.
  package func issueWorkloadCertificate(identity: SpiffeID, ttl: Duration) throws(IssuanceError) -> IssuedCertificate {
    let key = Certificate.PrivateKey(P256.Signing.PrivateKey())
    return try issueWorkload(publicKey: key.publicKey, privateKey: key, identity: identity, ttl: ttl)
  }

  /// Generates an ECDSA P-256 key and issues a TLS server certificate for the control plane itself.
  ///
  /// `dnsNames` become DNS SANs (`istiod.istio-system.svc`, its variants, `ISTIOD_CUSTOM_HOST` entries; a leading
  /// `*.` label is allowed), `ipAddresses` IP SANs (IPv4 or IPv6 text). At least one name is needed; duplicates are
  /// dropped. extendedKeyUsage is serverAuth, keyUsage digitalSignature and keyEncipherment. The TTL is not capped
  /// (beyond the signer's own expiry).
  package func issueServingCertificate(
    dnsNames: [String], ipAddresses: [String], ttl: Duration
  ) throws(IssuanceError) -> IssuedCertificate {
    let subject = "serving certificate for \((dnsNames + ipAddresses).joined(separator: ", "))"
    guard !dnsNames.isEmpty || !ipAddresses.isEmpty else {
      throw IssuanceError(.noNames, subject: "serving certificate", "no DNS name or IP address was given")
    }
    var names: [GeneralName] = []
    for name in dnsNames {
      if let problem = DNSNameCheck.problem(name) {
        throw IssuanceError(.invalidDNSName, subject: subject, "DNS name \"\(name)\" \(problem)")
      }
      let entry = GeneralName.dnsName(name)
      if !names.contains(entry) { names.append(entry) }
    }
    for address in ipAddresses {
      guard let bytes = IPAddress(address)?.bytes else {
        throw IssuanceError(.invalidIPAddress, subject: subject, "\"\(address)\" is not an IPv4 or IPv6 address")
      }
      let entry = GeneralName.ipAddress(ASN1OctetString(contentBytes: ArraySlice(bytes)))
      if !names.contains(entry) { names.append(entry) }
    }
    let key = Certificate.PrivateKey(P256.Signing.PrivateKey())
    return try issue(
      publicKey: key.publicKey, privateKey: key, names: names, usages: [.serverAuth], ttl: ttl, cap: nil,
      subject: subject)
  }

  // MARK: - Signing

  private func issueWorkload(
    publicKey: Certificate.PublicKey, privateKey: Certificate.PrivateKey?, identity: SpiffeID, ttl: Duration
  ) throws(IssuanceError) -> IssuedCertificate {
    try issue(
      publicKey: publicKey, privateKey: privateKey, names: [.uniformResourceIdentifier(identity.uri)],
      usages: [.serverAuth, .clientAuth], ttl: ttl, cap: Self.maximumWorkloadTTL, subject: identity.uri)
  }

  private func issue(
    publicKey: Certificate.PublicKey, privateKey: Certificate.PrivateKey?, names: [GeneralName],
    usages: [ExtendedKeyUsage.Usage], ttl: Duration, cap: Duration?, subject: String
  ) throws(IssuanceError) -> IssuedCertificate {
    guard ttl > .zero else {
      throw IssuanceError(.invalidTTL, subject: subject, "the TTL must be positive (got \(ttl))")
    }
    let lifetime = cap.map { min(ttl, $0) } ?? ttl
    if lifetime < ttl {
      logger.debug(
        "capped the requested certificate TTL", metadata: ["subject": "\(subject)", "requested": "\(ttl)"])
    }
    let now = self.now()
    let signer = material.signingCertificate
    switch CertificateChecks.validity(of: signer, at: now) {
    case .valid:
      break
    case .expired(let message), .notYetValid(let message):
      throw IssuanceError(.signerNotValid, subject: subject, "the signing certificate (ca-cert.pem) \(message)")
    }
    let notBefore = max(now.addingTimeInterval(-Self.clockSkewAllowance.inSeconds), signer.notValidBefore)
    let requestedNotAfter = now.addingTimeInterval(lifetime.inSeconds)
    let chainNotAfter = ([signer] + material.certificateChain).map(\.notValidAfter).min() ?? signer.notValidAfter
    let notAfter = min(requestedNotAfter, chainNotAfter)
    if notAfter < requestedNotAfter {
      logger.warning(
        "the CA chain expires before the requested certificate lifetime ends; issuing a shorter certificate",
        metadata: ["subject": "\(subject)", "chainNotAfter": "\(CertificateChecks.timestamp(chainNotAfter))"])
    }

    let certificate: Certificate
    let leafPEM: String
    let keyPEM: String?
    do {
      let authorityKeyID =
        (try? signer.extensions.subjectKeyIdentifier)??.keyIdentifier ?? KeyIdentifier.of(signer.publicKey)
      let extensions = try Certificate.Extensions {
        Critical(BasicConstraints.notCertificateAuthority)
        Critical(KeyUsage(digitalSignature: true, keyEncipherment: true))
        try ExtendedKeyUsage(usages)
        AuthorityKeyIdentifier(keyIdentifier: authorityKeyID)
        // The subject is empty, so the SAN extension must be critical (RFC 5280 section 4.2.1.6).
        Critical(SubjectAlternativeNames(names))
      }
      certificate = try Certificate(
        version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: publicKey, notValidBefore: notBefore,
        notValidAfter: notAfter, issuer: signer.subject, subject: DistinguishedName(), extensions: extensions,
        issuerPrivateKey: material.signingKey)
      leafPEM = try certificate.pemString()
      keyPEM = try privateKey.map { try $0.serializeAsPEM().pemString + "\n" }
    } catch {
      throw IssuanceError(.signingFailed, subject: subject, "cannot build or sign the certificate: \(error)")
    }
    logger.debug(
      "issued certificate",
      metadata: [
        "subject": "\(subject)", "serial": "\(certificate.serialNumber)",
        "notAfter": "\(CertificateChecks.timestamp(notAfter))",
      ])
    return IssuedCertificate(
      certificate: certificate, chain: [certificate] + material.certificateChain, roots: material.rootCertificates,
      privateKey: privateKey, chainPEM: [leafPEM] + material.certificateChainPEM,
      rootsPEM: material.rootCertificatePEMs,
      privateKeyPEM: keyPEM)
  }
}

/// What a DNS SAN may hold: 1–253 ASCII characters, dot-separated labels of letters, digits, `-` and `_` (at most 63
/// each), and optionally `*` as the whole first label.
enum DNSNameCheck {
  /// Why `name` cannot be a DNS SAN, or nil.
  static func problem(_ name: String) -> String? {
    guard !name.isEmpty else { return "is empty" }
    guard name.utf8.count <= 253 else { return "is longer than 253 characters" }
    let labels = name.split(separator: ".", omittingEmptySubsequences: false)
    for (index, label) in labels.enumerated() {
      if index == 0, label == "*", labels.count > 1 { continue }
      guard !label.isEmpty, label.utf8.count <= 63 else { return "has an empty label or one longer than 63 characters" }
      let allowed = label.utf8.allSatisfy { byte in
        (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z"))
          || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
          || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) || byte == UInt8(ascii: "-")
          || byte == UInt8(ascii: "_")
      }
      guard allowed else { return "may hold only letters, digits, '-', '_' and '.' (and a leading '*.')" }
    }
    return nil
  }
}
