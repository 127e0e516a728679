/// Istio networking configuration as the generators read it: checked Gateways and VirtualServices, and the objects
/// that were rejected with the reason.

/// How a gateway server treats TLS (`spec.servers[].tls.mode`).
public enum GatewayTLSMode: String, Sendable, Hashable, CaseIterable {
  /// Forward the TLS connection untouched, chosen by SNI through VirtualService `tls` routes.
  case passthrough = "PASSTHROUGH"
  case simple = "SIMPLE"
  case mutual = "MUTUAL"
  /// Forward the TLS connection untouched to the mesh service its SNI (`outbound_.PORT_._.HOST`) names.
  case autoPassthrough = "AUTO_PASSTHROUGH"
  case istioMutual = "ISTIO_MUTUAL"
  case optionalMutual = "OPTIONAL_MUTUAL"
}

/// One server of a Gateway: a port the gateway listens on and what it does there.
public struct GatewayServer: Sendable, Hashable {
  public var port: Int
  public var portName: String
  /// The protocol, upper-cased (`TLS`, `HTTPS`, `HTTP`, `TCP`, ...).
  public var `protocol`: String
  /// `host` or `namespace/host`; `*` matches every host.
  public var hosts: [String]
  /// The address to bind; empty for 0.0.0.0.
  public var bind: String
  /// nil when the server has no `tls` settings.
  public var tlsMode: GatewayTLSMode?

  public init(port: Int, portName: String = "", protocol: String, hosts: [String], bind: String = "", tlsMode: GatewayTLSMode?) {
    self.port = port
    self.portName = portName
    self.protocol = `protocol`
    self.hosts = hosts
    self.bind = bind
    self.tlsMode = tlsMode
  }
}

/// A checked Gateway.
public struct GatewayConfig: Sendable, Hashable, Comparable {
  public var name: String
  public var namespace: String
  /// The cluster (or cluster directory) it was read from.
  public var cluster: ClusterID
  /// Proxies whose LABELS contain all of these serve the gateway; empty selects every router.
  public var selector: [String: String]
  public var servers: [GatewayServer]

  public init(name: String, namespace: String, cluster: ClusterID, selector: [String: String], servers: [GatewayServer]) {
    self.name = name
    self.namespace = namespace
    self.cluster = cluster
    self.selector = selector
    self.servers = servers
  }

  /// `namespace/name`, how VirtualServices refer to it.
  public var qualifiedName: String { "\(namespace)/\(name)" }

  /// True when `labels` contain every selector entry.
  public func selects(labels: [String: String]) -> Bool {
    selector.allSatisfy { labels[$0.key] == $0.value }
  }

  public static func < (lhs: GatewayConfig, rhs: GatewayConfig) -> Bool {
    (lhs.namespace, lhs.name, lhs.cluster) < (rhs.namespace, rhs.name, rhs.cluster)
  }
}

/// A destination of a route: a service hostname (made fully qualified), a port and a weight.
public struct RouteDestination: Sendable, Hashable {
  public var host: String
  /// nil: the service's only port.
  public var port: Int?
  public var weight: Int

  public init(host: String, port: Int? = nil, weight: Int = 0) {
    self.host = host
    self.port = port
    self.weight = weight
  }
}

/// A VirtualService `tls` route: connections matching any of `matches` go to `destinations`.
public struct TLSRoute: Sendable, Hashable {
  public struct Match: Sendable, Hashable {
    /// SNI values; `*` (or a leading `*.`) is a wildcard.
    public var sniHosts: [String]
    /// The gateway (or sidecar) port the match is limited to; nil for any.
    public var port: Int?
    /// Gateways (`namespace/name`) the match is limited to; empty for the VirtualService's own.
    public var gateways: [String]

    public init(sniHosts: [String], port: Int? = nil, gateways: [String] = []) {
      self.sniHosts = sniHosts
      self.port = port
      self.gateways = gateways
    }
  }

  public var matches: [Match]
  public var destinations: [RouteDestination]

  public init(matches: [Match], destinations: [RouteDestination]) {
    self.matches = matches
    self.destinations = destinations
  }
}

/// A checked VirtualService (its `tls` routes; `http` and `tcp` routes are not read).
public struct VirtualServiceConfig: Sendable, Hashable, Comparable {
  public var name: String
  public var namespace: String
  public var cluster: ClusterID
  public var hosts: [String]
  /// Gateways as `namespace/name` (a bare name is in the VirtualService's namespace); `mesh` for sidecars.
  public var gateways: [String]
  public var tlsRoutes: [TLSRoute]

  public init(name: String, namespace: String, cluster: ClusterID, hosts: [String], gateways: [String], tlsRoutes: [TLSRoute]) {
    self.name = name
    self.namespace = namespace
    self.cluster = cluster
    self.hosts = hosts
    self.gateways = gateways
    self.tlsRoutes = tlsRoutes
  }

  public static func < (lhs: VirtualServiceConfig, rhs: VirtualServiceConfig) -> Bool {
    (lhs.namespace, lhs.name, lhs.cluster) < (rhs.namespace, rhs.name, rhs.cluster)
  }
}

/// An object that was not accepted: which one, which field, and why.
public struct ConfigRejection: Error, Sendable, Hashable, Comparable, CustomStringConvertible {
  public var code: String { "invalid-istio-config" }
  /// `Gateway` or `VirtualService`; `Service` for a gateway Service's annotation.
  public var kind: String
  public var namespace: String
  public var name: String
  public var cluster: ClusterID
  /// The offending field's path, such as `spec.servers[0].port.number`.
  public var field: String
  public var message: String

  public init(kind: String, namespace: String, name: String, cluster: ClusterID, field: String, message: String) {
    self.kind = kind
    self.namespace = namespace
    self.name = name
    self.cluster = cluster
    self.field = field
    self.message = message
  }

  public static func < (lhs: ConfigRejection, rhs: ConfigRejection) -> Bool {
    (lhs.kind, lhs.namespace, lhs.name, lhs.cluster) < (rhs.kind, rhs.namespace, rhs.name, rhs.cluster)
  }

  public var description: String { "\(kind) \(namespace)/\(name) in \(cluster): \(field): \(message)" }
}

/// The Istio networking configuration of the mesh (or of one cluster): accepted objects sorted, and rejections.
public struct IstioConfig: Sendable, Hashable {
  public var gateways: [GatewayConfig]
  public var virtualServices: [VirtualServiceConfig]
  public var rejected: [ConfigRejection]

  public init(gateways: [GatewayConfig] = [], virtualServices: [VirtualServiceConfig] = [], rejected: [ConfigRejection] = []) {
    self.gateways = gateways
    self.virtualServices = virtualServices
    self.rejected = rejected
  }

  public static let empty = IstioConfig()

  /// The Gateways whose selector matches `labels`, sorted.
  public func gateways(selecting labels: [String: String]) -> [GatewayConfig] {
    gateways.filter { $0.selects(labels: labels) }
  }
}
