import X509

/// A certificate the CA issued, with the chain and roots to hand out alongside it.
///
/// `chain` is what Istio's CA returns for a CSR before the root: the leaf, then cert-chain.pem's certificates (for
/// Sextant's self-signed root, cert-chain.pem is the root itself). `roots` are root-cert.pem's certificates: put them
/// in the validation context (SDS `ROOTCA`), not in the presented chain. `privateKey` is set only when the CA
/// generated the key (`issueWorkloadCertificate(identity:ttl:)`, `issueServingCertificate`); keep it out of logs.
package struct IssuedCertificate: Sendable {
  /// The issued leaf certificate.
  package let certificate: Certificate
  /// The leaf followed by cert-chain.pem's certificates.
  package let chain: [Certificate]
  /// root-cert.pem's certificates.
  package let roots: [Certificate]
  /// The leaf's key, when the CA generated it; nil for CSRs (the requester holds the key).
  package let privateKey: Certificate.PrivateKey?
  /// `chain` as PEM blocks, one per certificate, each ending in a newline.
  package let chainPEM: [String]
  /// `roots` as PEM blocks, one per certificate, each ending in a newline.
  package let rootsPEM: [String]
  /// `privateKey` as PKCS#8 PEM, when there is one.
  package let privateKeyPEM: String?

  init(
    certificate: Certificate, chain: [Certificate], roots: [Certificate], privateKey: Certificate.PrivateKey?,
    chainPEM: [String], rootsPEM: [String], privateKeyPEM: String?
  ) {
    self.certificate = certificate
    self.chain = chain
    self.roots = roots
    self.privateKey = privateKey
    self.chainPEM = chainPEM
    self.rootsPEM = rootsPEM
    self.privateKeyPEM = privateKeyPEM
  }

  /// The leaf and its chain as one PEM text: what a TLS server presents (`tls_certificate.certificate_chain`).
  package var certificateChainPEM: String { chainPEM.joined() }

  /// The `cert_chain` of Istio's `IstioCertificateResponse`: one PEM certificate per element (with a trailing
  /// newline), the leaf, then cert-chain.pem's, then root-cert.pem's; istio-agent takes the last element as the root.
  package var istioResponseCertChain: [String] { chainPEM + rootsPEM }
}
