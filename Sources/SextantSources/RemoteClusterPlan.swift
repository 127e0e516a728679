import Logging
import SextantKube
import SextantKubeClient
import SextantRegistry

/// One runner the plan decided to start: a remote cluster, the kubeconfig to watch it with, and a generation.
struct RemoteClusterSpec: Sendable, Hashable {
  var clusterID: ClusterID
  /// Unique among the coordinator's runners: how a runner's reports are told from those of one it replaced.
  var generation: UInt64
  var kubeconfig: String
  /// `Kubeconfig.hash(of: kubeconfig)`: a changed hash is a changed kubeconfig.
  var kubeconfigHash: String
  /// `namespace/name` of the secret that names the cluster.
  var secret: String
}

/// One effect of a `RemoteClusterPlan` decision; the coordinator performs a decision's actions in order.
enum RemoteClusterAction: Sendable, Hashable {
  /// Start a runner for the spec (it serves or replaces as the plan recorded).
  case start(RemoteClusterSpec)
  /// Stop the runner of this generation.
  case stop(generation: UInt64)
  /// `MeshRegistry.apply(_:)` these updates.
  case apply([ClusterSourceUpdate])
  /// `MeshRegistry.report(cluster:state:reason:)`.
  case report(ClusterID, ClusterInfo.SyncState, reason: String = "")
  /// Declare every cluster the registry knows as expected, so readiness waits for one just added.
  case expectKnownClusters
  /// `MeshRegistry.expireInitialWait(cluster:)`.
  case expireInitialWait(ClusterID)
  /// `MeshRegistry.remove(cluster:)`.
  case remove(ClusterID)
  /// Give the cluster ID up in `ClusterOwners` (only after its `remove`, so the next owner keeps what it feeds).
  case release(ClusterID)
}

/// The remote-secret controller's decisions: which runner serves each remote cluster, which replacement syncs beside
/// it, and what must reach the registry. No I/O and no suspension.
///
/// Each call updates the plan and returns the actions that carry the decision out, to be performed in order before
/// the next call (`RemoteClusterCoordinator` does both in one turn). Runners are named by their `RemoteClusterSpec`;
/// reports from a runner that no longer serves or replaces are ignored. Cluster IDs are claimed in `owners` while
/// deciding; they are given up by `release` actions. After `stopAll()` every call is ignored.
struct RemoteClusterPlan {
  /// How the plan signs its claims on cluster IDs (one owner for every remote secret: a cluster moving from one
  /// secret to another stays claimed).
  static let owner = "a remote secret"

  private struct Serving {
    var spec: RemoteClusterSpec
    /// The registry's `hasSynced` for the cluster (only this plan feeds it).
    var hasSynced: Bool
  }

  private struct Replacement {
    var spec: RemoteClusterSpec
    /// The replacement's objects so far, applied when it has synced.
    var objects: ClusterObjects?
  }

  private struct Desired {
    var kubeconfig: String
    var hash: String
    var secret: String
  }

  private let primaryClusterID: ClusterID
  private let owners: ClusterOwners
  private let logger: Logger
  private var serving: [ClusterID: Serving] = [:]
  private var replacements: [ClusterID: Replacement] = [:]
  /// The last good decoding of each secret, kept when a later version does not decode (nothing is lost).
  private var lastGood: [NamespacedName: [ClusterID: [UInt8]]] = [:]
  private var warned: Set<String> = []
  /// The cluster IDs claimed in `owners` for the current secrets.
  private var claimed: Set<ClusterID> = []
  private var generation: UInt64 = 0
  private var stopped = false

  init(primaryClusterID: ClusterID, owners: ClusterOwners, logger: Logger) {
    self.primaryClusterID = primaryClusterID
    self.owners = owners
    self.logger = logger
  }

  // MARK: Decisions

