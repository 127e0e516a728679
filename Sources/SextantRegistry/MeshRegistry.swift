import Logging
import SextantKube
import Synchronization

/// The mesh-wide registry: one `ClusterView` per cluster, merged into published `MeshSnapshot`s.
///
/// Writers (`apply`, `markSynced`, `remove`) are serialized by the actor; each builds the new snapshot on the actor,
/// outside any lock, then publishes it by swapping it in under a `Mutex` held only for the swap. Readers use the
/// nonisolated `current`, `allSynced`, `updates()` and `subscribe()` without waiting for a writer.
///
/// A write that changes nothing (same view, same cluster info) publishes nothing and returns an empty change. A write
/// that only changes cluster info (e.g. `markSynced`) publishes a new snapshot with an empty `SnapshotChange`.
package actor MeshRegistry {
  /// A published snapshot and what changed from the one before (unlabelled, so it is the same type as
  /// `(MeshSnapshot, SnapshotChange)` everywhere).
  package typealias Update = (MeshSnapshot, SnapshotChange)

  private struct Published {
    var snapshot: MeshSnapshot = .empty
    /// nil until `expect(clusters:)` is called.
    var expected: Set<ClusterID>?
    var subscribers: [UInt64: AsyncStream<Update>.Continuation] = [:]
    var nextSubscriber: UInt64 = 0
  }

  package let options: RegistryOptions
  /// Answers the addresses of a gateway hostname at once, from the last background lookup (SextantSources'
  /// `GatewayHostnames`); a changed answer is reported with `gatewayHostnamesChanged(_:)`.
  private let resolve: @Sendable (String) -> [String]
  private let logger: Logger
  private var views: [ClusterID: ClusterView] = [:]
  /// The objects of each cluster whose view uses gateway hostnames, to rebuild it when their addresses change.
  private var objects: [ClusterID: ClusterObjects] = [:]
  /// The last published snapshot (the writer's copy, equal to `published.snapshot`).
  private var latest: MeshSnapshot = .empty
  private let published = Mutex(Published())

  package init(
    options: RegistryOptions = .defaults,
    resolve: @escaping @Sendable (String) -> [String] = { _ in [] },
    logger: Logger = Logger(label: "sextant.registry")
  ) {
    self.options = options
    self.resolve = resolve
    self.logger = logger
  }

  deinit {
    let subscribers = published.withLock { state in
      defer { state.subscribers = [:] }
      return Array(state.subscribers.values)
    }
    for subscriber in subscribers { subscriber.finish() }
  }

  // MARK: Writers

  /// Replaces `cluster`'s state with `objects` (registering the cluster, as `syncing`, if it is new).
  ///
  /// Only this cluster's endpoint shards are replaced; other clusters' shards are reused as they are.
  /// - Returns: the change published (empty when nothing changed).
  @discardableResult
  package func apply(cluster: ClusterID, objects: ClusterObjects) -> SnapshotChange {
    let view = ClusterRegistry.build(cluster: cluster, objects: objects, options: options, resolve: resolve)
    // Kept only where a rebuild may be needed without the source (a gateway hostname's answer changing).
    self.objects[cluster] = view.gatewayHostnames.isEmpty ? nil : objects
    return replace(cluster: cluster, with: view, syncStatus: latest.clusters[cluster]?.syncStatus ?? .initial)
  }

  /// Marks `cluster`'s initial load as finished (registering it with no objects if it was unknown).
  @discardableResult
  package func markSynced(cluster: ClusterID) -> SnapshotChange {
    replace(
      cluster: cluster,
      with: views[cluster] ?? .empty(cluster),
      syncStatus: (latest.clusters[cluster]?.syncStatus ?? .initial).markedSynced()
    )
  }

  /// Records a source-reported state (`error` with a reason, `timeout`, `closed`, or back to `synced` after an error)
  /// without touching the cluster's objects: its last known services and endpoints stay in force. `synced` before the
  /// first `markSynced` is recorded as `syncing`.
  @discardableResult
  package func report(cluster: ClusterID, state: ClusterInfo.SyncState, reason: String = "") -> SnapshotChange {
    // Only `markSynced` (the source's own "initial load done") makes a cluster synced the first time; a connection
    // that is up before its initial load finished is still syncing.
    replace(
      cluster: cluster,
      with: views[cluster] ?? .empty(cluster),
      syncStatus: (latest.clusters[cluster]?.syncStatus ?? .initial).reported(state, reason: reason)
    )
  }

  /// Stops readiness from waiting for `cluster`'s initial load (PILOT_REMOTE_CLUSTER_TIMEOUT passed). A cluster still
  /// `syncing` becomes `timeout`; one in `error` keeps its state and reason. No effect once the cluster has synced.
  @discardableResult
  package func expireInitialWait(cluster: ClusterID) -> SnapshotChange {
    guard let next = latest.clusters[cluster]?.syncStatus.expiringInitialWait() else { return .none }
    return replace(cluster: cluster, with: views[cluster] ?? .empty(cluster), syncStatus: next)
  }

  /// Forgets `cluster`: its services and endpoint shards leave the mesh, and readiness no longer waits for it.
  @discardableResult
  package func remove(cluster: ClusterID) -> SnapshotChange {
    published.withLock { state in _ = state.expected?.remove(cluster) }
    objects[cluster] = nil
    guard let old = views.removeValue(forKey: cluster) else { return .none }
    var infos = latest.clusters
    infos[cluster] = nil
    let (snapshot, change) = SnapshotMerge.next(
      previous: latest, cluster: cluster, old: old, new: nil, views: views, clusters: infos,
      version: latest.version + 1,
      meshNetworks: options.meshNetworks, resolve: resolve
    )
    logger.info("cluster removed", metadata: ["cluster": "\(cluster)", "change": "\(change)"])
    publish(snapshot, change)
    return change
  }

  /// Declares the clusters the mesh must have synced before it is ready (e.g. those a file source found at start).
  ///
  /// Replaces any earlier declaration. Once called, even with an empty set, an otherwise empty mesh counts as synced.
  package nonisolated func expect(clusters: Set<ClusterID>) {
    published.withLock { $0.expected = clusters }
  }

  /// Rebuilds what used `changed` hostnames: clusters whose gateway Services name one, and the network topology when
  /// meshNetworks declares one as a gateway address.
  package func gatewayHostnamesChanged(_ changed: Set<String>) {
    for cluster in views.keys.sorted() where !views[cluster]!.gatewayHostnames.isDisjoint(with: changed) {
      guard let objects = objects[cluster] else { continue }
      apply(cluster: cluster, objects: objects)
    }
    guard !options.meshNetworks.gatewayHostnames.isDisjoint(with: changed) else { return }
    let networks = NetworkTopology(views: views, meshNetworks: options.meshNetworks, resolve: resolve)
    guard networks != latest.networks else { return }
    let version = latest.version + 1
    publish(latest.replacing(networks: networks, version: version), SnapshotChange(networks: true))
  }

  private func replace(
    cluster: ClusterID,
    with view: ClusterView,
    syncStatus: ClusterSyncStatus
  ) -> SnapshotChange {
    let old = views[cluster]
    let info = ClusterInfo(view: view, syncStatus: syncStatus)
    if old == view, latest.clusters[cluster] == info { return .none }
    views[cluster] = view
    var infos = latest.clusters
    infos[cluster] = info
    let (snapshot, change) = SnapshotMerge.next(
      previous: latest, cluster: cluster, old: old, new: view, views: views, clusters: infos,
      version: latest.version + 1,
      meshNetworks: options.meshNetworks, resolve: resolve
    )
    logger.debug(
      "cluster updated",
      metadata: [
        "cluster": "\(cluster)", "state": "\(info.state.rawValue)", "version": "\(snapshot.version)",
        "change": "\(change)",
      ]
    )
    publish(snapshot, change)
    return change
  }

  private func publish(_ snapshot: MeshSnapshot, _ change: SnapshotChange) {
    if snapshot.istioConfig.rejected != latest.istioConfig.rejected {
      let known = Set(latest.istioConfig.rejected)
      for rejection in snapshot.istioConfig.rejected where !known.contains(rejection) {
        logger.warning("rejected Istio config", metadata: ["error": "\(rejection)"])
      }
    }
    if change.networks {
      logger.info(
        "network gateways changed",
        metadata: ["gateways": "\(snapshot.networks.gateways.values.joined().map(\.description))"])
    }
    latest = snapshot
    let subscribers = published.withLock { state in
      state.snapshot = snapshot
      return Array(state.subscribers.values)
    }
    // Yielding outside the lock: a subscriber added after the swap already saw `snapshot` as its starting point.
    // Writers are serialized by the actor, so every subscriber receives updates in publication order.
    for subscriber in subscribers { subscriber.yield((snapshot, change)) }
  }

  // MARK: Readers

  /// The latest published snapshot; never waits for a writer that is building the next one.
  package nonisolated var current: MeshSnapshot {
    published.withLock { $0.snapshot }
  }

  /// True when the mesh is ready: every declared (`expect`) and every known cluster has synced once or timed out
  /// (`ClusterInfo.isSettled`), and at least one cluster is known or `expect` was called. A cluster that appears later puts it back to false until it syncs.
  package nonisolated var allSynced: Bool {
    published.withLock { state in Self.allSynced(state.snapshot.clusters, expected: state.expected) }
  }

  /// `allSynced` judged on `snapshot` (for example the one the push pipeline last pushed) with the clusters declared
  /// by `expect`: readiness should wait until proxies can actually be given the synced state, not just until the
  /// registry holds it.
  package nonisolated func allSynced(in snapshot: MeshSnapshot) -> Bool {
    let expected = published.withLock { $0.expected }
    return Self.allSynced(snapshot.clusters, expected: expected)
  }

  private static func allSynced(_ clusters: [ClusterID: ClusterInfo], expected: Set<ClusterID>?) -> Bool {
    guard expected != nil || !clusters.isEmpty else { return false }
    let knownSynced = clusters.values.allSatisfy(\.isSettled)
    let expectedSynced = (expected ?? []).allSatisfy { clusters[$0]?.isSettled == true }
    return knownSynced && expectedSynced
  }

  /// Every update published after this call, in order, buffered without bound until read.
  ///
  /// Read `current` before subscribing, or use `subscribe()`, to know the starting point. The stream ends when the
  /// registry is deinitialized; cancelling the consuming task unsubscribes.
  package nonisolated func updates() -> AsyncStream<Update> {
    subscribe().updates
  }

  /// The current snapshot and the stream of every update published after it, taken atomically: no update is missed
  /// or repeated between the two.
  package nonisolated func subscribe() -> (current: MeshSnapshot, updates: AsyncStream<Update>) {
    let (stream, continuation) = AsyncStream.makeStream(of: Update.self, bufferingPolicy: .unbounded)
    let (id, snapshot) = published.withLock { state in
      let id = state.nextSubscriber
      state.nextSubscriber += 1
      state.subscribers[id] = continuation
      return (id, state.snapshot)
    }
    continuation.onTermination = { [weak self] _ in
      self?.unsubscribe(id)
    }
    return (snapshot, stream)
  }

  private nonisolated func unsubscribe(_ id: UInt64) {
    published.withLock { _ = $0.subscribers.removeValue(forKey: id) }
  }

  /// The number of live subscribers (for debug endpoints and tests).
  package nonisolated var subscriberCount: Int {
    published.withLock { $0.subscribers.count }
  }

  /// The current view of `cluster`, for debug endpoints.
  package func view(of cluster: ClusterID) -> ClusterView? { views[cluster] }
}
