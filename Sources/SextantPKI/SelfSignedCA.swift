import Crypto
import Foundation
import Logging
import SextantBase
import X509

/// Sextant's CA when no plug-in material is given: a self-signed root kept in a directory and reused on every start.
///
/// The first start creates an ECDSA P-256 root valid for 10 years (CN `Sextant self-signed root`, O = the trust
/// domain) and writes it in Istio's plug-in layout: ca-cert.pem, cert-chain.pem and root-cert.pem all hold the root,
/// ca-key.pem (mode 0600, PKCS#8) its key. ca-cert.pem is written last, so it marks complete material: a directory
/// without it (an interrupted first start) is created afresh, overwriting leftovers. Creation holds an exclusive
/// `flock` on `.sextant-ca.lock` in the directory, so two processes starting at once end with one root (the second
/// loads what the first wrote); every file is written through a 0600 temporary, flushed, renamed into place and the
/// directory flushed (`AtomicFileWriter`), and temporaries a crashed run left behind are removed at start. Later
/// starts load the directory with exactly the checks `PluggedCA.load` runs, so an expired or damaged root is an
/// error, never silently replaced. The directory belongs to Sextant: do not point it at a plug-in (`cacerts`)
/// directory.
package enum SelfSignedCA {
  /// The root's common name.
  package static let commonName = "Sextant self-signed root"
  /// How long a new root is valid (Istio's default for its self-signed root, 10 years).
  package static let validity: Duration = .seconds(3650 * 86_400)
  /// The lock file creation holds an exclusive `flock` on, in the CA directory (created when first needed, never
  /// removed).
  package static let lockFileName = ".sextant-ca.lock"

  /// Loads the root stored in `directory`, or creates and stores one when `directory` holds no ca-cert.pem.
  ///
  /// `trustDomain` becomes the new root's organization; a stored root with another organization is reused (with a
  /// warning), because certificates already issued still chain to it. `now` is when validity is checked and, for a
  /// new root, when it starts (backdated by `CertificateAuthority.clockSkewAllowance`). Stored material is loaded
  /// without the lock (ca-cert.pem appears last, in one rename, and is never rewritten); creation takes it and looks
  /// again, since another process may have created the root meanwhile.
  package static func loadOrCreate(
    directory: String, trustDomain: String, now: Date = Date(), logger: Logger
  ) throws(CAError) -> CAMaterial {
    let names = CAFileNames(source: directory)
    if FileManager.default.fileExists(atPath: names[.caCert]) {
      removeStaleTemporaries(names: names, directory: directory, logger: logger)
      return try loadStored(directory: directory, trustDomain: trustDomain, now: now, logger: logger)
    }
    do {
      try SpiffeID.validateTrustDomain(trustDomain, input: trustDomain)
    } catch {
      throw CAError(.invalidTrustDomain, file: directory, "cannot create a root: \(error.message)")
    }
    try createDirectory(directory)
    return try AtomicFileWriter.withExclusiveLock(path: directory + "/" + lockFileName) {
      () throws(CAError) -> CAMaterial in
      removeStaleTemporaries(names: names, directory: directory, logger: logger)
      if FileManager.default.fileExists(atPath: names[.caCert]) {
        // Another process (or thread) created the root while this one waited for the lock.
        return try loadStored(directory: directory, trustDomain: trustDomain, now: now, logger: logger)
      }
      return try create(directory: directory, names: names, trustDomain: trustDomain, now: now, logger: logger)
    }
  }

  /// Loads the stored material with `PluggedCA.load`'s checks, warning when it was made for another trust domain.
  private static func loadStored(
    directory: String, trustDomain: String, now: Date, logger: Logger
  ) throws(CAError) -> CAMaterial {
    let material = try PluggedCA.load(directory: directory, now: now, logger: logger)
    let organization = material.rootCertificates.first.flatMap(Self.organization)
    if organization != trustDomain {
      logger.warning(
        "the stored self-signed root was made for another trust domain; reusing it",
        metadata: [
          "directory": "\(directory)", "rootOrganization": "\(organization ?? "")",
          "trustDomain": "\(trustDomain)",
        ])
    }
    return material
  }

  /// Creates a root, writes the four files (ca-cert.pem last) and loads them back; called holding the lock.
  private static func create(
    directory: String, names: CAFileNames, trustDomain: String, now: Date, logger: Logger
  ) throws(CAError) -> CAMaterial {
    let leftovers = CAFile.allCases.filter { FileManager.default.fileExists(atPath: names[$0]) }
    if !leftovers.isEmpty {
      logger.warning(
        "CA directory has files but no ca-cert.pem (an interrupted creation?); creating a new root over them",
        metadata: ["directory": "\(directory)", "files": "\(leftovers.map(\.rawValue).joined(separator: ", "))"])
    }
    let (root, key) = try makeRoot(trustDomain: trustDomain, now: now, file: names[.caCert])
    let rootPEM: String
    let keyPEM: String
    do {
      rootPEM = try root.pemString()
      keyPEM = try key.serializeAsPEM().pemString + "\n"
    } catch {
      throw CAError(.writeFailed, file: names[.caCert], "cannot encode the new root as PEM: \(error)")
    }
    try AtomicFileWriter.save(keyPEM, to: names[.caKey], mode: 0o600)
    try AtomicFileWriter.save(rootPEM, to: names[.rootCert], mode: 0o644)
    try AtomicFileWriter.save(rootPEM, to: names[.certChain], mode: 0o644)
    try AtomicFileWriter.save(rootPEM, to: names[.caCert], mode: 0o644)
    logger.notice(
      "created a self-signed root CA",
      metadata: [
        "directory": "\(directory)", "trustDomain": "\(trustDomain)",
        "notAfter": "\(CertificateChecks.timestamp(root.notValidAfter))",
      ])
    // Read back what was written, with the same checks as on every later start.
    return try PluggedCA.load(directory: directory, now: now, logger: logger)
  }

  /// Removes the temporaries of the four files that a crashed run left in `directory`, logging what it removed.
  private static func removeStaleTemporaries(names: CAFileNames, directory: String, logger: Logger) {
    let (removed, failed) = AtomicFileWriter.removeStaleTemporaries(of: CAFile.allCases.map { names[$0] })
    if !removed.isEmpty {
      logger.warning(
        "removed temporary files of an earlier, interrupted run",
        metadata: ["directory": "\(directory)", "files": "\(removed.joined(separator: ", "))"])
    }
    if !failed.isEmpty {
      logger.warning(
        "cannot remove temporary files of an earlier, interrupted run",
        metadata: ["directory": "\(directory)", "files": "\(failed.joined(separator: "; "))"])
    }
  }

  /// A new root as `loadOrCreate` makes one, without touching the disk: the four files' text (ca-cert.pem,
  /// cert-chain.pem and root-cert.pem hold the root, ca-key.pem its PKCS#8 key), for storing elsewhere (a Secret).
  /// Pass the result to `CAMaterial(pem:source:now:)` to use it.
  ///
  /// - Throws: `CAError` `invalidTrustDomain` (file `source`) when `trustDomain` is not a SPIFFE trust domain,
  ///   `writeFailed` when the root cannot be made or encoded.
  package static func makeMaterialPEM(
    trustDomain: String, now: Date = Date(), source: String = "self-signed root"
  ) throws(CAError) -> CAMaterial.PEMFiles {
    do {
      try SpiffeID.validateTrustDomain(trustDomain, input: trustDomain)
    } catch {
      throw CAError(.invalidTrustDomain, file: source, "cannot create a root: \(error.message)")
    }
    let (root, key) = try makeRoot(trustDomain: trustDomain, now: now, file: source)
    do {
      let rootPEM = try root.pemString()
      let keyPEM = try key.serializeAsPEM().pemString + "\n"
      return CAMaterial.PEMFiles(caCert: rootPEM, caKey: keyPEM, certChain: rootPEM, rootCert: rootPEM)
    } catch {
      throw CAError(.writeFailed, file: source, "cannot encode the new root as PEM: \(error)")
    }
  }

  /// A new self-signed ECDSA P-256 root for `trustDomain` and its key.
  static func makeRoot(
    trustDomain: String, now: Date, file: String
  ) throws(CAError) -> (Certificate, Certificate.PrivateKey) {
    let key = Certificate.PrivateKey(P256.Signing.PrivateKey())
    do {
      let name = try DistinguishedName {
        OrganizationName(trustDomain)
        CommonName(commonName)
      }
      let notBefore = now.addingTimeInterval(-CertificateAuthority.clockSkewAllowance.inSeconds)
      let extensions = try Certificate.Extensions {
        Critical(BasicConstraints.isCertificateAuthority(maxPathLength: nil))
        Critical(KeyUsage(digitalSignature: true, keyCertSign: true, cRLSign: true))
        SubjectKeyIdentifier(keyIdentifier: KeyIdentifier.of(key.publicKey))
      }
      let root = try Certificate(
        version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: key.publicKey,
        notValidBefore: notBefore, notValidAfter: now.addingTimeInterval(validity.inSeconds),
        issuer: name, subject: name, signatureAlgorithm: .ecdsaWithSHA256, extensions: extensions,
        issuerPrivateKey: key)
      return (root, key)
    } catch {
      throw CAError(.writeFailed, file: file, "cannot create a self-signed root: \(error)")
    }
  }

  /// The first organization (O) of `certificate`'s subject.
  static func organization(of certificate: Certificate) -> String? {
    for rdn in certificate.subject {
      for attribute in rdn where attribute.type == .RDNAttributeType.organizationName {
        return String(attribute.value)
      }
    }
    return nil
  }

  private static func createDirectory(_ directory: String) throws(CAError) {
    var isDirectory: ObjCBool = false
    if FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) {
      guard isDirectory.boolValue else {
        throw CAError(.writeFailed, file: directory, "exists and is not a directory")
      }
      return
    }
    do {
      try FileManager.default.createDirectory(
        atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
    } catch {
      throw CAError(.writeFailed, file: directory, "cannot create the CA directory: \(error)")
    }
  }
}

/// Subject key identifiers: SHA-1 of the subjectPublicKey bits (RFC 5280 section 4.2.1.2, method 1).
enum KeyIdentifier {
  static func of(_ key: Certificate.PublicKey) -> ArraySlice<UInt8> {
    ArraySlice(Insecure.SHA1.hash(data: Array(key.subjectPublicKeyInfoBytes)))
  }
}
