import Foundation
import Testing
import X509

@testable import SextantPKI
@testable import SextantTrust

@Suite("Plugged CA material (Istio's cacerts layout)")
struct PluggedCATests {
  @Test(
    "cluster1's files load in every key format, with and without the root in cert-chain.pem",
    arguments: KeyFormat.allCases)
  func loads(format: KeyFormat) throws {
    let pki = TestPKI.shared(format)
    for includesRoot in [true, false] {
      try withTemporaryDirectory { directory in
        directory.write(pki.files(for: pki.cluster1, chainIncludesRoot: includesRoot))
        let material = try PluggedCA.load(directory: directory.path, now: testNow, logger: quietLogger)
        #expect(material.signingCertificate == pki.cluster1.certificate)
        #expect(material.signingKey.publicKey == pki.cluster1.certificate.publicKey)
        #expect(
          material.certificateChain
            == (includesRoot ? [pki.cluster1.certificate, pki.root.certificate] : [pki.cluster1.certificate]))
        #expect(material.rootCertificates == [pki.root.certificate])
        #expect(material.rootCertificatesPEM == pki.root.pem)
        #expect(material.source == directory.path)
      }
    }
  }

  @Test(
    "the root as signing certificate with an empty cert-chain.pem (Istio's instructions) loads; an intermediate does not"
  )
  func emptyChainForTheRootItself() throws {
    let pki = TestPKI.ecdsa
    let rootItself = CAMaterial.PEMFiles(
      caCert: pki.root.pem, caKey: pki.root.key.pem(pki.format), certChain: "\n", rootCert: pki.root.pem)
    let material = try CAMaterial(pem: rootItself, source: "dir", now: testNow)
    #expect(material.certificateChain == [pki.root.certificate])
    var intermediate = pki.files(for: pki.cluster1)
    intermediate.certChain = ""
    #expect(throws: CAError.self) { try CAMaterial(pem: intermediate, source: "dir", now: testNow) }
  }

  @Test("the key file's PEM type is the one the format names")
  func keyFormats() {
    #expect(TestPKI.rsa.cluster1.key.pem(.rsaPKCS1).hasPrefix("-----BEGIN RSA PRIVATE KEY-----"))
    #expect(TestPKI.rsa.cluster1.key.pem(.rsaPKCS8).hasPrefix("-----BEGIN PRIVATE KEY-----"))
    #expect(TestPKI.ecdsa.cluster1.key.pem(.p256PKCS8).hasPrefix("-----BEGIN PRIVATE KEY-----"))
    #expect(TestPKI.shared(.p384SEC1).cluster1.key.pem(.p384SEC1).hasPrefix("-----BEGIN EC PRIVATE KEY-----"))
    #expect(
      TestPKI.shared(.p256SEC1WithParameters).cluster1.key.pem(.p256SEC1WithParameters)
        .hasPrefix("-----BEGIN EC PARAMETERS-----"))
  }

  @Test("both clusters' material from one root loads, and the roots are the same")
  func twoClusters() throws {
    let pki = TestPKI.ecdsa
    let first = try CAMaterial(pem: pki.files(for: pki.cluster1), source: "cluster1", now: testNow)
    let second = try CAMaterial(pem: pki.files(for: pki.cluster2), source: "cluster2", now: testNow)
    #expect(first.rootCertificates == second.rootCertificates)
    #expect(first.signingCertificate != second.signingCertificate)
  }

  @Test("a deeper chain (root, middle, deep) loads when cert-chain.pem holds every link")
  func deepChain() throws {
    let pki = TestPKI.ecdsa
    let files = CAMaterial.PEMFiles(
      caCert: pki.deep.pem, caKey: pki.deep.key.pem(pki.format),
      certChain: pki.deep.pem + pki.middle.pem + pki.root.pem, rootCert: pki.root.pem)
    let material = try CAMaterial(pem: files, source: "deep", now: testNow)
    #expect(material.certificateChain.count == 3)
  }

  @Test("text around PEM blocks (openssl x509 -text output) is ignored")
  func textAroundBlocks() throws {
    let pki = TestPKI.ecdsa
    var files = pki.files(for: pki.cluster1)
    files.caCert = "Certificate:\n    Data: ...\n" + files.caCert
    _ = try CAMaterial(pem: files, source: "text", now: testNow)
  }

  // MARK: - Broken sets: one error, with the file and the check

  @Test(
    "cluster2's key with cluster1's certificate is a key mismatch in ca-key.pem",
    arguments: [KeyFormat.p256PKCS8, .rsaPKCS1])
  func wrongKey(format: KeyFormat) throws {
    let pki = TestPKI.shared(format)
    try withTemporaryDirectory { directory in
      var files = pki.files(for: pki.cluster1)
      files.caKey = pki.cluster2.key.pem(format)
      directory.write(files)
      let error = try #require(
        caError { () throws(CAError) in
          try PluggedCA.load(directory: directory.path, now: testNow, logger: quietLogger)
        })
      #expect(error.code == .keyMismatch)
      #expect(error.file == directory.file(.caKey))
      #expect("\(error)".hasPrefix("\(directory.path)/ca-key.pem: the private key does not match"))
    }
  }

  @Test("an expired or not yet valid intermediate names ca-cert.pem", arguments: [KeyFormat.p256PKCS8, .rsaPKCS1])
  func expiredIntermediate(format: KeyFormat) throws {
    let pki = TestPKI.shared(format)
    let files = pki.files(for: pki.cluster1)
    // The intermediate is valid for 2 years, the root for 10.
    let expired = try #require(
      caError { () throws(CAError) in
        try CAMaterial(pem: files, source: "ca-dir", now: testNow + 3 * year)
      })
    #expect(expired.code == .expired)
    #expect(expired.file == "ca-dir/ca-cert.pem")
    #expect(expired.message.contains("expired at"))

    let early = try #require(
      caError { () throws(CAError) in
        try CAMaterial(pem: files, source: "ca-dir", now: testNow - 2 * day)
      })
    #expect(early.code == .notYetValid)
    #expect(early.file == "ca-dir/ca-cert.pem")

    // Only the root expired (an intermediate outliving its root): the root's file is named.
    let longIntermediate = CertificateFactory.issue(
      "Long CA", key: pki.cluster1.key, by: pki.root, notAfter: testNow + 20 * year)
    let rootExpired = try #require(
      caError { () throws(CAError) in
        try CAMaterial(
          pem: .init(
            caCert: longIntermediate.pem, caKey: files.caKey, certChain: longIntermediate.pem + pki.root.pem,
            rootCert: pki.root.pem),
          source: "ca-dir", now: testNow + 11 * year)
      })
    #expect(rootExpired.code == .expired)
    #expect(rootExpired.file == "ca-dir/cert-chain.pem")
  }

  @Test("cert-chain.pem without the intermediate's issuer is a broken chain naming ca-cert.pem")
  func missingLink() throws {
    let pki = TestPKI.ecdsa
    let files = CAMaterial.PEMFiles(
      caCert: pki.deep.pem, caKey: pki.deep.key.pem(pki.format), certChain: pki.deep.pem + pki.root.pem,
      rootCert: pki.root.pem)
    let error = try #require(
      caError { () throws(CAError) in
        try CAMaterial(pem: files, source: "ca-dir", now: testNow)
      })
    #expect(error.code == .brokenChain)
    #expect(error.file == "ca-dir/ca-cert.pem")
    #expect(
      error.description
        == "ca-dir/ca-cert.pem: does not chain to root-cert.pem: ca-cert.pem was issued by CN=Middle CA,O=Istio, "
        + "but the next certificate, cert-chain.pem[1], is CN=Root CA,O=Istio")

    // The same without the root in cert-chain.pem: the last link is not issued by root-cert.pem.
    let short = CAMaterial.PEMFiles(
      caCert: pki.deep.pem, caKey: pki.deep.key.pem(pki.format), certChain: pki.deep.pem, rootCert: pki.root.pem)
    let shortError = try #require(
      caError { () throws(CAError) in
        try CAMaterial(pem: short, source: "ca-dir", now: testNow)
      })
    #expect(shortError.code == .brokenChain)
    #expect(shortError.file == "ca-dir/ca-cert.pem")
    #expect(shortError.message.contains("is an intermediate missing from cert-chain.pem?"))
  }

  @Test("an unrelated root in cert-chain.pem breaks the signature link", arguments: [KeyFormat.p256PKCS8, .rsaPKCS1])
  func unrelatedRootInChain(format: KeyFormat) throws {
    let pki = TestPKI.shared(format)
    var files = pki.files(for: pki.cluster1)
    // Same subject as the real root, different key.
    files.certChain = pki.cluster1.pem + pki.otherRoot.pem
    let error = try #require(
      caError { () throws(CAError) in
        try CAMaterial(pem: files, source: "ca-dir", now: testNow)
      })
    #expect(error.code == .brokenChain)
    #expect(
      error.description
        == "ca-dir/ca-cert.pem: does not chain to root-cert.pem: signature of ca-cert.pem does not verify with "
        + "cert-chain.pem[1]")
  }

  @Test("an unrelated root in root-cert.pem: cert-chain.pem ends at a root root-cert.pem does not hold")
  func unrelatedRootFile() throws {
    let pki = TestPKI.ecdsa
    var files = pki.files(for: pki.cluster1)
    files.rootCert = pki.otherRoot.pem
    let error = try #require(
      caError { () throws(CAError) in
        try CAMaterial(pem: files, source: "ca-dir", now: testNow)
      })
    #expect(error.code == .brokenChain)
    #expect(error.file == "ca-dir/ca-cert.pem")
    #expect(error.message.contains("cert-chain.pem[1] is a root (CN=Root CA,O=Istio) that is not in root-cert.pem"))

    // Without the root in cert-chain.pem, the intermediate's signature does not verify with root-cert.pem.
    files.certChain = pki.cluster1.pem
    let second = try #require(
      caError { () throws(CAError) in
        try CAMaterial(pem: files, source: "ca-dir", now: testNow)
      })
    #expect(second.code == .brokenChain)
    #expect(second.message.contains("signature of ca-cert.pem does not verify with root-cert.pem"))
  }

  @Test("cert-chain.pem must start with ca-cert.pem and end at the root")
  func chainLayout() throws {
    let pki = TestPKI.ecdsa
    var files = pki.files(for: pki.cluster1)
    files.certChain = pki.cluster2.pem + pki.root.pem
    let wrongStart = try #require(
      caError { () throws(CAError) in
        try CAMaterial(pem: files, source: "ca-dir", now: testNow)
      })
    #expect(wrongStart.code == .brokenChain)
    #expect(wrongStart.file == "ca-dir/cert-chain.pem")

    files.certChain = pki.cluster1.pem + pki.root.pem + pki.cluster2.pem
    let afterRoot = try #require(
      caError { () throws(CAError) in
        try CAMaterial(pem: files, source: "ca-dir", now: testNow)
      })
    #expect(afterRoot.code == .brokenChain)
    #expect(afterRoot.file == "ca-dir/cert-chain.pem")
    #expect(afterRoot.message.contains("1 certificate(s) follow it"))
  }

  @Test("ca-cert.pem that is not a CA (CA:FALSE, no basicConstraints, no keyCertSign) is refused")
  func notACA() throws {
    let pki = TestPKI.ecdsa
    let variants: [(BasicConstraints?, KeyUsage?, String)] = [
      (.notCertificateAuthority, KeyUsage(digitalSignature: true, keyCertSign: true), "basicConstraints CA:FALSE"),
      (nil, KeyUsage(keyCertSign: true), "has no basicConstraints extension"),
      (.isCertificateAuthority(maxPathLength: 0), KeyUsage(digitalSignature: true), "keyUsage without keyCertSign"),
      (.isCertificateAuthority(maxPathLength: 0), nil, "has no keyUsage extension"),
    ]
    for (constraints, usage, expected) in variants {
      let leaf = CertificateFactory.issue(
        "Not a CA", key: pki.cluster1.key, by: pki.root, basicConstraints: constraints, keyUsage: usage)
      let files = CAMaterial.PEMFiles(
        caCert: leaf.pem, caKey: leaf.key.pem(pki.format), certChain: leaf.pem + pki.root.pem, rootCert: pki.root.pem)
      let error = try #require(
        caError { () throws(CAError) in
          try CAMaterial(pem: files, source: "ca-dir", now: testNow)
        })
      #expect(error.code == .notACA)
      #expect(error.file == "ca-dir/ca-cert.pem")
      #expect(error.message.contains(expected), "\(error)")
    }
  }

  @Test("a root-cert.pem that is not self-signed is refused")
  func rootNotSelfSigned() throws {
    let pki = TestPKI.ecdsa
    var files = pki.files(for: pki.deep)
    files.certChain = pki.deep.pem + pki.middle.pem
    files.rootCert = pki.middle.pem
    let error = try #require(
      caError { () throws(CAError) in
        try CAMaterial(pem: files, source: "ca-dir", now: testNow)
      })
    #expect(error.code == .rootNotSelfSigned)
    #expect(error.file == "ca-dir/root-cert.pem")
  }

  @Test("each missing file is named", arguments: CAFile.allCases)
  func missingFile(file: CAFile) throws {
    let pki = TestPKI.ecdsa
    try withTemporaryDirectory { directory in
      directory.write(pki.files(for: pki.cluster1))
      try FileManager.default.removeItem(atPath: directory.file(file))
      let error = try #require(
        caError { () throws(CAError) in
          try PluggedCA.load(directory: directory.path, now: testNow, logger: quietLogger)
        })
      #expect(error.code == .missingFile)
      #expect(error.file == directory.file(file))
      #expect(error.description == "\(directory.path)/\(file.rawValue): does not exist")
    }
  }

  @Test("a missing directory, and a directory in a file's place")
  func missingDirectory() throws {
    let missing = try #require(
      caError { () throws(CAError) in
        try PluggedCA.load(directory: "/nonexistent/sextant-ca", now: testNow, logger: quietLogger)
      })
    #expect(missing.code == .missingFile)
    #expect(missing.file == "/nonexistent/sextant-ca")

    let pki = TestPKI.ecdsa
    try withTemporaryDirectory { directory in
      directory.write(pki.files(for: pki.cluster1))
      try FileManager.default.removeItem(atPath: directory.file(.rootCert))
      try FileManager.default.createDirectory(atPath: directory.file(.rootCert), withIntermediateDirectories: false)
      let error = try #require(
        caError { () throws(CAError) in
          try PluggedCA.load(directory: directory.path, now: testNow, logger: quietLogger)
        })
      #expect(error.code == .unreadable)
      #expect(error.file == directory.file(.rootCert))
    }
  }

  @Test(
    "garbage gives invalidPEM, notACertificate or notAKey for the file that holds it",
    arguments: [
      (CAFile.caCert, "hello, not PEM\n", CAError.Code.invalidPEM),
      (.caCert, "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n", .invalidPEM),
      (.caCert, "-----BEGIN CERTIFICATE-----\naGVsbG8gd29ybGQ=\n-----END CERTIFICATE-----\n", .notACertificate),
      (.certChain, "", .invalidPEM),
      (.rootCert, "-----BEGIN PRIVATE KEY-----\naGVsbG8gd29ybGQ=\n-----END PRIVATE KEY-----\n", .notACertificate),
      (.caKey, "garbage", .invalidPEM),
      (.caKey, "-----BEGIN PRIVATE KEY-----\naGVsbG8gd29ybGQ=\n-----END PRIVATE KEY-----\n", .notAKey),
      (
        .caKey, "-----BEGIN ENCRYPTED PRIVATE KEY-----\naGVsbG8gd29ybGQ=\n-----END ENCRYPTED PRIVATE KEY-----\n",
        .unsupportedKey
      ),
      (
        .caKey,
        "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-256-CBC,00112233445566778899AABBCCDDEEFF\n\n"
          + "aGVsbG8gd29ybGQ=\n-----END RSA PRIVATE KEY-----\n", .unsupportedKey
      ),
    ])
  func garbage(file: CAFile, content: String, code: CAError.Code) throws {
    let pki = TestPKI.ecdsa
    try withTemporaryDirectory { directory in
      directory.write(pki.files(for: pki.cluster1))
      directory.write(content, to: file)
      let error = try #require(
        caError { () throws(CAError) in
          try PluggedCA.load(directory: directory.path, now: testNow, logger: quietLogger)
        })
      #expect(error.code == code, "\(error)")
      #expect(error.file == directory.file(file))
    }
  }

  @Test("a certificate in ca-key.pem is not a key; two certificates in ca-cert.pem are refused")
  func wrongBlocks() throws {
    let pki = TestPKI.ecdsa
    var files = pki.files(for: pki.cluster1)
    files.caKey = pki.cluster1.pem
    let keyError = try #require(
      caError { () throws(CAError) in
        try CAMaterial(pem: files, source: "ca-dir", now: testNow)
      })
    #expect(keyError.code == .notAKey)
    #expect(keyError.file == "ca-dir/ca-key.pem")

    files = pki.files(for: pki.cluster1)
    files.caCert = pki.cluster1.pem + pki.root.pem
    let certError = try #require(
      caError { () throws(CAError) in
        try CAMaterial(pem: files, source: "ca-dir", now: testNow)
      })
    #expect(certError.code == .notACertificate)
    #expect(certError.file == "ca-dir/ca-cert.pem")
  }

  @Test("the first failing check wins: a wrong key is reported before an expired certificate")
  func checkOrder() throws {
    let pki = TestPKI.ecdsa
    var files = pki.files(for: pki.cluster1)
    files.caKey = pki.cluster2.key.pem(pki.format)
    let error = try #require(
      caError { () throws(CAError) in
        try CAMaterial(pem: files, source: "ca-dir", now: testNow + 3 * year)
      })
    #expect(error.code == .keyMismatch)
  }
}
