import Logging
import SextantKube
import Synchronization

/// Watches the Secrets of one namespace that match a label selector (by default Istio's remote secrets,
/// `istio/multiCluster=true`) and reports the whole matching set after every change.
///
/// `onChange` receives every matching Secret, keyed by namespace and name: once after the first list (possibly
/// empty), then after each change (a list that changed nothing, or a write that changed nothing Sextant reads, is
/// not reported). `onState` receives `.synced`, `.error(reason)` and `.synced` again, on changes only; the initial
/// state is `.syncing` (reported at start). While in error the last set stays valid and nothing is reported.
/// `metadata.resourceVersion` is cleared in the Secrets handed over.
///
/// `run` returns when its task is cancelled, after shutting down the client it created (a client passed in is left
/// to its owner).
package final class SecretWatcher: Sendable {
  /// The label istiod's remote secrets carry.
  package static let multiClusterLabelSelector = "istio/multiCluster=true"

  package let clusterID: String
  package let namespace: String
  package let labelSelector: String
  package let options: KubeSourceOptions

  private enum Connection: Sendable {
    case client(KubeClientOwnership)
    case source(any ListWatchSource<Secret>)
  }

  private let connection: Connection
  private let logger: Logger

  /// A watcher using `client` (typically the primary cluster's), which its owner shuts down.
  ///
  /// - Parameters:
  ///   - clusterID: Names the cluster in errors and logs; defaults to the client's.
  ///   - namespace: Defaults to `options.systemNamespace`.
  package convenience init(
    clusterID: String? = nil,
    client: KubeClient,
    namespace: String? = nil,
    labelSelector: String = SecretWatcher.multiClusterLabelSelector,
    options: KubeSourceOptions = KubeSourceOptions(),
    logger: Logger
  ) {
    self.init(
      clusterID: clusterID ?? client.clusterID, connection: .client(.shared(client)),
      namespace: namespace ?? options.systemNamespace,
      labelSelector: labelSelector, options: options, logger: logger)
  }

  /// A watcher with its own client, created by `run` and shut down when it returns.
  ///
  /// - Throws: `KubeClientError` (`invalidConfiguration`) when the configuration cannot give a working TLS setup.
  package convenience init(
    clusterID: String,
    config: KubeClientConfig,
    namespace: String? = nil,
    labelSelector: String = SecretWatcher.multiClusterLabelSelector,
    options: KubeSourceOptions = KubeSourceOptions(),
    logger: Logger
  ) throws(KubeClientError) {
    _ = try KubeClient.tlsConfiguration(for: config, clusterID: clusterID)
    self.init(
      clusterID: clusterID, connection: .client(.owned(config)), namespace: namespace ?? options.systemNamespace,
      labelSelector: labelSelector, options: options, logger: logger)
  }

  /// A watcher over a given list-watch source (tests).
  convenience init(
    clusterID: String, source: any ListWatchSource<Secret>, namespace: String, options: KubeSourceOptions,
    logger: Logger
  ) {
    self.init(
      clusterID: clusterID, connection: .source(source), namespace: namespace,
      labelSelector: Self.multiClusterLabelSelector, options: options, logger: logger)
  }

  private init(
    clusterID: String, connection: Connection, namespace: String, labelSelector: String, options: KubeSourceOptions,
    logger: Logger
  ) {
    var logger = logger
    logger[metadataKey: "cluster"] = "\(clusterID)"
    self.clusterID = clusterID
    self.connection = connection
    self.namespace = namespace
    self.labelSelector = labelSelector
    self.options = options
    self.logger = logger
  }

  /// Lists and watches until the task is cancelled; see the type's documentation.
  package func run(
    onChange: @Sendable ([NamespacedName: Secret]) async -> Void,
    onState: @Sendable (KubeConnectionState) async -> Void
  ) async {
    switch connection {
    case .client(let ownership):
      await ownership.withClient(clusterID: clusterID, options: options.client, logger: logger) { client in
        await run(source: source(client), onChange: onChange, onState: onState)
      }
    case .source(let source):
      await run(source: source, onChange: onChange, onState: onState)
    }
  }

  private func source(_ client: KubeClient) -> KubeResourceClient<Secret> {
    KubeResourceClient<Secret>(
      client: client, resource: .secrets(in: namespace), labelSelector: labelSelector, clusterID: clusterID)
  }

  private final class Store: Sendable {
    let secrets = Mutex<[NamespacedName: Secret]>([:])
  }

  private func run(
    source: any ListWatchSource<Secret>,
    onChange: @Sendable ([NamespacedName: Secret]) async -> Void,
    onState: @Sendable (KubeConnectionState) async -> Void
  ) async {
    await onState(.syncing)
    let store = Store()
    let informer = Informer(
      source: source, name: "Secrets (\(labelSelector))", watchTimeout: options.watchTimeout,
      backoff: options.backoff,
      transform: { secret in
        var secret = secret
        secret.metadata.resourceVersion = nil
        return secret
      },
      logger: logger, sleep: options.sleep)
    await informer.run(
      onChange: { change in
        let current = store.secrets.withLock { secrets in
          for key in change.deleted { secrets[key] = nil }
          for secret in change.upserted { secrets[secret.name] = secret }
          return secrets
        }
        await onChange(current)
      },
      onState: { state in
        switch state {
        case .syncing: await onState(.syncing)
        case .synced: await onState(.synced)
        case .error(let error): await onState(.error("Secrets: \(error.message)"))
        }
      })
  }
}
