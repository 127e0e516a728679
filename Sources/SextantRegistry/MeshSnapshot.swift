import Synchronization

/// The whole mesh at one instant: services merged across clusters and their endpoints sharded per cluster.
///
/// Immutable and `Sendable`: readers keep a snapshot as long as they like; `MeshRegistry` publishes a new one for
/// every change. The versions are snapshot versions, so they only grow and never repeat, even when a hostname is
/// removed and added again:
/// - `version`: the snapshot's own version, bumped on every publish (0 is the empty initial snapshot).
/// - `servicesVersion`: the `version` at which `services` last changed; use it in cache keys of service-wide config.
/// - `endpointVersions[h]`: the `version` at which hostname `h`'s endpoints last changed in any cluster; present for
///   exactly the hostnames in `endpoints`.
package struct MeshSnapshot: Sendable {
  /// This snapshot's version; every publish bumps it (the xDS `version_info`).
  package let version: UInt64
  /// Merged services by hostname (see `SnapshotMerge` for the merge rules).
  package let services: [String: MeshService]
  /// The keys of `services`, sorted.
  package let sortedHostnames: [String]
  /// Endpoints per hostname, one shard per cluster that defines the service (a shard may be empty).
  package let endpoints: [String: EndpointShards]
  /// The `version` at which `services` last changed.
  package let servicesVersion: UInt64
  /// Per hostname, the `version` at which its endpoints last changed in any cluster.
  package let endpointVersions: [String: UInt64]
  /// Every known cluster.
  package let clusters: [ClusterID: ClusterInfo]
  /// Gateways per network (what split-horizon EDS replaces other networks' endpoints with).
  package let networks: NetworkTopology
  /// The `version` at which `networks` last changed; use it in cache keys of anything built from it.
  package let networksVersion: UInt64
  /// Gateways and VirtualServices of the primary and file-backed clusters, with rejected objects.
  package let istioConfig: IstioConfig
  /// The `version` at which `istioConfig` last changed.
  package let istioConfigVersion: UInt64
  /// Endpoints by address, built on first use and shared by every reader of this snapshot.
  private let addressIndex = EndpointAddressIndex()

  package init(
    version: UInt64,
    services: [String: MeshService],
    sortedHostnames: [String],
    endpoints: [String: EndpointShards],
    servicesVersion: UInt64,
    endpointVersions: [String: UInt64],
    clusters: [ClusterID: ClusterInfo],
    networks: NetworkTopology = .empty,
    networksVersion: UInt64 = 0,
    istioConfig: IstioConfig = .empty,
    istioConfigVersion: UInt64 = 0
  ) {
    self.istioConfigVersion = istioConfigVersion
    self.networks = networks
    self.networksVersion = networksVersion
    self.istioConfig = istioConfig
    self.version = version
    self.services = services
    self.sortedHostnames = sortedHostnames
    self.endpoints = endpoints
    self.servicesVersion = servicesVersion
    self.endpointVersions = endpointVersions
    self.clusters = clusters
  }

  /// The snapshot of a registry that knows no cluster: version 0, nothing in it.
  package static let empty = MeshSnapshot(
    version: 0,
    services: [:],
    sortedHostnames: [],
    endpoints: [:],
    servicesVersion: 0,
    endpointVersions: [:],
    clusters: [:]
  )

  /// This snapshot with `networks` replaced, as version `version` (which must be greater than this one's).
  package func replacing(networks: NetworkTopology, version: UInt64) -> MeshSnapshot {
    MeshSnapshot(
      version: version,
      services: services,
      sortedHostnames: sortedHostnames,
      endpoints: endpoints,
      servicesVersion: servicesVersion,
      endpointVersions: endpointVersions,
      clusters: clusters,
      networks: networks,
      networksVersion: version,
      istioConfig: istioConfig,
      istioConfigVersion: istioConfigVersion
    )
  }

  /// The service named `hostname`.
  package func service(_ hostname: String) -> MeshService? { services[hostname] }

  /// Endpoints of `hostname` serving `servicePort`, from every cluster (sorted by cluster, then endpoint order).
  package func endpoints(hostname: String, servicePort: Int) -> [MeshEndpoint] {
    endpoints[hostname]?.endpoints(servicePort: servicePort) ?? []
  }

  /// Every endpoint whose address is `address`, with its hostname, sorted by hostname then endpoint.
  ///
  /// The index behind it is built once per snapshot (O(endpoints)) on the first call.
  package func endpoints(atAddress address: String) -> [(hostname: String, endpoint: MeshEndpoint)] {
    addressIndex.lookup(address, endpoints: endpoints)
  }

  /// The known clusters, sorted.
  package var sortedClusterIDs: [ClusterID] { clusters.keys.sorted() }
}

/// A lazily built map from endpoint address to the endpoints there; one per snapshot.
final class EndpointAddressIndex: Sendable {
  typealias Entry = (hostname: String, endpoint: MeshEndpoint)
  private let built = Mutex<[String: [Entry]]?>(nil)

  func lookup(_ address: String, endpoints: [String: EndpointShards]) -> [Entry] {
    built.withLock { index in
      if index == nil {
        var byAddress: [String: [Entry]] = [:]
        for hostname in endpoints.keys.sorted() {
          for endpoint in endpoints[hostname]!.all {
            byAddress[endpoint.address, default: []].append((hostname, endpoint))
          }
        }
        index = byAddress
      }
      return index![address] ?? []
    }
  }
}