  /// Brings the runners in line with the current secrets: removed clusters first (stopped, removed, released), then
  /// new clusters and changed kubeconfigs (make-before-break: a changed one gets a replacement beside the serving one).
  mutating func reconcile(_ secrets: [NamespacedName: Secret]) -> [RemoteClusterAction] {
    guard !stopped else { return [] }
    let desired = desiredClusters(secrets)
    // Given up only after their removal below, so a source that claims one next never loses what it feeds.
    let released = claimed.subtracting(desired.keys)
    claimed = Set(desired.keys)

    var actions: [RemoteClusterAction] = []
    for clusterID in Set(serving.keys).union(replacements.keys).sorted() where desired[clusterID] == nil {
      if let old = serving.removeValue(forKey: clusterID) { actions.append(.stop(generation: old.spec.generation)) }
      if let old = replacements.removeValue(forKey: clusterID) {
        actions.append(.stop(generation: old.spec.generation))
      }
      actions.append(.remove(clusterID))
      logger.info("remote cluster removed", metadata: ["cluster": "\(clusterID)"])
    }
    actions += released.sorted().map { .release($0) }

    for clusterID in desired.keys.sorted() {
      let want = desired[clusterID]!
      if serving[clusterID]?.spec.kubeconfigHash == want.hash {
        // Back to the kubeconfig in use: a replacement still syncing is no longer wanted.
        if let old = replacements.removeValue(forKey: clusterID) {
          actions.append(.stop(generation: old.spec.generation))
        }
        continue
      }
      if replacements[clusterID]?.spec.kubeconfigHash == want.hash { continue }
      generation += 1
      let spec = RemoteClusterSpec(
        clusterID: clusterID, generation: generation, kubeconfig: want.kubeconfig, kubeconfigHash: want.hash,
        secret: want.secret)
      if serving[clusterID] == nil {
        serving[clusterID] = Serving(spec: spec, hasSynced: false)
        actions += [.start(spec), .report(clusterID, .syncing), .expectKnownClusters]
        logger.info("remote cluster added", metadata: ["cluster": "\(clusterID)", "secret": "\(want.secret)"])
      } else {
        if let old = replacements.removeValue(forKey: clusterID) {
          actions.append(.stop(generation: old.spec.generation))
        }
        replacements[clusterID] = Replacement(spec: spec, objects: nil)
        actions.append(.start(spec))
        logger.info(
          "remote cluster kubeconfig changed; syncing the new one before switching",
          metadata: ["cluster": "\(clusterID)", "secret": "\(want.secret)"]
        )
      }
    }
    return actions
  }

  /// Updates from a runner's source: applied when it serves the cluster, buffered while it is a replacement; a
  /// replacement's `synced` swaps it in (its objects, then synced), then stops the runner it replaces.
  mutating func deliver(_ runner: RemoteClusterSpec, _ updates: [ClusterSourceUpdate]) -> [RemoteClusterAction] {
    guard !stopped else { return [] }
    let clusterID = runner.clusterID
    if var current = serving[clusterID], current.spec.generation == runner.generation {
      if updates.contains(where: { $0.event == .synced }) {
        current.hasSynced = true
        serving[clusterID] = current
      }
      return [.apply(updates)]
    }
    guard var replacement = replacements[clusterID], replacement.spec.generation == runner.generation else { return [] }
    var synced = false
    for update in updates {
      switch update.event {
      case .state(let objects): replacement.objects = objects
      case .synced: synced = true
      case .removed: replacement.objects = ClusterObjects()
      }
    }
    guard synced else {
      replacements[clusterID] = replacement
      return []
    }
    // Make-before-break: the new source has synced; switch to it, then stop the old one.
    replacements[clusterID] = nil
    let old = serving.updateValue(Serving(spec: runner, hasSynced: true), forKey: clusterID)
    logger.info("remote cluster switched to its new kubeconfig", metadata: ["cluster": "\(clusterID)"])
    var actions: [RemoteClusterAction] = [
      .apply([
        ClusterSourceUpdate(clusterID: clusterID, event: .state(replacement.objects ?? ClusterObjects())),
        ClusterSourceUpdate(clusterID: clusterID, event: .synced),
      ]),
      .report(clusterID, .synced),
    ]
    if let old { actions.append(.stop(generation: old.spec.generation)) }
    return actions
  }

