import Foundation
import SextantTestSupport
import Testing
import X509

@testable import SextantPKI
@testable import SextantTrust

@Suite("CA directory watcher")
struct CADirectoryWatcherTests {
  let pki = TestPKI.ecdsa

  /// A mesh CA holding cluster1's material, as the daemon loads it at start.
  func cluster1MeshCA() throws -> MeshCA {
    let material = try CAMaterial(pem: pki.files(for: pki.cluster1), source: "cluster1", now: testNow)
    return MeshCA(CertificateAuthority(material: material, logger: quietLogger, now: { testNow }))
  }

  @Test("the material in use is not installed again; a valid replacement is")
  func acceptsReplacement() throws {
    try withTemporaryDirectory { directory in
      directory.write(pki.files(for: pki.cluster1))
      let meshCA = try cluster1MeshCA()
      let logs = LogRecorder()
      let watcher = CADirectoryWatcher(directory: directory.path, meshCA: meshCA, logger: logs.logger)

      #expect(watcher.check(now: testNow) == .unchanged)
      #expect(watcher.check(now: testNow) == .unchanged)
      #expect(meshCA.generation == 0)

      directory.write(pki.files(for: pki.cluster2))
      #expect(watcher.check(now: testNow) == .reloaded(generation: 1))
      #expect(meshCA.authority.material.signingCertificate == pki.cluster2.certificate)
      #expect(watcher.check(now: testNow) == .unchanged)
      #expect(watcher.status.reloads == 1)
      #expect(watcher.status.lastReloadAt == testNow)
      #expect(watcher.status.lastError == nil)
      #expect(
        logs.entries(at: .info).map(\.message) == [
          "replaced the mesh CA with new material from the CA directory"
        ])
    }
  }

  @Test("broken material is refused with the file and the check; the old CA stays", arguments: BrokenCase.allCases)
  func refusesBroken(broken: BrokenCase) throws {
    try withTemporaryDirectory { directory in
      directory.write(pki.files(for: pki.cluster1))
      let meshCA = try cluster1MeshCA()
      let logs = LogRecorder()
      let watcher = CADirectoryWatcher(directory: directory.path, meshCA: meshCA, logger: logs.logger)
      #expect(watcher.check(now: testNow) == .unchanged)

      directory.write(broken.files(pki))
      guard case .refused(let error) = watcher.check(now: testNow) else {
        Issue.record("expected a refusal")
        return
      }
      #expect(error.code == broken.expectedCode)
      #expect(error.file == directory.file(broken.expectedFile))
      #expect(meshCA.generation == 0)
      #expect(meshCA.authority.material.signingCertificate == pki.cluster1.certificate)

      let status = watcher.status
      #expect(status.refusing)
      #expect(status.lastError == error.description)
      #expect(status.lastErrorAt == testNow)
      let errors = logs.entries(at: .error)
      #expect(errors.count == 1)
      #expect(errors.first?.metadata["error"] == error.description)
      #expect(errors.first?.metadata["file"] == directory.file(broken.expectedFile))

      // The same broken content again: retried, not logged again.
      guard case .stillRefused(let again) = watcher.check(now: testNow + 5) else {
        Issue.record("expected a silent refusal")
        return
      }
      #expect(again.code == error.code && again.file == error.file)
      #expect(logs.entries(at: .error).count == 1)
      #expect(watcher.status.lastErrorAt == testNow)

      // Fixed: installed, and the last error is kept for the debug page.
      directory.write(pki.files(for: pki.cluster2))
      #expect(watcher.check(now: testNow + 10) == .reloaded(generation: 1))
      #expect(!watcher.status.refusing)
      #expect(watcher.status.lastError == error.description)
    }
  }

  @Test("refused content that becomes valid later (a notBefore in the future) is installed without a file change")
  func retriesRefusedContent() throws {
    let future = CertificateFactory.issue(
      "Future CA", key: .make(.p256PKCS8), by: pki.root, notBefore: testNow + day, notAfter: testNow + year)
    try withTemporaryDirectory { directory in
      directory.write(pki.files(for: future))
      let meshCA = try cluster1MeshCA()
      let watcher = CADirectoryWatcher(directory: directory.path, meshCA: meshCA, logger: quietLogger)
      guard case .refused(let error) = watcher.check(now: testNow) else {
        Issue.record("expected a refusal")
        return
      }
      #expect(error.code == .notYetValid)
      #expect(watcher.check(now: testNow + 2 * day) == .reloaded(generation: 1))
    }
  }

  @Test("run checks every interval on the injected clock")
  func runLoop() async throws {
    let directory = TemporaryDirectory()
    defer { directory.remove() }
    directory.write(pki.files(for: pki.cluster1))
    let meshCA = try cluster1MeshCA()
    let clock = ManualClock()
    let watcher = CADirectoryWatcher(
      directory: directory.path, meshCA: meshCA, interval: .seconds(5), clock: clock, now: { testNow },
      logger: quietLogger)
    let task = Task { try await watcher.run() }
    defer { task.cancel() }

    #expect(await eventually { clock.sleeping == 1 })
    directory.write(pki.files(for: pki.cluster2))
    #expect(meshCA.generation == 0)
    clock.advance(by: .seconds(5))
    #expect(await eventually { meshCA.generation == 1 })
    #expect(meshCA.authority.material.signingCertificate == pki.cluster2.certificate)
  }
}

/// Ways the plug-in files can be wrong.
enum BrokenCase: String, CaseIterable, Sendable, CustomStringConvertible {
  case wrongKey, expired, missingChainLink

  var description: String { rawValue }

  func files(_ pki: TestPKI) -> CAMaterial.PEMFiles {
    switch self {
    case .wrongKey:
      var files = pki.files(for: pki.cluster2)
      files.caKey = pki.cluster1.key.pem(pki.format)
      return files
    case .expired:
      let expired = CertificateFactory.issue(
        "Expired CA", key: .make(pki.format), by: pki.root, notBefore: testNow - 2 * year, notAfter: testNow - day)
      return pki.files(for: expired)
    case .missingChainLink:
      // deep is issued by middle, which cert-chain.pem leaves out.
      return CAMaterial.PEMFiles(
        caCert: pki.deep.pem, caKey: pki.deep.key.pem(pki.format), certChain: pki.deep.pem + pki.root.pem,
        rootCert: pki.root.pem)
    }
  }

  var expectedCode: CAError.Code {
    switch self {
    case .wrongKey: .keyMismatch
    case .expired: .expired
    case .missingChainLink: .brokenChain
    }
  }

  var expectedFile: CAFile {
    switch self {
    case .wrongKey: .caKey
    case .expired, .missingChainLink: .caCert
    }
  }
}
