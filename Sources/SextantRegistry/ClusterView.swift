import SextantKube

/// One cluster's contribution to the mesh: its services and their endpoints, built by `ClusterRegistry.build`.
///
/// Every hostname in `services` has an entry in `endpoints` (possibly empty) and vice versa. Each service's
/// `addresses` holds only this cluster's VIPs and its `clusters` is `[cluster]`; merging across clusters is
/// `MeshRegistry`'s job.
package struct ClusterView: Sendable, Hashable {
  /// The cluster this view describes.
  package var cluster: ClusterID
  /// Services by hostname.
  package var services: [String: MeshService]
  /// Endpoints by hostname, each list sorted (`MeshEndpoint`'s order) and without duplicate (servicePort, address).
  package var endpoints: [String: [MeshEndpoint]]
  /// The cluster's default network: the system namespace's `topology.istio.io/network` label, else the meshNetworks
  /// network whose `fromRegistry` names the cluster, empty when neither.
  package var networkOfCluster: String
  /// The network gateways the cluster's Services declare (see `GatewayDiscovery`), sorted.
  package var gateways: [NetworkGateway]
  /// Load-balancer or external addresses of the Services meshNetworks names by `registryServiceName`, by hostname
  /// (the only ones it needs).
  package var externalAddresses: [String: [String]]
  /// The cluster's Gateways and VirtualServices, checked (empty for clusters whose source does not read them).
  package var istioConfig: IstioConfig
  /// The gateway hostnames the build asked addresses for: when one's addresses change, the view is rebuilt.
  package var gatewayHostnames: Set<String>
  /// How many objects of each kind the cluster's source held.
  package var objectCounts: [ObjectKind: Int]

  package init(
    cluster: ClusterID,
    services: [String: MeshService] = [:],
    endpoints: [String: [MeshEndpoint]] = [:],
    networkOfCluster: String = "",
    gateways: [NetworkGateway] = [],
    externalAddresses: [String: [String]] = [:],
    istioConfig: IstioConfig = .empty,
    gatewayHostnames: Set<String> = [],
    objectCounts: [ObjectKind: Int] = [:]
  ) {
    self.gatewayHostnames = gatewayHostnames
    self.gateways = gateways
    self.externalAddresses = externalAddresses
    self.istioConfig = istioConfig
    self.cluster = cluster
    self.services = services
    self.endpoints = endpoints
    self.networkOfCluster = networkOfCluster
    self.objectCounts = objectCounts
  }

  /// A cluster that holds nothing (yet).
  package static func empty(_ cluster: ClusterID) -> ClusterView { ClusterView(cluster: cluster) }
}
