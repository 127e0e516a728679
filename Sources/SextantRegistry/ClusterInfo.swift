import SextantKube

/// What the mesh knows about one cluster: sync state, network and sizes (for readiness and debug endpoints).
package struct ClusterInfo: Sendable, Hashable {
  /// The name of a cluster's state, as istiod names remote cluster states (`ClusterSyncStatus.state`), and what a
  /// source reports (`MeshRegistry.report`).
  package enum SyncState: String, Sendable, Hashable {
    /// The initial load is under way.
    case syncing
    /// The initial load finished and the source is following changes.
    case synced
    /// The initial load did not finish within PILOT_REMOTE_CLUSTER_TIMEOUT; readiness stops waiting for it.
    case timeout
    /// The source cannot reach or read the cluster (`reason` says why); the last known objects stay in force.
    case error
    /// The source was stopped (graceful shutdown); the last known objects stay.
    case closed
  }

  /// The cluster's ID.
  package var id: ClusterID
  /// `syncing` from the first `apply` until `markSynced`; then whatever the source last reported (see
  /// `ClusterSyncStatus` for the transitions).
  package var syncStatus: ClusterSyncStatus
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
    syncStatus: ClusterSyncStatus = .initial,
    network: String = "",
    objectCounts: [ObjectKind: Int] = [:],
    serviceCount: Int = 0,
    endpointCount: Int = 0
  ) {
    self.id = id
    self.syncStatus = syncStatus
    self.network = network
    self.objectCounts = objectCounts
    self.serviceCount = serviceCount
    self.endpointCount = endpointCount
  }

  /// The info of a cluster whose view is `view`, in `syncStatus`.
  package init(view: ClusterView, syncStatus: ClusterSyncStatus) {
    self.init(
      id: view.cluster,
      syncStatus: syncStatus,
      network: view.networkOfCluster,
      objectCounts: view.objectCounts,
      serviceCount: view.services.count,
      endpointCount: view.endpoints.values.reduce(0) { $0 + $1.count }
    )
  }

  /// The state's name, as `/debug/clusterz` and readiness print it.
  package var state: SyncState { syncStatus.state }

  /// Why the cluster is in `error` (empty otherwise).
  package var reason: String { syncStatus.reason }

  /// True once the initial load finished, whatever happened since.
  package var hasSynced: Bool { syncStatus.hasSynced }

  /// Whether readiness may stop waiting for this cluster: it synced once, or the wait for it expired.
  package var isSettled: Bool { syncStatus.isSettled }

  /// Every object the source held, of every kind.
  package var objectCount: Int { objectCounts.values.reduce(0, +) }
}
