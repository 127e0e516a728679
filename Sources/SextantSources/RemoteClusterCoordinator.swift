import Logging
import SextantKube
import SextantKubeClient
import SextantRegistry

/// The remote-secret controller's bookkeeping: which source serves each remote cluster, which replacement is
/// syncing beside it, and what reaches the registry. All decisions happen here, one at a time.
actor RemoteClusterCoordinator {
  private struct Pending {
    var runner: RemoteClusterRunner
    var objects: ClusterObjects?
  }

  private struct Desired {
    var kubeconfig: String
    var hash: String
    var secret: String
  }

  private let primaryClusterID: ClusterID
  private let registry: MeshRegistry
  private let owners: ClusterOwners
  /// How the coordinator signs its claims on cluster IDs (one owner for every remote secret: a cluster moving from
  /// one secret to another stays claimed).
  static let owner = "a remote secret"
  private let options: RemoteClusterOptions
  private let clock: any Clock<Duration>
  private let logger: Logger
  private var active: [ClusterID: RemoteClusterRunner] = [:]
  private var pending: [ClusterID: Pending] = [:]
  /// The last good decoding of each secret, kept when a later version does not decode (nothing is lost).
  private var lastGood: [NamespacedName: [ClusterID: [UInt8]]] = [:]
  private var warned: Set<String> = []
  /// The cluster IDs claimed in `owners` for the current secrets.
  private var claimed: Set<ClusterID> = []
  private var generation: UInt64 = 0

  init(
    primaryClusterID: ClusterID,
    registry: MeshRegistry,
    owners: ClusterOwners,
    options: RemoteClusterOptions,
    clock: any Clock<Duration>,
    logger: Logger
  ) {
    self.primaryClusterID = primaryClusterID
    self.registry = registry
    self.owners = owners
    self.options = options
    self.clock = clock
    self.logger = logger
  }

  /// Brings the running sources in line with the current secrets; returns the runners to start.
  func reconcile(_ secrets: [NamespacedName: Secret]) async -> [RemoteClusterRunner] {
    var desired: [ClusterID: Desired] = [:]
    lastGood = lastGood.filter { secrets[$0.key] != nil }
    for key in secrets.keys.sorted() {
      let secret = secrets[key]!
      let data: [ClusterID: [UInt8]]
      do {
        data = try secret.decodedData()
        lastGood[key] = data
      } catch {
        warnOnce("secret \(key): \(error)", "remote secret does not decode; keeping the clusters it named before")
        data = lastGood[key] ?? [:]
      }
      for clusterID in data.keys.sorted() {
        if clusterID == primaryClusterID {
          warnOnce("primary \(key) \(clusterID)", "remote secret names the primary cluster; ignored", ["secret": "\(key)", "cluster": "\(clusterID)"])
          continue
        }
        if let other = desired[clusterID] {
          warnOnce(
            "duplicate \(key) \(clusterID)",
            "cluster named by two remote secrets; the first (by name) wins",
            ["cluster": "\(clusterID)", "used": "\(other.secret)", "ignored": "\(key)"]
          )
          continue
        }
        if let other = owners.claim(clusterID, owner: Self.owner) {
          warnOnce(
            "owned \(key) \(clusterID) \(other)", "remote secret names a cluster another source feeds; ignored",
            ["secret": "\(key)", "cluster": "\(clusterID)", "owner": "\(other)"])
          continue
        }
        let text = String(decoding: data[clusterID]!, as: UTF8.self)
        desired[clusterID] = Desired(kubeconfig: text, hash: Kubeconfig.hash(of: text), secret: key.description)
      }
    }
    // Given up only after their removal below, so a source that claims one next never loses what it feeds.
    let released = claimed.subtracting(desired.keys)
    claimed = Set(desired.keys)

    // Removed clusters: stop everything and drop what they contributed.
    for clusterID in Set(active.keys).union(pending.keys) where desired[clusterID] == nil {
      active.removeValue(forKey: clusterID)?.stop()
      pending.removeValue(forKey: clusterID)?.runner.stop()
      await registry.remove(cluster: clusterID)
      logger.info("remote cluster removed", metadata: ["cluster": "\(clusterID)"])
    }
    for clusterID in released { owners.release(clusterID, owner: Self.owner) }

    var start: [RemoteClusterRunner] = []
    for clusterID in desired.keys.sorted() {
      let want = desired[clusterID]!
      if let current = active[clusterID], current.kubeconfigHash == want.hash {
        // Back to the kubeconfig in use: a replacement still syncing is no longer wanted.
        pending.removeValue(forKey: clusterID)?.runner.stop()
        continue
      }
      if pending[clusterID]?.runner.kubeconfigHash == want.hash { continue }
      generation += 1
      let runner = RemoteClusterRunner(
        clusterID: clusterID,
        generation: generation,
        kubeconfig: want.kubeconfig,
        kubeconfigHash: want.hash,
        secret: want.secret,
        options: options,
        clock: clock,
        logger: logger
      )
      if active[clusterID] == nil {
        active[clusterID] = runner
        await registry.report(cluster: clusterID, state: .syncing)
        registry.expect(clusters: Set(registry.current.clusters.keys))
        logger.info("remote cluster added", metadata: ["cluster": "\(clusterID)", "secret": "\(want.secret)"])
      } else {
        pending.removeValue(forKey: clusterID)?.runner.stop()
        pending[clusterID] = Pending(runner: runner, objects: nil)
        logger.info(
          "remote cluster kubeconfig changed; syncing the new one before switching",
          metadata: ["cluster": "\(clusterID)", "secret": "\(want.secret)"]
        )
      }
      start.append(runner)
    }
    return start
  }

  /// Updates from a runner's source: applied when it serves the cluster, buffered while it is a replacement.
  func deliver(_ runner: RemoteClusterRunner, _ updates: [ClusterSourceUpdate]) async {
    let clusterID = runner.clusterID
    if active[clusterID] === runner {
      await registry.apply(updates)
      return
    }
    guard var replacement = pending[clusterID], replacement.runner === runner else { return }
    var synced = false
    for update in updates {
      switch update.event {
      case .state(let objects): replacement.objects = objects
      case .synced: synced = true
      case .removed: replacement.objects = ClusterObjects()
      }
    }
    pending[clusterID] = replacement
    guard synced else { return }
    // Make-before-break: the new source has synced; switch to it, then stop the old one.
    pending[clusterID] = nil
    let old = active[clusterID]
    active[clusterID] = runner
    await registry.apply([
      ClusterSourceUpdate(clusterID: clusterID, event: .state(replacement.objects ?? ClusterObjects())),
      ClusterSourceUpdate(clusterID: clusterID, event: .synced),
    ])
    await registry.report(cluster: clusterID, state: .synced)
    old?.stop()
    logger.info("remote cluster switched to its new kubeconfig", metadata: ["cluster": "\(clusterID)"])
  }

  /// A runner's connection state; only the serving runner's state is the cluster's state.
  func connection(_ runner: RemoteClusterRunner, _ state: KubeConnectionState) async {
    guard active[runner.clusterID] === runner else {
      if case .error(let reason) = state {
        logger.warning(
          "replacement kubeconfig cannot sync; the previous one keeps serving",
          metadata: ["cluster": "\(runner.clusterID)", "reason": "\(reason)"]
        )
      }
      return
    }
    switch state {
    case .syncing: await registry.report(cluster: runner.clusterID, state: .syncing)
    case .synced: await registry.report(cluster: runner.clusterID, state: .synced)
    case .error(let reason): await registry.report(cluster: runner.clusterID, state: .error, reason: reason)
    }
  }

  /// The runner's kubeconfig cannot be used at all: the cluster is shown in `error`, and readiness does not wait for
  /// it (only a changed secret can fix it), as istiod does not.
  func failed(_ runner: RemoteClusterRunner, reason: String) async {
    logger.error("remote cluster unusable", metadata: ["cluster": "\(runner.clusterID)", "secret": "\(runner.secret)", "reason": "\(reason)"])
    if active[runner.clusterID] === runner {
      await registry.report(cluster: runner.clusterID, state: .error, reason: reason)
      await registry.expireInitialWait(cluster: runner.clusterID)
    }
  }

  /// PILOT_REMOTE_CLUSTER_TIMEOUT passed for a runner.
  func syncTimedOut(_ runner: RemoteClusterRunner) async {
    guard active[runner.clusterID] === runner, registry.current.clusters[runner.clusterID]?.hasSynced == false else {
      return
    }
    await registry.expireInitialWait(cluster: runner.clusterID)
    logger.warning(
      "remote cluster did not sync in time; readiness no longer waits for it",
      metadata: ["cluster": "\(runner.clusterID)", "state": "\(registry.current.clusters[runner.clusterID]?.state.rawValue ?? "")"]
    )
  }

  /// Stops every source at shutdown; the clusters stay known, in state `closed`.
  func stopAll() async {
    for (clusterID, runner) in active {
      runner.stop()
      await registry.report(cluster: clusterID, state: .closed)
    }
    for replacement in pending.values { replacement.runner.stop() }
  }

  /// The API client of the remote cluster `clusterID` while its serving source runs (for TokenReviews); nil for a
  /// cluster no remote secret names, one whose kubeconfig is unusable, and after shutdown. Do not shut it down: it
  /// belongs to the cluster's runner (requests in flight when the cluster is removed fail with `cancelled`).
  func client(for clusterID: ClusterID) -> KubeClient? {
    active[clusterID]?.client
  }

  func status() -> [RemoteClusterStatus] {
    active.keys.sorted().map { clusterID in
      let runner = active[clusterID]!
      return RemoteClusterStatus(
        clusterID: clusterID,
        secret: runner.secret,
        kubeconfigHash: runner.kubeconfigHash,
        replacementPending: pending[clusterID] != nil
      )
    }
  }

  private func warnOnce(_ key: String, _ message: Logger.Message, _ metadata: Logger.Metadata = [:]) {
    if warned.insert(key).inserted {
      var metadata = metadata
      if metadata.isEmpty { metadata["detail"] = "\(key)" }
      logger.warning(message, metadata: metadata)
    }
  }
}
