import SextantBase

/// The mesh's networks as EDS needs them: which gateways lead into each network.
///
/// Built from every cluster's gateway Services plus meshNetworks' declared gateways. Split horizon applies only when
/// the topology has at least one gateway (`isMultiNetwork`), as in istiod: a mesh whose networks are labelled but
/// that has no gateway at all is treated as one flat network.
package struct NetworkTopology: Sendable, Hashable {
  /// Gateways by network, each list sorted and without duplicate address and port.
  package var gateways: [String: [NetworkGateway]]

  package init(gateways: [String: [NetworkGateway]] = [:]) {
    self.gateways = gateways
  }

  package static let empty = NetworkTopology()

  /// True when any network has a gateway: endpoints are then filtered per proxy network.
  package var isMultiNetwork: Bool { !gateways.isEmpty }

  /// The gateways into `network` (empty when it has none).
  package func gateways(of network: String) -> [NetworkGateway] { gateways[network] ?? [] }

  /// The gateways an endpoint of `cluster` on `network` is reached through: those `cluster` itself declares, else
  /// every gateway of `network` (istiod's choice: no hop between clusters when the endpoint's cluster has a gateway).
  package func gateways(of network: String, cluster: ClusterID) -> [NetworkGateway] {
    let all = gateways(of: network)
    let own = all.filter { $0.cluster == cluster }
    return own.isEmpty ? all : own
  }

  /// The topology of `views` plus `meshNetworks`' gateways (a `registryServiceName` gateway takes the external
  /// addresses of that hostname in the network's `fromRegistry` clusters, or in any cluster when it names none).
  ///
  /// `resolve` answers a meshNetworks `address` that is a hostname (the registry's `resolve`; SextantSources'
  /// `GatewayHostnames` backs it).
  package init(views: [ClusterID: ClusterView], meshNetworks: MeshNetworks, resolve: (String) -> [String] = { _ in [] })
  {
    var byNetwork: [String: [NetworkGateway]] = [:]
    for cluster in views.keys.sorted() {
      for gateway in views[cluster]!.gateways { byNetwork[gateway.network, default: []].append(gateway) }
    }
    for name in meshNetworks.networks.keys.sorted() {
      let network = meshNetworks.networks[name]!
      for declared in network.gateways {
        switch declared.target {
        case .address(let address):
          let addresses = IPAddress(address) == nil ? resolve(address) : [address]
          for resolved in addresses {
            byNetwork[name, default: []].append(
              NetworkGateway(network: name, address: resolved, port: declared.port, source: "meshNetworks"))
          }
        case .registryServiceName(let hostname):
          let clusters = network.registries.isEmpty ? views.keys.sorted() : network.registries
          for cluster in clusters {
            for address in views[cluster]?.externalAddresses[hostname] ?? [] {
              byNetwork[name, default: []].append(
                NetworkGateway(
                  network: name, address: address, port: declared.port, cluster: cluster,
                  source: "meshNetworks \(hostname)"))
            }
          }
        }
      }
    }
    gateways = byNetwork.mapValues(Self.deduplicated).filter { !$0.value.isEmpty }
  }

  /// One gateway per address and port; of duplicates, the one a cluster declared (first by cluster ID) rather than
  /// a meshNetworks entry, so the per-cluster choice of gateways still finds it.
  static func deduplicated(_ list: [NetworkGateway]) -> [NetworkGateway] {
    var chosen: [String: NetworkGateway] = [:]
    for gateway in list.sorted() {
      let key = "\(gateway.address):\(gateway.port)"
      if let kept = chosen[key], !kept.cluster.isEmpty || gateway.cluster.isEmpty { continue }
      chosen[key] = gateway
    }
    return chosen.values.sorted()
  }
}
