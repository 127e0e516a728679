import SextantKube

/// What the mesh knows about one cluster: sync state, network and sizes (for readiness and debug endpoints).
public struct ClusterInfo: Sendable, Hashable {
  /// Whether a cluster's source finished its initial load (istiod's remote cluster states `syncing`/`synced`).
  public enum SyncState: String, Sendable, Hashable {
    case syncing
    case synced
  }

  /// The cluster's ID.
  public var id: ClusterID
  /// `syncing` from the first `apply` until `markSynced`.
  public var state: SyncState
  /// The cluster's default network, empty when its system namespace has no `topology.istio.io/network` label.
  public var network: String
  /// Objects of each kind the cluster's source held at the last `apply`.
  public var objectCounts: [ObjectKind: Int]
  /// Services the cluster contributes.
  public var serviceCount: Int
  /// Endpoints (one per service port and address) the cluster contributes.
  public var endpointCount: Int

  public init(
    id: ClusterID,
    state: SyncState = .syncing,
    network: String = "",
    objectCounts: [ObjectKind: Int] = [:],
    serviceCount: Int = 0,
    endpointCount: Int = 0
  ) {
    self.id = id
    self.state = state
    self.network = network
    self.objectCounts = objectCounts
    self.serviceCount = serviceCount
    self.endpointCount = endpointCount
  }

  /// The info of a cluster whose view is `view`, in `state`.
  public init(view: ClusterView, state: SyncState) {
    self.init(
      id: view.cluster,
      state: state,
      network: view.networkOfCluster,
      objectCounts: view.objectCounts,
      serviceCount: view.services.count,
      endpointCount: view.endpoints.values.reduce(0) { $0 + $1.count }
    )
  }

  /// Every object the source held, of every kind.
  public var objectCount: Int { objectCounts.values.reduce(0, +) }
}
