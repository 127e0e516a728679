/// A cluster's sync status: what its source last reported, and how far its initial load got.
///
/// One value holds what readiness and `/debug/clusterz` show, so impossible combinations (synced without an initial
/// load, a reason outside `error`) cannot be written. Move between values only with the transitions
/// (`markedSynced()`, `reported(_:reason:)`, `expiringInitialWait()`); read it through `state` (the name printed),
/// `reason`, `hasSynced` and `isSettled`. A new cluster starts at `initial`.
package enum ClusterSyncStatus: Sendable, Hashable {
  /// How far a cluster's initial load got: what readiness waits for.
  package enum InitialLoad: Sendable, Hashable {
    /// Not finished; readiness waits for it.
    case pending
    /// Not finished, and readiness stopped waiting for it (PILOT_REMOTE_CLUSTER_TIMEOUT passed, or the kubeconfig is
    /// unusable). A later initial load still counts.
    case abandoned
    /// Finished once, whatever happened since.
    case done
  }

  /// The source is listing: its initial load, or again after one (`InitialLoad` says which).
  case syncing(InitialLoad)
  /// The initial load finished and the source is following changes.
  case synced
  /// The initial load did not finish within PILOT_REMOTE_CLUSTER_TIMEOUT (`.abandoned`); a source reporting
  /// `timeout` itself leaves the initial load as it was.
  case timedOut(InitialLoad)
  /// The source cannot reach or read the cluster, for `reason`; the last known objects stay in force.
  case error(reason: String, InitialLoad)
  /// The source was stopped (graceful shutdown); the last known objects stay.
  case closed(InitialLoad)

  /// A cluster just registered: syncing, readiness waiting for it.
  package static let initial = ClusterSyncStatus.syncing(.pending)

  // MARK: Transitions

  /// The source finished its initial load (`MeshRegistry.markSynced`): `synced`, from any status.
  package func markedSynced() -> ClusterSyncStatus { .synced }

  /// The source reported `state` (`reason` is kept for `error` only); the initial load's progress is kept.
  ///
  /// `synced` before the initial load finished stays `syncing`: a connection that is up before its initial load is
  /// still syncing, and only `markedSynced()` finishes the load.
  package func reported(_ state: ClusterInfo.SyncState, reason: String = "") -> ClusterSyncStatus {
    let load = initialLoad
    switch state {
    case .syncing: return .syncing(load)
    case .synced: return load == .done ? .synced : .syncing(load)
    case .timeout: return .timedOut(load)
    case .error: return .error(reason: reason, load)
    case .closed: return .closed(load)
    }
  }

  /// Readiness stops waiting for the initial load: `syncing` becomes `timedOut`; `error` (with its reason),
  /// `timedOut` and `closed` keep their state.
  ///
  /// - Returns: nil (nothing changes) once the initial load finished or the wait already expired.
  package func expiringInitialWait() -> ClusterSyncStatus? {
    switch self {
    case .syncing(.pending), .timedOut(.pending): .timedOut(.abandoned)
    case .error(let reason, .pending): .error(reason: reason, .abandoned)
    case .closed(.pending): .closed(.abandoned)
    case .syncing, .synced, .timedOut, .error, .closed: nil
    }
  }

  // MARK: Readers

  /// How far the initial load got.
  package var initialLoad: InitialLoad {
    switch self {
    case .synced: .done
    case .syncing(let load), .timedOut(let load), .error(_, let load), .closed(let load): load
    }
  }

  /// The state's name, as `/debug/clusterz` and readiness print it.
  package var state: ClusterInfo.SyncState {
    switch self {
    case .syncing: .syncing
    case .synced: .synced
    case .timedOut: .timeout
    case .error: .error
    case .closed: .closed
    }
  }

  /// Why the cluster is in `error`; empty in every other state.
  package var reason: String {
    if case .error(let reason, _) = self { return reason }
    return ""
  }

  /// True once the initial load finished, whatever happened since.
  package var hasSynced: Bool { initialLoad == .done }

  /// Whether readiness may stop waiting for the cluster: it synced once, or the wait for it expired.
  package var isSettled: Bool { initialLoad != .pending }
}
