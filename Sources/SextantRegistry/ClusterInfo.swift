import SextantKube

/// What the mesh knows about one cluster: sync state, network and sizes (for readiness and debug endpoints).
package struct ClusterInfo: Sendable, Hashable {
  /// A cluster's connection state, as istiod names remote cluster states.
  package enum SyncState: String, Sendable, Hashable {
    /// The initial load is under way.
    case syncing
    /// The initial load finished and the source is following changes.
    case synced
    /// The initial load did not finish within PILOT_REMOTE_CLUSTER_TIMEOUT; readiness stops waiting for it.
    case timeout
    /// The source cannot reach or read the cluster (`reason` says why); the last known objects stay in force.
    case error
    /// The source was stopped (its remote secret was removed or replaced).
    case closed
  }

  /// The cluster's ID.
  package var id: ClusterID
  /// `syncing` from the first `apply` until `markSynced`; then whatever the source last reported.
  package var state: SyncState
  /// Why the cluster is in `error` (empty otherwise).
  package var reason: String
  /// True once the initial load finished, whatever happened since: readiness waits only for this.
  package var hasSynced: Bool
  /// True when readiness gave up waiting for the initial load (PILOT_REMOTE_CLUSTER_TIMEOUT passed).
  package var waitExpired: Bool
  /// The cluster's default network: its system namespace's `topology.istio.io/network` label, else the meshNetworks
  /// network naming it in `fromRegistry`, else empty.
  package var network: String
  /// Objects of each kind the cluster's source held at the last `apply`.
  package var objectCounts: [ObjectKind: Int]
  /// Services the cluster contributes.
  package var serviceCount: Int
  /// Endpoints (one per service port and address) the cluster contributes.
  package var endpointCount: Int

  package init(
    id: ClusterID,
    state: SyncState = .syncing,
    reason: String = "",
    hasSynced: Bool = false,
    waitExpired: Bool = false,
    network: String = "",
    objectCounts: [ObjectKind: Int] = [:],
    serviceCount: Int = 0,
    endpointCount: Int = 0
  ) {
    self.id = id
    self.state = state
    self.reason = reason
    self.hasSynced = hasSynced || state == .synced
    self.waitExpired = waitExpired
    self.network = network
    self.objectCounts = objectCounts
    self.serviceCount = serviceCount
    self.endpointCount = endpointCount
  }

  /// The info of a cluster whose view is `view`, in `state`.
  package init(view: ClusterView, state: SyncState, reason: String = "", hasSynced: Bool = false, waitExpired: Bool = false) {
    self.init(
      id: view.cluster,
      state: state,
      reason: reason,
      hasSynced: hasSynced,
      waitExpired: waitExpired,
      network: view.networkOfCluster,
      objectCounts: view.objectCounts,
      serviceCount: view.services.count,
      endpointCount: view.endpoints.values.reduce(0) { $0 + $1.count }
    )
  }

  /// Whether readiness may stop waiting for this cluster: it synced once, or the wait for it expired.
  package var isSettled: Bool { hasSynced || waitExpired }

  /// Every object the source held, of every kind.
  package var objectCount: Int { objectCounts.values.reduce(0, +) }
}