  /// A runner's connection state; only the serving runner's state is the cluster's state.
  mutating func connection(_ runner: RemoteClusterSpec, _ state: KubeConnectionState) -> [RemoteClusterAction] {
    guard !stopped else { return [] }
    guard isServing(runner) else {
      if case .error(let reason) = state {
        logger.warning(
          "replacement kubeconfig cannot sync; the previous one keeps serving",
          metadata: ["cluster": "\(runner.clusterID)", "reason": "\(reason)"]
        )
      }
      return []
    }
    switch state {
    case .syncing: return [.report(runner.clusterID, .syncing)]
    case .synced: return [.report(runner.clusterID, .synced)]
    case .error(let reason): return [.report(runner.clusterID, .error, reason: reason)]
    }
  }

  /// The runner's kubeconfig cannot be used at all: a serving runner's cluster is shown in `error`, and readiness
  /// does not wait for it (only a changed secret can fix it), as istiod does not.
  mutating func failed(_ runner: RemoteClusterSpec, reason: String) -> [RemoteClusterAction] {
    guard !stopped else { return [] }
    logger.error(
      "remote cluster unusable",
      metadata: ["cluster": "\(runner.clusterID)", "secret": "\(runner.secret)", "reason": "\(reason)"])
    guard isServing(runner) else { return [] }
    return [.report(runner.clusterID, .error, reason: reason), .expireInitialWait(runner.clusterID)]
  }

  /// PILOT_REMOTE_CLUSTER_TIMEOUT passed for a runner: readiness stops waiting for its cluster if it serves and the
  /// cluster has not synced yet (else nothing).
  mutating func syncTimedOut(_ runner: RemoteClusterSpec) -> [RemoteClusterAction] {
    guard !stopped, let current = serving[runner.clusterID], current.spec.generation == runner.generation,
      !current.hasSynced
    else { return [] }
    return [.expireInitialWait(runner.clusterID)]
  }

  /// Shutdown: stops every runner; the served clusters stay known, in state `closed`. Every later call is ignored.
  mutating func stopAll() -> [RemoteClusterAction] {
    guard !stopped else { return [] }
    stopped = true
    var actions: [RemoteClusterAction] = []
    for clusterID in serving.keys.sorted() {
      actions += [.stop(generation: serving[clusterID]!.spec.generation), .report(clusterID, .closed)]
    }
    actions += replacements.keys.sorted().map { .stop(generation: replacements[$0]!.spec.generation) }
    return actions
  }

  // MARK: Readers

  /// The runner serving `clusterID`, if any.
  func serving(_ clusterID: ClusterID) -> RemoteClusterSpec? { serving[clusterID]?.spec }

  /// The served clusters in ID order, as the controller reports them.
  func status() -> [RemoteClusterStatus] {
    serving.keys.sorted().map { clusterID in
      let spec = serving[clusterID]!.spec
      return RemoteClusterStatus(
        clusterID: clusterID,
        secret: spec.secret,
        kubeconfigHash: spec.kubeconfigHash,
        replacementPending: replacements[clusterID] != nil
      )
    }
  }

  // MARK: Helpers

  private func isServing(_ runner: RemoteClusterSpec) -> Bool {
    serving[runner.clusterID]?.spec.generation == runner.generation
  }

  /// Each usable cluster ID the secrets name, with its kubeconfig; claims the IDs in `owners` and warns (once) about
  /// the keys left out.
  private mutating func desiredClusters(_ secrets: [NamespacedName: Secret]) -> [ClusterID: Desired] {
    var desired: [ClusterID: Desired] = [:]
    lastGood = lastGood.filter { secrets[$0.key] != nil }
    for key in secrets.keys.sorted() {
      let data: [ClusterID: [UInt8]]
      do {
        data = try secrets[key]!.decodedData()
        lastGood[key] = data
      } catch {
        warnOnce("secret \(key): \(error)", "remote secret does not decode; keeping the clusters it named before")
        data = lastGood[key] ?? [:]
      }
      for clusterID in data.keys.sorted() {
        if clusterID == primaryClusterID {
          warnOnce(
            "primary \(key) \(clusterID)", "remote secret names the primary cluster; ignored",
            ["secret": "\(key)", "cluster": "\(clusterID)"])
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
    return desired
  }

  private mutating func warnOnce(_ key: String, _ message: Logger.Message, _ metadata: Logger.Metadata = [:]) {
    if warned.insert(key).inserted {
      var metadata = metadata
      if metadata.isEmpty { metadata["detail"] = "\(key)" }
      logger.warning(message, metadata: metadata)
    }
  }
}
