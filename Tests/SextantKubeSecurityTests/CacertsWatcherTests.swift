import Foundation
import Logging
import SextantKubeClient
import SextantKubeSecurity
import SextantPKI
import SextantTestSupport
import Synchronization
import Testing

@Suite("CacertsWatcher")
struct CacertsWatcherTests {
  private func root() throws -> CAMaterial.PEMFiles {
    try SelfSignedCA.makeMaterialPEM(trustDomain: "example.org")
  }

  /// Runs a watcher over `source` until the script is used up; returns the roots handed over, in order.
  private func run(
    _ source: ScriptedSecretSource, current: CAMaterial.PEMFiles?, logs: LogRecorder
  ) async -> [[String]] {
    let handed = Mutex<[[String]]>([])
    let watcher = CacertsWatcher(
      source: source, current: current, sleep: { _ in }, logger: logs.logger,
      onChange: { material in handed.withLock { $0.append(material.rootCertificatePEMs) } })
    let task = Task { await watcher.watch() }
    await source.finished.wait()
    task.cancel()
    await task.value
    return handed.withLock { $0 }
  }

  @Test("content equal to the material in use is not handed over; valid changes are; invalid ones are logged")
  func changes() async throws {
    let first = try root()
    let second = try root()
    var broken = second
    broken.caKey = first.caKey
    let logs = LogRecorder()
    let source = ScriptedSecretSource(
      list: [caSecret("istio-system", "cacerts", first)],
      watches: [
        [[.modified(caSecret("istio-system", "cacerts", broken))]],
        [[.modified(caSecret("istio-system", "cacerts", second))]],
        [[.deleted(caSecret("istio-system", "cacerts", second))]],
      ])
    let handed = await run(source, current: first, logs: logs)
    #expect(handed == [[second.rootCert]])
    let errors = logs.entries(at: .error)
    #expect(errors.map(\.message) == ["refusing the changed plug-in CA Secret; the CA in use stays"])
    #expect(errors.first?.metadata["file"] == "secret istio-system/cacerts, key ca-key.pem")
    #expect(errors.first?.metadata["check"] == "keyMismatch")
    #expect(logs.messages(atLeast: .warning).contains("the plug-in CA Secret was deleted; the CA in use stays"))
  }

  @Test("cacerts appearing while a self-signed root is in use is handed over; a repeat of it is not")
  func appears() async throws {
    let selfSigned = try root()
    let plugged = try root()
    let source = ScriptedSecretSource(
      list: [],
      watches: [
        [[.added(caSecret("istio-system", "cacerts", plugged))]],
        [[.modified(caSecret("istio-system", "cacerts", plugged, type: "Opaque"))]],
      ])
    let handed = await run(source, current: selfSigned, logs: LogRecorder())
    #expect(handed == [[plugged.rootCert]])
  }
}
