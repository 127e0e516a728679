import EnvoyAPI
import SextantRegistry
import SwiftProtobuf

/// Generates a gateway's listeners (LDS) from its `GatewayPlan`: TLS passthrough chosen by SNI.
///
/// One listener `BIND_PORT` (bind `0.0.0.0` unless the server names an address) per planned port, with
/// tls_inspector and:
/// - for AUTO_PASSTHROUGH servers, one chain per (non-UDP) service port whose service matches a server host, matched on SNI
///   `outbound_.PORT_._.HOST` and proxied (tcp_proxy) to the SNI cluster of the same name;
/// - for PASSTHROUGH servers, one chain per VirtualService `tls` match, matched on its `sniHosts` (`*` matches any
///   SNI) and proxied to `outbound|PORT||HOST` of the route's destination (its port, else the service's only port;
///   a destination whose port cannot be decided is left out), or split across several such clusters by weight
///   (tcp_proxy `weighted_clusters`; the chain and stat prefix are then named `weighted|CLUSTER,...`).
/// A server name goes to the first chain that claims it (later chains lose it, and a chain left with none is dropped;
/// only the first `*` route becomes the catch-all), since Envoy rejects overlapping chains (`GatewayChainPlan`, which
/// also lists the losers). A listener left without chains is not generated. A pure
/// function of the services and the plan: the cache key is `(servicesVersion, view.type, gateway plan)`.
enum GatewayListenerGenerator {
  static func generate(snapshot: MeshSnapshot, plan: GatewayPlan) throws(XDSError)
    -> [Envoy_Config_Listener_V3_Listener]
  {
    var listeners: [Envoy_Config_Listener_V3_Listener] = []
    for entry in plan.listeners {
      let chains = try GatewayChainPlan(snapshot: snapshot, entry: entry).chains.map { planned throws(XDSError) in
        try chain(serverNames: planned.serverNames, targets: planned.targets)
      }
      guard !chains.isEmpty else { continue }
      var listener = Envoy_Config_Listener_V3_Listener()
      listener.name = ResourceNames.listenerName(address: entry.bind, port: entry.port)
      listener.address = EnvoyBuild.address(entry.bind, entry.port)
      listener.trafficDirection = .outbound
      listener.listenerFilters = [try ListenerGenerator.tlsInspector()]
      listener.filterChains = chains
      listeners.append(listener)
    }
    return listeners
  }

  /// The port of `host` when the service has exactly one.
  static func singlePort(of host: String, in snapshot: MeshSnapshot) -> Int? {
    guard let ports = snapshot.services[host]?.ports, ports.count == 1 else { return nil }
    return ports[0].port
  }

  static func chain(name: String, serverNames: [String], cluster: String) throws(XDSError)
    -> Envoy_Config_Listener_V3_FilterChain
  {
    var chain = Envoy_Config_Listener_V3_FilterChain()
    chain.name = name
    if !serverNames.isEmpty { chain.filterChainMatch.serverNames = serverNames }
    chain.filters = [try EnvoyBuild.tcpProxy(statPrefix: cluster, cluster: cluster)]
    return chain
  }

  /// A PASSTHROUGH route's chain: to its one cluster, or split across several by weight.
  static func chain(serverNames: [String], targets: [EnvoyBuild.WeightedCluster]) throws(XDSError)
    -> Envoy_Config_Listener_V3_FilterChain
  {
    guard targets.count > 1 else {
      return try chain(name: targets[0].name, serverNames: serverNames, cluster: targets[0].name)
    }
    let name = "weighted|" + targets.map(\.name).joined(separator: ",")
    var chain = Envoy_Config_Listener_V3_FilterChain()
    chain.name = name
    if !serverNames.isEmpty { chain.filterChainMatch.serverNames = serverNames }
    chain.filters = [try EnvoyBuild.tcpProxy(statPrefix: name, weighted: targets)]
    return chain
  }
}
