import EnvoyAPI
import SextantRegistry
import SwiftProtobuf

/// Generates a sidecar's outbound listeners (LDS) in istiod's layout.
///
/// With traffic capture (REDIRECT, TPROXY) there is `virtualOutbound` on 15001 (use_original_dst) plus per-port
/// listeners that do not bind: `0.0.0.0_PORT` for HTTP ports and `VIP_PORT` for TCP ports. Without capture (NONE)
/// every listener binds 127.0.0.1 on the service port. A pure function of the services and the proxy's interception
/// mode: the cache key is `(servicesVersion, view.type, view.interceptionMode)`.
public enum ListenerGenerator {
  /// The address listeners bind when the proxy captures no traffic.
  public static let localBindAddress = "127.0.0.1"

  public static func generate(
    snapshot: MeshSnapshot,
    view: ProxyView,
    mesh: MeshConfig = .defaults
  ) throws(XDSError) -> [Envoy_Config_Listener_V3_Listener] {
    let plan = OutboundPortPlan(snapshot: snapshot)
    switch view.interceptionMode {
    case .none:
      return try plan.ports.map { entry throws(XDSError) in
        try listener(
          name: ResourceNames.listenerName(address: localBindAddress, port: entry.port),
          address: localBindAddress,
          entry: entry,
          bind: true
        )
      }
    case .redirect, .tproxy:
      var listeners = [try virtualOutbound(mesh: mesh)]
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
      chain.filters = [try httpConnectionManager(statPrefix: "outbound_\(name)", routeName: ResourceNames.routeName(port: entry.port))]
    case .tcp(let cluster):
      chain.filters = [try EnvoyBuild.tcpProxy(statPrefix: cluster, cluster: cluster)]
    }
    listener.filterChains = [chain]
    return listener
  }

  /// An HTTP connection manager whose routes come over RDS by `routeName`, with the router filter.
  static func httpConnectionManager(statPrefix: String, routeName: String) throws(XDSError) -> Envoy_Config_Listener_V3_Filter {
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
    let fallback = mesh.outboundTrafficPolicy == .allowAny ? ResourceNames.passthroughCluster : ResourceNames.blackHoleCluster
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
