import Crypto
import Foundation
import Synchronization
import Testing
import X509

@testable import SextantPKI
@testable import SextantTrust

@Suite("Self-signed CA")
struct SelfSignedCATests {
  @Test("the first start creates a P-256 root in Istio's layout; the second reuses it byte for byte")
  func createThenReuse() throws {
    try withTemporaryDirectory { parent in
      let directory = parent.path + "/ca"
      let created = try SelfSignedCA.loadOrCreate(
        directory: directory, trustDomain: "cluster.local", now: testNow, logger: quietLogger)
      let root = try #require(created.rootCertificates.first)
      #expect(created.rootCertificates.count == 1)
      #expect(created.signingCertificate == root)
      #expect(created.certificateChain == [root])
      #expect(root.isSelfSigned)
      #expect(P256.Signing.PublicKey(root.publicKey) != nil)
      #expect(root.subject.description.contains("CN=Sextant self-signed root"))
      #expect(SelfSignedCA.organization(of: root) == "cluster.local")
      #expect(abs(root.notValidAfter.timeIntervalSince(testNow) - 3650 * day) < 1)
      #expect(root.notValidBefore < testNow)
      #expect(try root.extensions.basicConstraints == .isCertificateAuthority(maxPathLength: nil))

      let names = CAFileNames(source: directory)
      for file in CAFile.allCases {
        #expect(FileManager.default.fileExists(atPath: names[file]), "\(file.rawValue)")
      }
      let keyMode = try FileManager.default.attributesOfItem(atPath: names[.caKey])[.posixPermissions] as? Int
      #expect(keyMode == 0o600)
      let before = try CAFile.allCases.map { try String(contentsOfFile: names[$0], encoding: .utf8) }

      let reused = try SelfSignedCA.loadOrCreate(
        directory: directory, trustDomain: "cluster.local", now: testNow + day, logger: quietLogger)
      #expect(reused.rootCertificates == created.rootCertificates)
      #expect(reused.rootCertificatesPEM == created.rootCertificatesPEM)
      #expect(reused.signingKey == created.signingKey)
      let after = try CAFile.allCases.map { try String(contentsOfFile: names[$0], encoding: .utf8) }
      #expect(after == before)
    }
  }

