import Foundation
import Logging
import ServiceLifecycle
import SextantKubeClient
import SextantPKI
import Synchronization

/// Watches Istio's plug-in CA Secret (`cacerts` in the system namespace) and hands over valid new material.
///
/// An informer lists and watches that one Secret (a `metadata.name` field selector, so `list` and `watch` on
/// Secrets in the namespace are needed, as for remote secrets). Whenever its content differs from the material in
/// use (`current` at start, then the last material handed over), it is verified with every check of `CAMaterial`
/// (`KubeCASecrets.material(from:now:)`):
/// - valid: `onChange` receives it (the control plane runs the watcher only when the CA came from `cacerts`: a
///   `cacerts` that appears while a self-signed root is in use takes effect at the next start, as with istiod);
/// - invalid: an error is logged naming the key and the failed check, and the material in use stays;
/// - deleted: a warning is logged, and the material in use stays (as istiod, Sextant does not fall back at runtime).
/// Connection failures are retried with backoff and logged once per change, as every informer does.
package final class CacertsWatcher: ServiceLifecycle.Service, Sendable {
  package let namespace: String
  package let secretName: String

  private let source: any ListWatchSource<Secret>
  private let watchTimeout: Duration
  private let backoff: Backoff
  private let sleep: @Sendable (Duration) async throws -> Void
  private let now: @Sendable () -> Date
  private let logger: Logger
  private let onChange: @Sendable (CAMaterial) async -> Void
  /// The PEM text of the material in use, as far as this watcher knows.
  private let inUse: Mutex<CAMaterial.PEMFiles?>

  /// A watcher of `namespace/cacerts` through `client` (the primary cluster's; its owner shuts it down).
  ///
  /// - Parameters:
  ///   - current: The PEM text of the material in use (`KubeCASecrets.Loaded.files`): equal content is not
  ///     handed over again. Nil hands over the first valid `cacerts` seen.
  ///   - options: `watchTimeout` and `backoffCap` are used.
  ///   - now: When validity periods are checked.
  ///   - onChange: Receives each valid new material (for example to `MeshCA.replace`).
  package convenience init(
    client: KubeClient,
    namespace: String = "istio-system",
    current: CAMaterial.PEMFiles?,
    options: KubeSourceOptions = KubeSourceOptions(),
    now: @escaping @Sendable () -> Date = { Date() },
    logger: Logger,
    onChange: @escaping @Sendable (CAMaterial) async -> Void
  ) {
    self.init(
      source: NamedSecretSource(client: client, namespace: namespace, name: KubeCASecrets.pluggedSecretName),
      namespace: namespace, current: current, watchTimeout: options.watchTimeout,
      backoff: Backoff(cap: options.backoffCap), now: now, logger: logger, onChange: onChange)
  }

  /// A watcher over any list-watch source of the Secret (tests script one).
  ///
  /// - Parameter sleep: Waits between retries (tests inject one that returns at once).
  package init(
    source: any ListWatchSource<Secret>,
    namespace: String = "istio-system",
    secretName: String = KubeCASecrets.pluggedSecretName,
    current: CAMaterial.PEMFiles?,
    watchTimeout: Duration = .seconds(300),
    backoff: Backoff = Backoff(),
    sleep: @escaping @Sendable (Duration) async throws -> Void = { try await Task.sleep(for: $0) },
    now: @escaping @Sendable () -> Date = { Date() },
    logger: Logger,
    onChange: @escaping @Sendable (CAMaterial) async -> Void
  ) {
    self.source = source
    self.namespace = namespace
    self.secretName = secretName
    self.inUse = Mutex(current)
    self.watchTimeout = watchTimeout
    self.backoff = backoff
    self.sleep = sleep
    self.now = now
    self.logger = logger
    self.onChange = onChange
  }

  /// Watches until the task is cancelled or graceful shutdown begins.
  package func run() async throws {
    await cancelWhenGracefulShutdown { await self.watch() }
  }

  /// Watches until the task is cancelled (`run` without graceful-shutdown handling).
  package func watch() async {
    let informer = Informer(
      source: source, name: "Secret \(namespace)/\(secretName)", watchTimeout: watchTimeout, backoff: backoff,
      transform: { secret in
        var secret = secret
        secret.metadata.resourceVersion = nil
        return secret
      },
      logger: logger, sleep: sleep)
    await informer.run(
      onChange: { change in
        for secret in change.upserted where secret.metadata.name == self.secretName {
          await self.consider(secret)
        }
        if change.deleted.contains(where: { $0.name == self.secretName }) {
          self.logger.warning(
            "the plug-in CA Secret was deleted; the CA in use stays",
            metadata: ["secret": "\(self.namespace)/\(self.secretName)"])
        }
      },
      onState: { _ in })
  }

  private func consider(_ secret: Secret) async {
    let material: CAMaterial
    let files: CAMaterial.PEMFiles
    do throws(CAError) {
      (material, files) = try KubeCASecrets.material(from: secret, now: now())
    } catch {
      logger.error(
        "refusing the changed plug-in CA Secret; the CA in use stays",
        metadata: [
          "secret": "\(namespace)/\(secretName)", "file": "\(error.file)", "check": "\(error.code.rawValue)",
          "error": "\(error.description)",
        ])
      return
    }
    let changed = inUse.withLock { inUse in
      guard inUse != files else { return false }
      inUse = files
      return true
    }
    guard changed else { return }
    logger.info(
      "the plug-in CA Secret changed; handing over the new CA material",
      metadata: ["secret": "\(namespace)/\(secretName)"])
    await onChange(material)
  }
}
