import Foundation
import Logging

/// Loads Istio's CA plug-in files (`ca-cert.pem`, `ca-key.pem`, `cert-chain.pem`, `root-cert.pem`) from a directory.
///
/// The layout is the one Istio's `tools/certs/Makefile.selfsigned.mk` writes per cluster from one common root:
/// ca-cert.pem is the cluster's intermediate, cert-chain.pem the intermediate followed by the root (or by its issuers
/// up to, not including, the root), root-cert.pem the root. Keys may be RSA (`RSA PRIVATE KEY` or PKCS#8 `PRIVATE
/// KEY`) or ECDSA P-256/P-384 (`EC PRIVATE KEY` or PKCS#8); encrypted keys are refused. Every check `CAMaterial`
/// documents runs at load; the first failure is thrown as a `CAError` naming the file and the check.
package enum PluggedCA {
  /// Reads and verifies the four files in `directory`, checking validity periods at `now`.
  ///
  /// Files are read once; a later change on disk needs another call (the material is a value).
  package static func load(directory: String, now: Date = Date(), logger: Logger) throws(CAError) -> CAMaterial {
    let names = CAFileNames(source: directory)
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) else {
      throw CAError(.missingFile, file: directory, "the CA directory does not exist")
    }
    guard isDirectory.boolValue else {
      throw CAError(.unreadable, file: directory, "is not a directory")
    }
    let files = CAMaterial.PEMFiles(
      caCert: try CAFileReader.read(names[.caCert]),
      caKey: try CAFileReader.read(names[.caKey]),
      certChain: try CAFileReader.read(names[.certChain]),
      rootCert: try CAFileReader.read(names[.rootCert]))
    let material = try CAMaterial(pem: files, source: directory, now: now)
    logger.info(
      "loaded CA material",
      metadata: [
        "directory": "\(directory)",
        "signer": "\(material.signingCertificate.subjectDescription)",
        "signerNotAfter": "\(CertificateChecks.timestamp(material.signingCertificate.notValidAfter))",
        "roots": "\(material.rootCertificates.map(\.subjectDescription).joined(separator: "; "))",
        "chainLength": "\(material.certificateChain.count)",
      ])
    return material
  }
}

/// Reads one CA file as UTF-8 text, telling a missing file from an unreadable one.
package enum CAFileReader {
  /// Files larger than this are refused: PEM material for a CA is a few kilobytes.
  package static let maximumSize = 1 << 20

  package static func read(_ path: String) throws(CAError) -> String {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
      throw CAError(.missingFile, file: path, "does not exist")
    }
    guard !isDirectory.boolValue else {
      throw CAError(.unreadable, file: path, "is a directory, expected a PEM file")
    }
    guard let data = FileManager.default.contents(atPath: path) else {
      throw CAError(.unreadable, file: path, "cannot be read (check its permissions)")
    }
    guard data.count <= maximumSize else {
      throw CAError(.unreadable, file: path, "is \(data.count) bytes, more than a CA file may be (\(maximumSize))")
    }
    guard let text = String(data: data, encoding: .utf8) else {
      throw CAError(.invalidPEM, file: path, "is not UTF-8 text, so not PEM")
    }
    return text
  }
}
