import Logging
import ServiceLifecycle
import SextantKube
import SextantKubeClient
import SextantRegistry
import Synchronization

/// Watches remote secrets in the primary cluster's system namespace and runs one Kubernetes source per remote
/// cluster they name, as istiod's multicluster secret controller does.
///
/// Secrets labelled `istio/multiCluster=true`: every data key is a cluster ID, its value a kubeconfig (the format
/// `istioctl create-remote-secret` writes). A new key adds a cluster; a changed kubeconfig (by content hash) starts a
/// new source and swaps it in only once it has synced, the old one serving until then (make-before-break); a removed
/// key or secret stops the source and removes the cluster's services and endpoints. A key naming the primary cluster,
/// or a cluster another source feeds (`owners`: a clusters-directory subdirectory), is ignored with a warning. A bad kubeconfig or an unreachable server affects that cluster alone: it is shown in
/// `error` with the reason, and readiness stops waiting for it after `RemoteClusterOptions.syncTimeout`.
package final class RemoteSecretController: ServiceLifecycle.Service {
  private let watcher: SecretWatcher
  private let coordinator: RemoteClusterCoordinator
  private let owners: ClusterOwners
  private let options: RemoteClusterOptions
  private let logger: Logger

  /// - Throws: `KubeClientError` when the primary cluster's configuration cannot give a working TLS setup.
  package init(
    primaryConfig: KubeClientConfig,
    primaryClusterID: ClusterID,
    systemNamespace: String,
    registry: MeshRegistry,
    owners: ClusterOwners = ClusterOwners(),
    options: RemoteClusterOptions = .defaults,
    clock: any Clock<Duration> = ContinuousClock(),
    logger: Logger
  ) throws(KubeClientError) {
    // The watcher owns its client: created when it runs, shut down when it returns.
    self.watcher = try SecretWatcher(
      clusterID: primaryClusterID,
      config: primaryConfig,
      namespace: systemNamespace,
      labelSelector: options.secretLabelSelector,
      options: options.source,
      logger: logger
    )
    self.options = options
    self.logger = logger
    self.owners = owners
    self.coordinator = RemoteClusterCoordinator(
      primaryClusterID: primaryClusterID,
      registry: registry,
      owners: owners,
      options: options,
      clock: clock,
      logger: logger
    )
  }

  /// The remote clusters as the controller sees them, for debug endpoints.
  package func status() async -> [RemoteClusterStatus] { await coordinator.status() }

  /// The API client of the running remote cluster `clusterID` (for TokenReviews); nil when no remote secret names a
  /// usable cluster of that ID. The client belongs to the cluster: do not shut it down.
  package func client(for clusterID: ClusterID) async -> KubeClient? { await coordinator.client(for: clusterID) }

  package func run() async throws {
    let (secrets, secretsContinuation) = AsyncStream.makeStream(
      of: [NamespacedName: Secret].self,
      bufferingPolicy: .bufferingNewest(1)
    )
    let watcher = watcher
    let coordinator = coordinator
    let logger = logger
    let owners = owners
    // The secrets last seen, reconciled again when another source gives up a cluster ID (a key refused for it may
    // be served now).
    let latest = LatestSecrets()
    await withDiscardingTaskGroup { group in
      group.addTask {
        await watcher.run { current in
          latest.value.withLock { $0 = current }
          secretsContinuation.yield(current)
        } onState: { state in
          logger.debug("remote secret watch", metadata: ["state": "\(state)"])
        }
        secretsContinuation.finish()
      }
      group.addTask {
        for await _ in owners.releases {
          if let current = latest.value.withLock({ $0 }) { secretsContinuation.yield(current) }
        }
      }
      for await current in secrets.cancelOnGracefulShutdown() {
        for runner in await coordinator.reconcile(current) {
          group.addTask { await runner.run(coordinator: coordinator) }
        }
      }
      await coordinator.stopAll()
      group.cancelAll()
    }
  }
}

/// The remote secrets last listed, shared by the watch task and the task that reconciles again on released IDs.
private final class LatestSecrets: Sendable {
  let value = Mutex<[NamespacedName: Secret]?>(nil)
}

/// What the controller knows about one remote cluster.
package struct RemoteClusterStatus: Sendable, Hashable {
  package var clusterID: ClusterID
  /// `namespace/name` of the secret that names it.
  package var secret: String
  /// The content hash of the kubeconfig in use.
  package var kubeconfigHash: String
  /// True while a replacement kubeconfig is syncing beside the one in use.
  package var replacementPending: Bool
}
