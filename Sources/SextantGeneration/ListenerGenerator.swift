import EnvoyAPI
import SextantRegistry
import SwiftProtobuf

/// Generates a proxy's listeners (LDS) in istiod's layout; a gateway's come from `GatewayListenerGenerator`.
///
/// With traffic capture (REDIRECT, TPROXY) there is `virtualOutbound` on 15001 (use_original_dst) plus per-port
/// listeners that do not bind: `0.0.0.0_PORT` for HTTP ports and `VIP_PORT` for TCP ports. Without capture (NONE)
/// every outbound listener binds the proxy's own IP (the node id's) on the service port, so several proxies can
/// share a host; the proxy's inbound ports (`InboundPlan`) get inbound listeners `IP_PORT` on that IP, which win over
/// an outbound listener on the same port. Inbound listeners are PERMISSIVE: TLS connections must present a mesh
/// client certificate (mutual TLS with SDS `default`/`ROOTCA`), plaintext ones are passed through; both go to
/// `inbound|PORT||`. With capture, sidecars also get `virtualInbound` on 15006 with the same chains per inbound port
/// (matched on the original destination port) and a passthrough chain for every other port.
/// A pure function of the services, the proxy's interception mode, bind address and inbound plan: the cache key is
/// `(servicesVersion, view.type, view.interceptionMode, bind address (NONE only), inbound)`.
package enum ListenerGenerator {
  package static func generate(
    snapshot: MeshSnapshot,
    view: ProxyView,
    inbound: InboundPlan = .none,
    gateway: GatewayPlan = .none,
    mesh: MeshConfig = .defaults
  ) throws(XDSError) -> [Envoy_Config_Listener_V3_Listener] {
    if view.type == .router {
      return try GatewayListenerGenerator.generate(snapshot: snapshot, plan: gateway)
    }
    let plan = OutboundPortPlan(snapshot: snapshot)
    switch view.interceptionMode {
    case .none:
      let address = view.ipAddress
      let inboundPorts = inbound.portNumbers
      var listeners = try plan.ports.filter { !inboundPorts.contains($0.port) }.map { entry throws(XDSError) in
        try listener(
          name: ResourceNames.listenerName(address: address, port: entry.port),
          address: address,
          entry: entry,
          bind: true
        )
      }
      for port in inbound.ports {
        listeners.append(try inboundListener(address: address, port: port, mutualTLS: view.mutualTLS))
      }
      return listeners
    case .redirect, .tproxy:
      var listeners = [try virtualOutbound(mesh: mesh)]
      if view.type == .sidecar {
        listeners.append(try virtualInbound(inbound: inbound, mutualTLS: view.mutualTLS))
      }
      for entry in plan.ports {
        switch entry.target {
        case .http:
          listeners.append(
            try listener(
              name: ResourceNames.listenerName(address: "0.0.0.0", port: entry.port),
              address: "0.0.0.0",
              entry: entry,
              bind: false
            )
          )
        case .tcp:
          for vip in entry.vips {
            listeners.append(
              try listener(
                name: ResourceNames.listenerName(address: vip.address, port: entry.port),
                address: vip.address,
                entry: OutboundPortPlan.Entry(port: entry.port, target: .tcp(cluster: vip.cluster), vips: []),
                bind: false
              )
            )
          }
        }
      }
      return listeners
    }
  }

  static func listener(
    name: String,
    address: String,
    entry: OutboundPortPlan.Entry,
    bind: Bool
  ) throws(XDSError) -> Envoy_Config_Listener_V3_Listener {
    var listener = Envoy_Config_Listener_V3_Listener()
    listener.name = name
    listener.address = EnvoyBuild.address(address, entry.port)
    listener.trafficDirection = .outbound
    if !bind { listener.bindToPort = Google_Protobuf_BoolValue(false) }
    var chain = Envoy_Config_Listener_V3_FilterChain()
    switch entry.target {
    case .http:
      chain.filters = [
        try httpConnectionManager(statPrefix: "outbound_\(name)", routeName: ResourceNames.routeName(port: entry.port))
      ]
    case .tcp(let cluster):
      chain.filters = [try EnvoyBuild.tcpProxy(statPrefix: cluster, cluster: cluster)]
    }
    listener.filterChains = [chain]
    return listener
  }

  /// `IP_PORT` for the workload's port: tls_inspector, a mutual-TLS chain and a plaintext chain, both forwarding to
  /// `inbound|PORT||`.
  /// Without `mutualTLS` (a stream that gets no certificate) only the plaintext chain is generated.
  static func inboundListener(address: String, port: InboundPlan.Port, mutualTLS: Bool) throws(XDSError)
    -> Envoy_Config_Listener_V3_Listener
  {
    var listener = Envoy_Config_Listener_V3_Listener()
    listener.name = ResourceNames.listenerName(address: address, port: port.port)
    listener.address = EnvoyBuild.address(address, port.port)
    listener.trafficDirection = .inbound
    listener.listenerFilters = [try tlsInspector()]
    listener.filterChains = try inboundChains(port: port.port, mutualTLS: mutualTLS)
    var metadata = Envoy_Config_Core_V3_Metadata()
    metadata.filterMetadata["istio"] = EnvoyBuild.structValue(["services": port.services.joined(separator: ",")])
    listener.metadata = metadata
    return listener
  }

  /// `virtualInbound` on 0.0.0.0:15006 for captured inbound traffic: original_dst and tls_inspector listener
  /// filters, per inbound port a mutual-TLS chain and a plaintext chain (PERMISSIVE) matched on the original
  /// destination port and forwarding to `inbound|PORT||`, and a last chain passing every other port through to
  /// `InboundPassthroughCluster`.
  static func virtualInbound(inbound: InboundPlan, mutualTLS: Bool) throws(XDSError)
    -> Envoy_Config_Listener_V3_Listener
  {
    var listener = Envoy_Config_Listener_V3_Listener()
    listener.name = ResourceNames.virtualInbound
    listener.address = EnvoyBuild.address("0.0.0.0", ResourceNames.virtualInboundPort)
    listener.trafficDirection = .inbound
    var originalDestination = Envoy_Config_Listener_V3_ListenerFilter()
    originalDestination.name = "envoy.filters.listener.original_dst"
    originalDestination.typedConfig = try EnvoyBuild.any(
      Envoy_Extensions_Filters_Listener_OriginalDst_V3_OriginalDst())
    listener.listenerFilters = [originalDestination, try tlsInspector()]
    var chains: [Envoy_Config_Listener_V3_FilterChain] = []
    for port in inbound.ports {
      for var chain in try inboundChains(port: port.port, mutualTLS: mutualTLS) {
        chain.filterChainMatch.destinationPort = Google_Protobuf_UInt32Value(EnvoyBuild.portValue(port.port))
        chains.append(chain)
      }
    }
    var passthrough = Envoy_Config_Listener_V3_FilterChain()
    passthrough.name = ResourceNames.inboundPassthroughCluster
    passthrough.filters = [
      try EnvoyBuild.tcpProxy(
        statPrefix: ResourceNames.inboundPassthroughCluster, cluster: ResourceNames.inboundPassthroughCluster)
    ]
    chains.append(passthrough)
    listener.filterChains = chains
    return listener
  }

  static func tlsInspector() throws(XDSError) -> Envoy_Config_Listener_V3_ListenerFilter {
    var inspector = Envoy_Config_Listener_V3_ListenerFilter()
    inspector.name = "envoy.filters.listener.tls_inspector"
    inspector.typedConfig = try EnvoyBuild.any(Envoy_Extensions_Filters_Listener_TlsInspector_V3_TlsInspector())
    return inspector
  }

  /// The chains of one inbound port: mutual TLS (when the stream gets certificates) and plaintext.
  static func inboundChains(port: Int, mutualTLS: Bool) throws(XDSError) -> [Envoy_Config_Listener_V3_FilterChain] {
    let cluster = ResourceNames.inboundCluster(port: port)
    var tls = Envoy_Config_Listener_V3_FilterChain()
    tls.name = "\(cluster)-mtls"
    tls.filterChainMatch.transportProtocol = "tls"
    tls.transportSocket = try MutualTLS.downstream()
    tls.filters = [try EnvoyBuild.tcpProxy(statPrefix: cluster, cluster: cluster)]
    var plain = Envoy_Config_Listener_V3_FilterChain()
    plain.name = "\(cluster)-plaintext"
    plain.filterChainMatch.transportProtocol = "raw_buffer"
    plain.filters = [try EnvoyBuild.tcpProxy(statPrefix: cluster, cluster: cluster)]
    return mutualTLS ? [tls, plain] : [plain]
  }

  /// An HTTP connection manager whose routes come over RDS by `routeName`, with the router filter.
  static func httpConnectionManager(statPrefix: String, routeName: String) throws(XDSError)
    -> Envoy_Config_Listener_V3_Filter
  {
    var rds = Envoy_Extensions_Filters_Network_HttpConnectionManager_V3_Rds()
    rds.configSource = EnvoyBuild.ads
    rds.routeConfigName = routeName
    var router = Envoy_Extensions_Filters_Network_HttpConnectionManager_V3_HttpFilter()
    router.name = "envoy.filters.http.router"
    router.typedConfig = try EnvoyBuild.any(Envoy_Extensions_Filters_Http_Router_V3_Router())
    var hcm = Envoy_Extensions_Filters_Network_HttpConnectionManager_V3_HttpConnectionManager()
    hcm.codecType = .auto
    hcm.statPrefix = statPrefix
    hcm.rds = rds
    hcm.httpFilters = [router]
    return try EnvoyBuild.networkFilter("envoy.filters.network.http_connection_manager", hcm)
  }

  /// `virtualOutbound`: 0.0.0.0:15001 with use_original_dst; what matches no port listener goes to PassthroughCluster
  /// (BlackHoleCluster with REGISTRY_ONLY).
  static func virtualOutbound(mesh: MeshConfig) throws(XDSError) -> Envoy_Config_Listener_V3_Listener {
    let fallback =
      mesh.outboundTrafficPolicy == .allowAny ? ResourceNames.passthroughCluster : ResourceNames.blackHoleCluster
    var listener = Envoy_Config_Listener_V3_Listener()
    listener.name = ResourceNames.virtualOutbound
    listener.address = EnvoyBuild.address("0.0.0.0", ResourceNames.virtualOutboundPort)
    listener.useOriginalDst = Google_Protobuf_BoolValue(true)
    listener.trafficDirection = .outbound
    var chain = Envoy_Config_Listener_V3_FilterChain()
    chain.name = fallback
    chain.filters = [try EnvoyBuild.tcpProxy(statPrefix: fallback, cluster: fallback)]
    listener.filterChains = [chain]
    return listener
  }
}

