import Foundation
import X509

/// The names of Istio's CA plug-in files (Secret `cacerts`), which Sextant also uses for its self-signed root.
package enum CAFile: String, Sendable, Hashable, CaseIterable {
  /// The signing (intermediate) certificate.
  case caCert = "ca-cert.pem"
  /// The signing certificate's private key.
  case caKey = "ca-key.pem"
  /// The signing certificate followed by its issuers, up to (and usually including) the root.
  case certChain = "cert-chain.pem"
  /// The mesh root certificate(s): the trust anchors every workload gets.
  case rootCert = "root-cert.pem"
}

/// Verified CA material: the signing certificate and key, the chain Istio hands out with every certificate, the roots.
///
/// The only way to get one is through verification (`init(pem:source:now:)`, `PluggedCA.load`,
/// `SelfSignedCA.loadOrCreate`), so holding a `CAMaterial` means, as of the `now` it was verified at:
/// - the key in ca-key.pem belongs to ca-cert.pem, and is RSA (≥ 2048 bits) or ECDSA P-256/P-384;
/// - ca-cert.pem is a CA (basicConstraints CA:TRUE and keyUsage with keyCertSign);
/// - cert-chain.pem starts with ca-cert.pem and each certificate is issued (name and signature) by the next one, up
///   to a certificate of root-cert.pem or to the last one, which a certificate of root-cert.pem issued; every issuer
///   is a CA, nothing follows the root;
/// - every certificate of root-cert.pem is a self-signed CA;
/// - every certificate is within its validity period.
/// Expiry later on is not watched here: the caller reloads (and should alert well before notAfter).
package struct CAMaterial: Sendable {
  /// The PEM text of the four files, as read from a directory or a Secret.
  package struct PEMFiles: Sendable, Hashable {
    /// ca-cert.pem.
    package var caCert: String
    /// ca-key.pem.
    package var caKey: String
    /// cert-chain.pem.
    package var certChain: String
    /// root-cert.pem.
    package var rootCert: String

    package init(caCert: String, caKey: String, certChain: String, rootCert: String) {
      self.caCert = caCert
      self.caKey = caKey
      self.certChain = certChain
      self.rootCert = rootCert
    }
  }

  /// ca-cert.pem: the certificate that signs workload and serving certificates.
  package let signingCertificate: Certificate
  /// ca-key.pem.
  package let signingKey: Certificate.PrivateKey
  /// cert-chain.pem: starts with `signingCertificate`; appended after every issued leaf.
  package let certificateChain: [Certificate]
  /// root-cert.pem: the trust anchors (several during a root rotation).
  package let rootCertificates: [Certificate]
  /// cert-chain.pem's certificates as PEM, each ending in a newline, in order.
  package let certificateChainPEM: [String]
  /// root-cert.pem's certificates as PEM, each ending in a newline, in order.
  package let rootCertificatePEMs: [String]
  /// root-cert.pem's certificates as one PEM text: what ConfigMap `istio-ca-root-cert` distributes as `root-cert.pem`.
  package var rootCertificatesPEM: String { rootCertificatePEMs.joined() }
  /// Where the material came from (a directory path, or a name such as `secret istio-system/cacerts`).
  package let source: String

  /// Decodes and verifies the four files' text; errors name `SOURCE/FILE` and the failed check.
  ///
  /// `now` is the time validity periods are checked at.
  package init(pem files: PEMFiles, source: String, now: Date) throws(CAError) {
    let names = CAFileNames(source: source)
    let signingCertificates = try Self.certificates(files.caCert, .caCert, names)
    guard signingCertificates.count == 1, let signingCertificate = signingCertificates.first else {
      throw CAError(
        .notACertificate, file: names[.caCert],
        "holds \(signingCertificates.count) certificates, expected exactly one (the signing certificate)")
    }
    let signingKey: Certificate.PrivateKey
    do {
      signingKey = try PEMDecoding.privateKey(files.caKey)
    } catch {
      switch error.kind {
      case .notPEM: throw CAError(.invalidPEM, file: names[.caKey], error.message)
      case .wrongContent: throw CAError(.notAKey, file: names[.caKey], error.message)
      case .unsupportedKey: throw CAError(.unsupportedKey, file: names[.caKey], error.message)
      }
    }
    let roots = try Self.certificates(files.rootCert, .rootCert, names)
    // Istio's plug-in instructions: when ca-cert.pem is the root itself, cert-chain.pem is empty.
    let chain: [Certificate]
    if files.certChain.allSatisfy(\.isWhitespace), roots.contains(signingCertificate) {
      chain = [signingCertificate]
    } else {
      chain = try Self.certificates(files.certChain, .certChain, names)
    }

    try CAMaterialVerification(
      signingCertificate: signingCertificate, signingKey: signingKey, chain: chain, roots: roots, now: now,
      names: names
    ).verify()

    self.signingCertificate = signingCertificate
    self.signingKey = signingKey
    self.certificateChain = chain
    self.rootCertificates = roots
    self.source = source
    do {
      self.certificateChainPEM = try chain.map { try $0.pemString() }
      self.rootCertificatePEMs = try roots.map { try $0.pemString() }
    } catch {
      throw CAError(.notACertificate, file: names[.certChain], "cannot be encoded as PEM again: \(error)")
    }
  }

  private static func certificates(
    _ text: String, _ file: CAFile, _ names: CAFileNames
  ) throws(CAError) -> [Certificate] {
    do {
      return try PEMDecoding.certificates(text, label: file.rawValue)
    } catch {
      switch error.kind {
      case .notPEM: throw CAError(.invalidPEM, file: names[file], error.message)
      case .wrongContent, .unsupportedKey: throw CAError(.notACertificate, file: names[file], error.message)
      }
    }
  }
}

/// `SOURCE/NAME` for each CA file, as errors name them.
package struct CAFileNames: Sendable {
  package let source: String

  package init(source: String) {
    self.source = source
  }

  package subscript(file: CAFile) -> String {
    if source.isEmpty { return file.rawValue }
    return source.hasSuffix("/") ? source + file.rawValue : source + "/" + file.rawValue
  }
}
