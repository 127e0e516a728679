/// Istio's split-horizon rule: what a proxy on one network is told about endpoints on others.
///
/// Only when the mesh has at least one network gateway (`NetworkTopology.isMultiNetwork`); otherwise every endpoint
/// is sent as it is. Then, per locality:
/// - endpoints on the proxy's network, or where either network is unset, are kept;
/// - endpoints on another network that accept Istio mTLS are replaced by that network's gateways: one endpoint per
///   gateway (address and port of the gateway, `tlsMode` istio, the network and the gateway's cluster), carrying the
///   sum of the replaced endpoints' weights split evenly among the gateways. As in istiod, an endpoint's weight goes
///   to the gateways of its own cluster when that cluster declares any (`NetworkTopology.gateways(of:cluster:)`),
///   saving a hop between clusters of one network; else to all of its network's gateways;
/// - the rest are dropped: not mTLS-capable (the gateway routes by the mTLS SNI), or their network has no gateway.
/// To keep the split exact, every weight is first multiplied by the least common multiple of the sizes of the gateway
/// lists chosen (per network, or per cluster where its own gateways are used; as istiod does), unless that would exceed Envoy's UInt32 total, in which case shares are
/// rounded down. Locality grouping is kept; locality weights are sums of the new weights.
package enum SplitHorizon {
  /// Why an endpoint cannot be reached from another network.
  package enum Unreachable: String, Sendable, Hashable, CaseIterable {
    case noGateway = "no_gateway"
    case noMutualTLS = "no_mtls"
  }

  /// True when a proxy on `proxyNetwork` reaches an endpoint on `endpointNetwork` directly (same, or either unset).
  package static func sameNetwork(_ endpointNetwork: String, _ proxyNetwork: String) -> Bool {
    endpointNetwork.isEmpty || proxyNetwork.isEmpty || endpointNetwork == proxyNetwork
  }

  /// Why a proxy on another network cannot reach `endpoint`, or nil when it can (directly or through a gateway).
  package static func unreachable(_ endpoint: MeshEndpoint, topology: NetworkTopology) -> Unreachable? {
    guard topology.isMultiNetwork, !endpoint.network.isEmpty else { return nil }
    if topology.gateways(of: endpoint.network).isEmpty { return .noGateway }
    if endpoint.tlsMode != WellKnownLabels.tlsModeIstio { return .noMutualTLS }
    return nil
  }

  /// `endpoints` (one service port) as a proxy on `proxyNetwork` must see them.
  package static func apply(_ endpoints: [MeshEndpoint], proxyNetwork: String, topology: NetworkTopology)
    -> [MeshEndpoint]
  {
    guard topology.isMultiNetwork else { return endpoints }
    var local: [MeshEndpoint] = []
    // (locality, network, endpoint cluster) → the replaced endpoints' total weight and the service port they served.
    struct Remote: Hashable {
      var locality: Locality
      var network: String
      var cluster: ClusterID
    }
    var remote: [Remote: (weight: UInt64, servicePort: Int)] = [:]
    for endpoint in endpoints {
      if sameNetwork(endpoint.network, proxyNetwork) {
        local.append(endpoint)
      } else if unreachable(endpoint, topology: topology) == nil {
        let key = Remote(locality: endpoint.locality, network: endpoint.network, cluster: endpoint.cluster)
        let previous = remote[key] ?? (0, endpoint.servicePort)
        remote[key] = (previous.weight + UInt64(endpoint.weight), previous.servicePort)
      }
    }
    guard !remote.isEmpty else { return local }
    let chosen = Dictionary(
      uniqueKeysWithValues: remote.keys.map { ($0, topology.gateways(of: $0.network, cluster: $0.cluster)) })
    let scale = scale(
      gatewayCounts: Set(chosen.values.map(\.count)).sorted(),
      localWeights: local.map(\.weight), remoteWeights: remote.values.map(\.weight))
    var result = local.map { endpoint -> MeshEndpoint in
      var scaled = endpoint
      scaled.weight = UInt32(UInt64(endpoint.weight) * scale)  // `scale` keeps every product within UInt32
      return scaled
    }
    // Several groups (clusters of one network) may share gateways: their shares are summed per gateway.
    struct Target: Hashable {
      var locality: Locality
      var gateway: NetworkGateway
    }
    var shares: [Target: (weight: UInt64, servicePort: Int)] = [:]
    for (key, (weight, servicePort)) in remote {
      let gateways = chosen[key]!
      let share = max(1, weight * scale / UInt64(gateways.count))
      for gateway in gateways {
        let target = Target(locality: key.locality, gateway: gateway)
        shares[target] = ((shares[target]?.weight ?? 0) + share, servicePort)
      }
    }
    for target in shares.keys.sorted(by: { ($0.locality, $0.gateway) < ($1.locality, $1.gateway) }) {
      let (weight, servicePort) = shares[target]!
      result.append(
        MeshEndpoint(
          address: target.gateway.address,
          port: target.gateway.port,
          servicePort: servicePort,
          locality: target.locality,
          weight: UInt32(clamping: weight),
          network: target.gateway.network,
          tlsMode: WellKnownLabels.tlsModeIstio,
          cluster: target.gateway.cluster
        ))
    }
    return result
  }

  /// The factor every weight is multiplied by: the LCM of the chosen gateway lists' sizes, so each share divides
  /// exactly; 1 when that would overflow or push the assignment's total weight past UInt32.max (Envoy's limit), in
  /// which case shares are rounded down (at least 1).
  static func scale(gatewayCounts: [Int], localWeights: [UInt32], remoteWeights: [UInt64]) -> UInt64 {
    var scale: UInt64 = 1
    for count in gatewayCounts where count > 0 {
      guard let next = lcm(scale, UInt64(count)) else { return 1 }
      scale = next
    }
    var total = UInt64(0)
    for weight in localWeights.map(UInt64.init) + remoteWeights {
      let (product, overflow) = weight.multipliedReportingOverflow(by: scale)
      guard !overflow else { return 1 }
      let (sum, sumOverflow) = total.addingReportingOverflow(product)
      guard !sumOverflow, sum <= UInt64(UInt32.max) else { return 1 }
      total = sum
    }
    return scale
  }

  /// The least common multiple, or nil when it does not fit in UInt64.
  static func lcm(_ a: UInt64, _ b: UInt64) -> UInt64? {
    guard a > 0, b > 0 else { return max(a, b, 1) }
    var (x, y) = (a, b)
    while y != 0 { (x, y) = (y, x % y) }
    let (product, overflow) = (a / x).multipliedReportingOverflow(by: b)
    return overflow ? nil : product
  }
}

extension MeshSnapshot {
  /// Endpoints that proxies on other networks cannot reach, counted by (network, reason); each (hostname, service
  /// port, address) counts once.
  package func unreachableEndpoints() -> [String: [SplitHorizon.Unreachable: Int]] {
    guard networks.isMultiNetwork else { return [:] }
    var counts: [String: [SplitHorizon.Unreachable: Int]] = [:]
    for shards in endpoints.values {
      for shard in shards.shards.values {
        for endpoint in shard {
          guard let reason = SplitHorizon.unreachable(endpoint, topology: networks) else { continue }
          counts[endpoint.network, default: [:]][reason, default: 0] += 1
        }
      }
    }
    return counts
  }
}
