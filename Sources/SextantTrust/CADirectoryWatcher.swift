import Crypto
import Foundation
import Logging
import Metrics
import ServiceLifecycle
import SextantPKI
import Synchronization

/// Re-reads Istio's plug-in CA directory (`--ca-dir`) periodically and installs valid new material in the `MeshCA`.
///
/// Every `interval` `check(now:)` hashes the four files (ca-cert.pem, ca-key.pem, cert-chain.pem, root-cert.pem;
/// SHA-256 over name, presence and bytes). When the hash differs from the last one seen, the files are loaded with
/// `PluggedCA.load` (every check `CAMaterial` documents): valid material replaces the mesh CA (`MeshCA.replace`, info
/// log); invalid material is refused with an error log naming the file and the failed check, and the CA in use stays.
/// Files whose content is unchanged are not loaded again, except refused content, which is retried silently at every
/// check (it may become valid, e.g. a notBefore in the future) and logged again only when the failed check or the
/// file it names changes.
/// Material equal to the CA in use (same signing certificate, chain and roots; the first check after start usually)
/// is not installed again, so `MeshCA.generation` moves only on a real change. Files being replaced one by one may be
/// refused once in between (a new ca-cert.pem with the old ca-key.pem); the next check picks up the complete set.
///
/// Metrics: `sextant_ca_reloads_total{result="ok"}` per replacement, `{result="refused"}` per distinct refusal.
/// `status` holds the last refusal (text and time) for debug endpoints. `check(now:)` does blocking file I/O (four
/// small files) and is serialized; call it from any task.
package final class CADirectoryWatcher: Service, Sendable {
  /// How often `run` checks unless told otherwise (5 seconds).
  package static let defaultInterval: Duration = .seconds(5)

  /// What one `check(now:)` did.
  package enum Outcome: Sendable, Hashable {
    /// The files' content is the one last seen and in use (or equal to the CA in use): nothing to do.
    case unchanged
    /// New valid material replaced the mesh CA; the associated value is the new `MeshCA.generation`.
    case reloaded(generation: UInt64)
    /// The files were refused for the first time (or with a new error), and the error was logged.
    case refused(CAError)
    /// The files were refused again, for the same check of the same file as last time; nothing was logged.
    case stillRefused(CAError)
  }

  /// The watcher's state, for debug endpoints.
  package struct Status: Sendable, Hashable {
    /// `CAError.description` of the last refusal (`FILE: MESSAGE`); kept after a later successful reload.
    package var lastError: String?
    /// When the last refusal happened.
    package var lastErrorAt: Date?
    /// Whether the files on disk now are refused (the CA in use is older than them).
    package var refusing: Bool
    /// When the mesh CA was last replaced by this watcher.
    package var lastReloadAt: Date?
    /// How many times this watcher replaced the mesh CA.
    package var reloads: Int
  }

  private struct State {
    /// Hash of the content last loaded (successfully or not); nil before the first check.
    var lastHash: SHA256Digest?
    /// The error the content with `lastHash` was refused with, if it was.
    var lastRefusal: CAError?
    var status = Status(lastError: nil, lastErrorAt: nil, refusing: false, lastReloadAt: nil, reloads: 0)
  }

  /// The plug-in CA directory.
  package let directory: String
  /// The interval between two checks in `run`.
  package let interval: Duration

  private let meshCA: MeshCA
  private let clock: any Clock<Duration>
  private let now: @Sendable () -> Date
  private let logger: Logger
  private let state = Mutex(State())

  /// Creates a watcher of `directory` for `meshCA`; nothing is read until `check(now:)` or `run`.
  ///
  /// - Parameters:
  ///   - interval: Time between checks in `run`.
  ///   - clock: What `run` sleeps on (tests inject their own, or call `check(now:)` directly).
  ///   - now: Wall-clock time, for certificate validity checks and for the authorities the watcher installs.
  ///   - logger: Receives replacements (info) and refusals (error).
  package init(
    directory: String, meshCA: MeshCA, interval: Duration = CADirectoryWatcher.defaultInterval,
    clock: any Clock<Duration> = ContinuousClock(), now: @escaping @Sendable () -> Date = { Date() },
    logger: Logger
  ) {
    self.directory = directory
    self.meshCA = meshCA
    self.interval = interval
    self.clock = clock
    self.now = now
    self.logger = logger
  }

  /// The last refusal and the reload count.
  package var status: Status { state.withLock { $0.status } }

  /// Checks every `interval` until the task is cancelled or graceful shutdown begins.
  package func run() async throws {
    await cancelWhenGracefulShutdown {
      while !Task.isCancelled {
        _ = self.check(now: self.now())
        do {
          try await self.clock.sleep(for: self.interval)
        } catch {
          return
        }
      }
    }
  }

  /// Hashes the files and, when their content changed (or was refused before), loads and installs or refuses them.
  ///
  /// `now` is the time certificate validity is checked at.
  @discardableResult
  package func check(now: Date) -> Outcome {
    state.withLock { state in check(&state, now: now) }
  }

  private func check(_ state: inout State, now: Date) -> Outcome {
    let hash = contentHash()
    if hash == state.lastHash, state.lastRefusal == nil { return .unchanged }

    var quiet = logger
    quiet.logLevel = max(logger.logLevel, .warning)
    let material: CAMaterial
    do {
      material = try PluggedCA.load(directory: directory, now: now, logger: quiet)
    } catch {
      // Same content, same check and file: the message may differ only by the time it quotes.
      let repeated =
        hash == state.lastHash && state.lastRefusal?.code == error.code && state.lastRefusal?.file == error.file
      state.lastHash = hash
      state.lastRefusal = error
      if repeated { return .stillRefused(error) }
      state.status.lastError = error.description
      state.status.lastErrorAt = now
      state.status.refusing = true
      Counter(label: "sextant_ca_reloads_total", dimensions: [("result", "refused")]).increment()
      logger.error(
        "refusing the new CA material; the CA in use stays",
        metadata: [
          "directory": "\(directory)", "file": "\(error.file)", "check": "\(error.code.rawValue)",
          "error": "\(error.description)",
        ])
      return .refused(error)
    }
    state.lastHash = hash
    state.lastRefusal = nil
    state.status.refusing = false

    let current = meshCA.authority.material
    if current.signingCertificate == material.signingCertificate
      && current.certificateChain == material.certificateChain
      && current.rootCertificates == material.rootCertificates
    {
      return .unchanged
    }
    let rootsChanged = current.rootCertificates != material.rootCertificates
    meshCA.replace(CertificateAuthority(material: material, logger: logger, now: self.now))
    let generation = meshCA.generation
    state.status.lastReloadAt = now
    state.status.reloads += 1
    Counter(label: "sextant_ca_reloads_total", dimensions: [("result", "ok")]).increment()
    logger.info(
      "replaced the mesh CA with new material from the CA directory",
      metadata: [
        "directory": "\(directory)", "generation": "\(generation)",
        "signer": "\(material.signingCertificate.subjectDescription)",
        "signerNotAfter": "\(CertificateChecks.timestamp(material.signingCertificate.notValidAfter))",
        "rootsChanged": "\(rootsChanged)",
      ])
    if rootsChanged {
      logger.warning(
        "the new CA material has different roots: workloads trust the new root only once they received it",
        metadata: ["roots": "\(material.rootCertificates.map(\.subjectDescription).joined(separator: "; "))"])
    }
    return .reloaded(generation: generation)
  }

  /// SHA-256 over each file's name, a presence marker and its bytes (length-prefixed), in a fixed order.
  private func contentHash() -> SHA256Digest {
    let names = CAFileNames(source: directory)
    var hasher = SHA256()
    for file in [CAFile.caCert, .caKey, .certChain, .rootCert] {
      hasher.update(data: Array(file.rawValue.utf8) + [0])
      let path = names[file]
      let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? nil
      if let size, size > CAFileReader.maximumSize {
        // Too large to be CA material (the load refuses it): hash its size rather than reading it every check.
        hasher.update(data: Array("large:\(size)".utf8))
      } else if let data = FileManager.default.contents(atPath: path) {
        hasher.update(data: Array("present:\(data.count):".utf8))
        hasher.update(data: data)
      } else {
        hasher.update(data: Array("absent".utf8))
      }
    }
    return hasher.finalize()
  }
}
