import Foundation
import X509

/// The checks `CAMaterial` runs on decoded plug-in material, in order, each failing with one `CAError`.
///
/// Order: key kind and match (ca-key.pem), ca-cert.pem is a CA, roots are self-signed CAs (root-cert.pem),
/// cert-chain.pem's layout, the chain links to a root, then validity periods. Chain failures name ca-cert.pem (the
/// certificate that "does not chain to root-cert.pem") and say which link broke; layout failures name cert-chain.pem.
struct CAMaterialVerification {
  let signingCertificate: Certificate
  let signingKey: Certificate.PrivateKey
  let chain: [Certificate]
  let roots: [Certificate]
  let now: Date
  let names: CAFileNames

  func verify() throws(CAError) {
    try verifyKey()
    if let problem = CertificateChecks.caProblem(signingCertificate, requireKeyUsage: true) {
      throw CAError(.notACA, file: names[.caCert], "is not a CA certificate: it \(problem)")
    }
    try verifyRoots()
    try verifyChain()
    try verifyValidity()
  }

  private func verifyKey() throws(CAError) {
    if let problem = KeyKind.unsupportedReason(signingCertificate.publicKey) {
      throw CAError(.unsupportedKey, file: names[.caCert], problem)
    }
    guard signingKey.publicKey == signingCertificate.publicKey else {
      throw CAError(
        .keyMismatch, file: names[.caKey],
        "the private key does not match the public key of ca-cert.pem (\(signingCertificate.subjectDescription))")
    }
  }

  private func verifyRoots() throws(CAError) {
    for (index, root) in roots.enumerated() {
      let label = roots.count == 1 ? "the root" : "root-cert.pem[\(index)]"
      guard root.subject == root.issuer else {
        throw CAError(
          .rootNotSelfSigned, file: names[.rootCert],
          "\(label) is not self-signed: its issuer (\(root.issuerDescription)) differs from its subject "
            + "(\(root.subjectDescription))")
      }
      guard root.publicKey.isValidSignature(root.signature, for: root) else {
        throw CAError(
          .rootNotSelfSigned, file: names[.rootCert],
          "\(label) (\(root.subjectDescription)) is not self-signed: its signature does not verify with its own key")
      }
      if let problem = CertificateChecks.caProblem(root, requireKeyUsage: false) {
        throw CAError(.notACA, file: names[.rootCert], "\(label) is not a CA certificate: it \(problem)")
      }
    }
  }

  /// The name of `chain[index]` in messages: `ca-cert.pem` for the first, `cert-chain.pem[i]` for the others.
  private func label(_ index: Int) -> String {
    index == 0 ? CAFile.caCert.rawValue : "\(CAFile.certChain.rawValue)[\(index)]"
  }

  private func verifyChain() throws(CAError) {
    guard chain.first == signingCertificate else {
      throw CAError(
        .brokenChain, file: names[.certChain],
        "cert-chain.pem[0] (\(chain[0].subjectDescription)) is not the certificate of ca-cert.pem "
          + "(\(signingCertificate.subjectDescription)); cert-chain.pem must start with it")
    }
    let prefix = "does not chain to root-cert.pem: "
    for index in chain.indices {
      let certificate = chain[index]
      if roots.contains(certificate) {
        guard index == chain.count - 1 else {
          throw CAError(
            .brokenChain, file: names[.certChain],
            "\(label(index)) is the root, but \(chain.count - 1 - index) certificate(s) follow it")
        }
        return
      }
      if index + 1 < chain.count {
        let issuer = chain[index + 1]
        guard certificate.issuer == issuer.subject else {
          throw CAError(
            .brokenChain, file: names[.caCert],
            prefix + "\(label(index)) was issued by \(certificate.issuerDescription), but the next certificate, "
              + "\(label(index + 1)), is \(issuer.subjectDescription)")
        }
        guard issuer.publicKey.isValidSignature(certificate.signature, for: certificate) else {
          throw CAError(
            .brokenChain, file: names[.caCert],
            prefix + "signature of \(label(index)) does not verify with \(label(index + 1))")
        }
        if let problem = CertificateChecks.caProblem(issuer, requireKeyUsage: false) {
          throw CAError(
            .notACA, file: names[.certChain], "\(label(index + 1)) is not a CA certificate: it \(problem)")
        }
        continue
      }
      // The last certificate of cert-chain.pem, not itself a root: a root must have issued it.
      if roots.contains(where: { certificate.isIssued(by: $0) }) { return }
      if certificate.isSelfSigned {
        throw CAError(
          .brokenChain, file: names[.caCert],
          prefix + "\(label(index)) is a root (\(certificate.subjectDescription)) that is not in root-cert.pem")
      }
      if roots.contains(where: { $0.subject == certificate.issuer }) {
        throw CAError(
          .brokenChain, file: names[.caCert],
          prefix + "signature of \(label(index)) does not verify with root-cert.pem "
            + "(\(certificate.issuerDescription))")
      }
      throw CAError(
        .brokenChain, file: names[.caCert],
        prefix + "\(label(index)) was issued by \(certificate.issuerDescription), which is not in root-cert.pem "
          + "(\(roots.map(\.subjectDescription).joined(separator: "; "))); is an intermediate missing from "
          + "cert-chain.pem?")
    }
  }

  private func verifyValidity() throws(CAError) {
    var labelled: [(Certificate, String, CAFile)] = [(signingCertificate, "ca-cert.pem", .caCert)]
    for index in chain.indices.dropFirst() { labelled.append((chain[index], label(index), .certChain)) }
    for (index, root) in roots.enumerated() {
      labelled.append((root, roots.count == 1 ? "root-cert.pem" : "root-cert.pem[\(index)]", .rootCert))
    }
    for (certificate, label, file) in labelled {
      switch CertificateChecks.validity(of: certificate, at: now) {
      case .valid:
        continue
      case .expired(let message):
        throw CAError(.expired, file: names[file], "\(label) (\(certificate.subjectDescription)) \(message)")
      case .notYetValid(let message):
        throw CAError(.notYetValid, file: names[file], "\(label) (\(certificate.subjectDescription)) \(message)")
      }
    }
  }
}
