/// How the next `MeshSnapshot` is derived when one cluster's view is replaced: a pure function.
///
/// Only hostnames the cluster had or has are looked at. For each of them the merged service is recomputed when the
/// cluster's service changed, and only the cluster's own endpoint shard is replaced when its endpoints changed; every
/// other shard, service and version is carried over from the previous snapshot untouched (the same array storage).
///
/// Network gateways (`NetworkTopology`) and Istio config are recomputed from every view when the cluster's part of
/// them changed; `networksVersion` moves only when the topology really changed.
///
/// Merge rules for a hostname defined in several clusters (clusters taken in sorted `ClusterID` order):
/// - name, namespace and labels come from the first cluster;
/// - ports are the union by port number, the first cluster's definition winning for a number several define;
/// - `addresses` is the union of the clusters' VIP maps; `clusters` lists the defining clusters, sorted;
/// - `serviceAccounts` is the union of the service accounts of its endpoints in every cluster (a change of that set
///   is a change of services, since clusters' mTLS settings name them).
enum SnapshotMerge {
  /// The snapshot after `cluster`'s view went from `old` to `new` (nil: absent), and what changed.
  ///
  /// - Parameters:
  ///   - views: every cluster's view after the replacement (holding `new`, not holding a removed cluster).
  ///   - clusters: the cluster infos of the new snapshot.
  ///   - version: the new snapshot's version; must be greater than `previous.version`.
  static func next(
    previous: MeshSnapshot,
    cluster: ClusterID,
    old: ClusterView?,
    new: ClusterView?,
    views: [ClusterID: ClusterView],
    clusters: [ClusterID: ClusterInfo],
    version: UInt64,
    meshNetworks: MeshNetworks = .none,
    resolve: (String) -> [String] = { _ in [] }
  ) -> (snapshot: MeshSnapshot, change: SnapshotChange) {
    let oldServices = old?.services ?? [:]
    let newServices = new?.services ?? [:]
    let oldEndpoints = old?.endpoints ?? [:]
    let newEndpoints = new?.endpoints ?? [:]
    let order = views.keys.sorted()

    var endpoints = previous.endpoints
    var endpointVersions = previous.endpointVersions
    var endpointHostnames: Set<String> = []
    for hostname in Set(oldEndpoints.keys).union(newEndpoints.keys)
    where oldEndpoints[hostname] != newEndpoints[hostname] {
      var shards = endpoints[hostname]?.shards ?? [:]
      shards[cluster] = newEndpoints[hostname]
      endpointHostnames.insert(hostname)
      if shards.isEmpty {
        endpoints[hostname] = nil
        endpointVersions[hostname] = nil
      } else {
        endpoints[hostname] = EndpointShards(shards: shards)
        endpointVersions[hostname] = version
      }
    }

    var services = previous.services
    var servicesChanged = false
    var hostnameSetChanged = false
    for hostname in Set(oldServices.keys).union(newServices.keys) where oldServices[hostname] != newServices[hostname] {
      var merged = mergeService(hostname: hostname, views: views, order: order)
      merged?.serviceAccounts = serviceAccounts(endpoints[hostname])
      let before = services[hostname]
      guard merged != before else { continue }
      servicesChanged = true
      if (merged == nil) != (before == nil) { hostnameSetChanged = true }
      services[hostname] = merged
    }

    // Service accounts come from endpoints: recompute them where only the endpoints changed.
    for hostname in endpointHostnames {
      guard var service = services[hostname] else { continue }
      let accounts = serviceAccounts(endpoints[hostname])
      guard accounts != service.serviceAccounts else { continue }
      service.serviceAccounts = accounts
      services[hostname] = service
      servicesChanged = true
    }

    // Gateways and Istio config are small: recomputed from every view when this cluster's part changed.
    var networks = previous.networks
    if old?.gateways != new?.gateways || old?.externalAddresses != new?.externalAddresses {
      networks = NetworkTopology(views: views, meshNetworks: meshNetworks, resolve: resolve)
    }
    let networksChanged = networks != previous.networks
    var istioConfig = previous.istioConfig
    if old?.istioConfig != new?.istioConfig {
      istioConfig = mergeIstioConfig(views: views, order: order)
    }
    // Only accepted objects shape config: a change in the rejected list alone is shown by the debug endpoints and
    // logged, but pushes nothing.
    let istioConfigChanged =
      istioConfig.gateways != previous.istioConfig.gateways
      || istioConfig.virtualServices != previous.istioConfig.virtualServices

    let snapshot = MeshSnapshot(
      version: version,
      services: services,
      sortedHostnames: hostnameSetChanged ? services.keys.sorted() : previous.sortedHostnames,
      endpoints: endpoints,
      servicesVersion: servicesChanged ? version : previous.servicesVersion,
      endpointVersions: endpointVersions,
      clusters: clusters,
      networks: networks,
      networksVersion: networksChanged ? version : previous.networksVersion,
      istioConfig: istioConfig,
      istioConfigVersion: istioConfigChanged ? version : previous.istioConfigVersion
    )
    let change = SnapshotChange(
      services: servicesChanged, endpointHostnames: endpointHostnames, networks: networksChanged,
      istioConfig: istioConfigChanged)
    return (snapshot, change)
  }

  /// Every view's Istio config in one, each list sorted (by namespace, name, then cluster).
  static func mergeIstioConfig(views: [ClusterID: ClusterView], order: [ClusterID]) -> IstioConfig {
    var merged = IstioConfig()
    for cluster in order {
      guard let config = views[cluster]?.istioConfig else { continue }
      merged.gateways += config.gateways
      merged.virtualServices += config.virtualServices
      merged.rejected += config.rejected
    }
    merged.gateways.sort()
    merged.virtualServices.sort()
    merged.rejected.sort()
    return merged
  }

  /// The distinct, sorted non-empty service accounts of every endpoint in `shards`.
  static func serviceAccounts(_ shards: EndpointShards?) -> [String] {
    guard let shards else { return [] }
    var accounts = Set<String>()
    for shard in shards.shards.values {
      for endpoint in shard where !endpoint.serviceAccount.isEmpty { accounts.insert(endpoint.serviceAccount) }
    }
    return accounts.sorted()
  }

  /// The merged service `hostname` across `views` taken in `order`; nil when no view defines it.
  static func mergeService(hostname: String, views: [ClusterID: ClusterView], order: [ClusterID]) -> MeshService? {
    var merged: MeshService?
    var portNumbers: Set<Int> = []
    for cluster in order {
      guard let service = views[cluster]?.services[hostname] else { continue }
      if merged == nil {
        merged = MeshService(
          hostname: hostname,
          name: service.name,
          namespace: service.namespace,
          ports: [],
          labels: service.labels
        )
      }
      for port in service.ports where portNumbers.insert(port.port).inserted {
        merged!.ports.append(port)
      }
      merged!.addresses.merge(service.addresses) { first, _ in first }
      merged!.clusters.append(cluster)
    }
    merged?.ports.sort()
    return merged
  }
}
