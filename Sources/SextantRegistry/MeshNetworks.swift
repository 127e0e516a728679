import SextantBase

/// Istio's `meshNetworks`: networks declared in mesh configuration rather than by labels.
///
/// A network lists which endpoints belong to it (`fromRegistry`: every endpoint of a cluster; `fromCidr`: every
/// endpoint address in a range) and, optionally, its gateways (an address, or a Service by hostname whose external
/// addresses are used). Labels win over these declarations: an endpoint's network is the pod's
/// `topology.istio.io/network` label, else its cluster's system-namespace label, else the network naming its cluster
/// in `fromRegistry`, else the first `fromCidr` range containing its address, else the default network.
package struct MeshNetworks: Sendable, Hashable {
  /// One declared network.
  package struct Network: Sendable, Hashable {
    package var name: String
    /// Clusters whose endpoints belong to this network (`fromRegistry`).
    package var registries: [ClusterID]
    /// Address ranges whose endpoints belong to this network (`fromCidr`).
    package var ranges: [IPRange]
    package var gateways: [Gateway]

    package init(name: String, registries: [ClusterID] = [], ranges: [IPRange] = [], gateways: [Gateway] = []) {
      self.name = name
      self.registries = registries
      self.ranges = ranges
      self.gateways = gateways
    }
  }

  /// A declared gateway of a network.
  package struct Gateway: Sendable, Hashable {
    /// Where the gateway is: a fixed address (IP or hostname), or a Service hostname whose load-balancer or
    /// external addresses are used.
    package enum Target: Sendable, Hashable {
      case address(String)
      case registryServiceName(String)
    }

    package var target: Target
    package var port: Int

    package init(target: Target, port: Int) {
      self.target = target
      self.port = port
    }
  }

  /// Networks by name.
  package var networks: [String: Network]

  package init(networks: [String: Network] = [:]) {
    self.networks = networks
  }

  /// No declared network.
  package static let none = MeshNetworks()

  /// Every gateway `address` that is a hostname rather than an IP.
  package var gatewayHostnames: Set<String> {
    var names: Set<String> = []
    for network in networks.values {
      for gateway in network.gateways {
        if case .address(let address) = gateway.target, IPAddress(address) == nil { names.insert(address) }
      }
    }
    return names
  }

  /// Every Service hostname a gateway names by `registryServiceName`.
  package var registryServiceNames: Set<String> {
    var names: Set<String> = []
    for network in networks.values {
      for gateway in network.gateways {
        if case .registryServiceName(let hostname) = gateway.target { names.insert(hostname) }
      }
    }
    return names
  }

  /// The network whose `fromRegistry` names `cluster` (the first by network name when several do).
  package func network(ofCluster cluster: ClusterID) -> String? {
    networks.keys.sorted().first { networks[$0]!.registries.contains(cluster) }
  }

  /// The network whose `fromCidr` ranges contain `address` (the first by network name when several do).
  package func network(ofAddress address: String) -> String? {
    guard networks.values.contains(where: { !$0.ranges.isEmpty }), let parsed = IPAddress(address) else { return nil }
    return networks.keys.sorted().first { name in networks[name]!.ranges.contains { $0.contains(parsed) } }
  }
}
