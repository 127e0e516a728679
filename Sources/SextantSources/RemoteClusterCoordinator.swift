import Logging
import SextantKube
import SextantKubeClient
import SextantRegistry

/// The remote-secret controller's bookkeeping: which runner serves each remote cluster, which replacement is
/// syncing beside it, and what reaches the registry.
///
/// Every call is one atomic step: `RemoteClusterPlan` decides, then the decision's actions are performed (runners
/// created or stopped, registry written, cluster IDs released), all without a suspension point. The coordinator
/// runs on the registry's executor, so it writes the registry synchronously (`assumeIsolated`) instead of awaiting
/// it; calls from the controller and from every runner therefore take effect one at a time, whole, in the order they
/// arrive, and never interleave with each other's registry writes.
actor RemoteClusterCoordinator {
  /// How the coordinator signs its claims on cluster IDs (see `RemoteClusterPlan.owner`).
  static let owner = RemoteClusterPlan.owner

  private let registry: MeshRegistry
  private let owners: ClusterOwners
  private let options: RemoteClusterOptions
  private let clock: any Clock<Duration>
  private let logger: Logger
  private var plan: RemoteClusterPlan
  /// The runners started and not yet stopped, by generation.
  private var runners: [UInt64: RemoteClusterRunner] = [:]

  /// The registry's executor: a turn of the coordinator is a turn of the registry.
  nonisolated var unownedExecutor: UnownedSerialExecutor { registry.unownedExecutor }

  init(
    primaryClusterID: ClusterID,
    registry: MeshRegistry,
    owners: ClusterOwners,
    options: RemoteClusterOptions,
    clock: any Clock<Duration>,
    logger: Logger
  ) {
    self.registry = registry
    self.owners = owners
    self.options = options
    self.clock = clock
    self.logger = logger
    self.plan = RemoteClusterPlan(primaryClusterID: primaryClusterID, owners: owners, logger: logger)
  }

  /// Brings the running sources in line with the current secrets; returns the runners to start (each with
  /// `run(coordinator:)`). Nothing after `stopAll()`.
  func reconcile(_ secrets: [NamespacedName: Secret]) -> [RemoteClusterRunner] {
    perform(plan.reconcile(secrets))
  }

  /// Updates from a runner's source: applied when it serves the cluster, buffered while it is a replacement (its
  /// `synced` swaps it in and stops the old runner), ignored from a runner that was stopped.
  func deliver(_ runner: RemoteClusterRunner, _ updates: [ClusterSourceUpdate]) {
    perform(plan.deliver(runner.spec, updates))
  }

  /// A runner's connection state; only the serving runner's state is the cluster's state.
  func connection(_ runner: RemoteClusterRunner, _ state: KubeConnectionState) {
    perform(plan.connection(runner.spec, state))
  }

  /// The runner's kubeconfig cannot be used at all: the cluster is shown in `error`, and readiness does not wait for
  /// it (only a changed secret can fix it), as istiod does not.
  func failed(_ runner: RemoteClusterRunner, reason: String) {
    perform(plan.failed(runner.spec, reason: reason))
  }

  /// PILOT_REMOTE_CLUSTER_TIMEOUT passed for a runner: readiness stops waiting for its cluster unless it synced, or
  /// the runner no longer serves.
  func syncTimedOut(_ runner: RemoteClusterRunner) {
    let actions = plan.syncTimedOut(runner.spec)
    guard !actions.isEmpty else { return }
    perform(actions)
    logger.warning(
      "remote cluster did not sync in time; readiness no longer waits for it",
      metadata: [
        "cluster": "\(runner.clusterID)",
        "state": "\(registry.current.clusters[runner.clusterID]?.state.rawValue ?? "")",
      ]
    )
  }

  /// Stops every source at shutdown; the clusters stay known, in state `closed`, and later reports are ignored.
  func stopAll() {
    perform(plan.stopAll())
  }

  /// The API client of the remote cluster `clusterID` while its serving source runs (for TokenReviews); nil for a
  /// cluster no remote secret names, one whose kubeconfig is unusable, and after shutdown. Do not shut it down: it
  /// belongs to the cluster's runner (requests in flight when the cluster is removed fail with `cancelled`).
  func client(for clusterID: ClusterID) -> KubeClient? {
    plan.serving(clusterID).flatMap { runners[$0.generation]?.client }
  }

  /// The served clusters in ID order, for debug endpoints.
  func status() -> [RemoteClusterStatus] { plan.status() }

  /// Carries out one decision, in order; returns the runners it created.
  @discardableResult
  private func perform(_ actions: [RemoteClusterAction]) -> [RemoteClusterRunner] {
    var started: [RemoteClusterRunner] = []
    for action in actions {
      switch action {
      case .start(let spec):
        let runner = RemoteClusterRunner(spec: spec, options: options, clock: clock, logger: logger)
        runners[spec.generation] = runner
        started.append(runner)
      case .stop(let generation):
        runners.removeValue(forKey: generation)?.stop()
      case .apply(let updates):
        registry.assumeIsolated { $0.apply(updates) }
      case .report(let clusterID, let state, let reason):
        registry.assumeIsolated { _ = $0.report(cluster: clusterID, state: state, reason: reason) }
      case .expectKnownClusters:
        registry.expect(clusters: Set(registry.current.clusters.keys))
      case .expireInitialWait(let clusterID):
        registry.assumeIsolated { _ = $0.expireInitialWait(cluster: clusterID) }
      case .remove(let clusterID):
        registry.assumeIsolated { _ = $0.remove(cluster: clusterID) }
      case .release(let clusterID):
        owners.release(clusterID, owner: Self.owner)
      }
    }
    return started
  }
}