/// Which outbound listener each service port gets: one per port number; HTTP wins over TCP on a shared port, and the
/// first service (by hostname) wins among TCP services sharing a port when listeners bind one address.
struct OutboundPortPlan {
  enum Target: Hashable {
    case http
    case tcp(cluster: String)
  }

  struct VIP: Hashable {
    var address: String
    var cluster: String
  }

  struct Entry: Hashable {
    var port: Int
    var target: Target
    /// For TCP ports: each (VIP, cluster) pair of the services on that port, first service winning per VIP.
    var vips: [VIP]
  }

  var ports: [Entry]

  init(snapshot: MeshSnapshot) {
    var httpPorts = Set<Int>()
    var tcpFirst: [Int: String] = [:]
    var vips: [Int: [VIP]] = [:]
    var seenVIP = Set<String>()
    for hostname in snapshot.sortedHostnames {
      guard let service = snapshot.services[hostname] else { continue }
      for port in service.ports {
        if port.protocol.isHTTP {
          httpPorts.insert(port.port)
          continue
        }
        let cluster = ResourceNames.outboundCluster(port: port.port, host: hostname)
        if tcpFirst[port.port] == nil { tcpFirst[port.port] = cluster }
        for address in service.allAddresses where seenVIP.insert("\(address):\(port.port)").inserted {
          vips[port.port, default: []].append(VIP(address: address, cluster: cluster))
        }
      }
    }
    let allPorts = httpPorts.union(tcpFirst.keys).sorted()
    ports = allPorts.map { port in
      if httpPorts.contains(port) { return Entry(port: port, target: .http, vips: []) }
      return Entry(port: port, target: .tcp(cluster: tcpFirst[port]!), vips: vips[port] ?? [])
    }
  }
}