  @Test("a stored root is checked like plugged material: expired is an error, not a silent replacement")
  func expiredStoredRoot() throws {
    try withTemporaryDirectory { directory in
      _ = try SelfSignedCA.loadOrCreate(
        directory: directory.path, trustDomain: "cluster.local", now: testNow, logger: quietLogger)
      let before = try String(contentsOfFile: directory.file(.caCert), encoding: .utf8)
      let error = try #require(
        caError { () throws(CAError) in
          try SelfSignedCA.loadOrCreate(
            directory: directory.path, trustDomain: "cluster.local", now: testNow + 11 * year, logger: quietLogger)
        })
      #expect(error.code == .expired)
      #expect(error.file == directory.file(.caCert))
      #expect(try String(contentsOfFile: directory.file(.caCert), encoding: .utf8) == before)
    }
  }

  @Test("a damaged stored key is an error naming ca-key.pem")
  func damagedStoredKey() throws {
    try withTemporaryDirectory { directory in
      _ = try SelfSignedCA.loadOrCreate(
        directory: directory.path, trustDomain: "cluster.local", now: testNow, logger: quietLogger)
      directory.write(TestPKI.ecdsa.cluster1.key.pem(.p256PKCS8), to: .caKey)
      let error = try #require(
        caError { () throws(CAError) in
          try SelfSignedCA.loadOrCreate(
            directory: directory.path, trustDomain: "cluster.local", now: testNow, logger: quietLogger)
        })
      #expect(error.code == .keyMismatch)
      #expect(error.file == directory.file(.caKey))
    }
  }

  @Test("leftovers of an interrupted creation (no ca-cert.pem) are replaced by a complete new root")
  func interruptedCreation() throws {
    try withTemporaryDirectory { directory in
      directory.write("leftover", to: .caKey)
      directory.write("leftover", to: .rootCert)
      let material = try SelfSignedCA.loadOrCreate(
        directory: directory.path, trustDomain: "example.org", now: testNow, logger: quietLogger)
      #expect(SelfSignedCA.organization(of: material.signingCertificate) == "example.org")
      #expect(try String(contentsOfFile: directory.file(.rootCert), encoding: .utf8) == material.rootCertificatesPEM)
    }
  }

  @Test("two directories give two different roots")
  func distinctRoots() throws {
    try withTemporaryDirectory { first in
      try withTemporaryDirectory { second in
        let a = try SelfSignedCA.loadOrCreate(
          directory: first.path, trustDomain: "cluster.local", now: testNow, logger: quietLogger)
        let b = try SelfSignedCA.loadOrCreate(
          directory: second.path, trustDomain: "cluster.local", now: testNow, logger: quietLogger)
        #expect(a.rootCertificates != b.rootCertificates)
      }
    }
  }

  @Test("an invalid trust domain is refused before anything is written")
  func invalidTrustDomain() throws {
    try withTemporaryDirectory { directory in
      let error = try #require(
        caError { () throws(CAError) in
          try SelfSignedCA.loadOrCreate(
            directory: directory.path, trustDomain: "Not A Domain", now: testNow, logger: quietLogger)
        })
      #expect(error.code == .invalidTrustDomain)
      #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path).isEmpty)
    }
  }

  @Test("two concurrent first starts on one directory end with one root")
  func concurrentCreation() throws {
    for _ in 0..<10 {
      try withTemporaryDirectory { parent in
        let directory = parent.path + "/ca"
        let results = Mutex<[Result<CAMaterial, CAError>]>([])
        DispatchQueue.concurrentPerform(iterations: 2) { _ in
          let result = Result { () throws(CAError) -> CAMaterial in
            try SelfSignedCA.loadOrCreate(
              directory: directory, trustDomain: "cluster.local", now: testNow, logger: quietLogger)
          }
          results.withLock { $0.append(result) }
        }
        let materials = try results.withLock { $0 }.map { try $0.get() }
        try #require(materials.count == 2)
        #expect(materials[0].rootCertificates == materials[1].rootCertificates)
        #expect(materials[0].signingKey == materials[1].signingKey)
        let stored = try PluggedCA.load(directory: directory, now: testNow, logger: quietLogger)
        #expect(stored.rootCertificates == materials[0].rootCertificates)
        let files = try FileManager.default.contentsOfDirectory(atPath: directory)
        #expect(!files.contains { $0.contains(".tmp-") }, "\(files)")
      }
    }
  }

  @Test("temporaries left by a crashed run are removed at start; the key is mode 0600")
  func staleTemporaries() throws {
    try withTemporaryDirectory { directory in
      // A run that crashed while writing: its key's temporary, readable by others, and no ca-cert.pem.
      let staleKey = directory.file(.caKey) + ".tmp-1234567890"
      #expect(
        FileManager.default.createFile(
          atPath: staleKey, contents: Data("-----BEGIN PRIVATE KEY-----".utf8),
          attributes: [.posixPermissions: 0o644]))
      let unrelated = directory.path + "/notes.tmp-1"
      #expect(FileManager.default.createFile(atPath: unrelated, contents: Data()))
      _ = try SelfSignedCA.loadOrCreate(
        directory: directory.path, trustDomain: "cluster.local", now: testNow, logger: quietLogger)
      #expect(!FileManager.default.fileExists(atPath: staleKey))
      #expect(FileManager.default.fileExists(atPath: unrelated))
      let keyMode = try FileManager.default.attributesOfItem(atPath: directory.file(.caKey))[.posixPermissions] as? Int
      #expect(keyMode == 0o600)

      // Later starts, which load the stored root, remove them too.
      let staleRoot = directory.file(.rootCert) + ".tmp-42"
      #expect(FileManager.default.createFile(atPath: staleRoot, contents: Data()))
      _ = try SelfSignedCA.loadOrCreate(
        directory: directory.path, trustDomain: "cluster.local", now: testNow, logger: quietLogger)
      #expect(!FileManager.default.fileExists(atPath: staleRoot))
    }
  }
}
