/// Istio networking configuration as the generators read it: checked Gateways and VirtualServices, and the objects
/// that were rejected with the reason.

/// How a gateway server treats TLS (`spec.servers[].tls.mode`).
package enum GatewayTLSMode: String, Sendable, Hashable, CaseIterable {
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
package struct GatewayServer: Sendable, Hashable {
  package var port: Int
  package var portName: String
  /// The protocol, upper-cased (`TLS`, `HTTPS`, `HTTP`, `TCP`, ...).
  package var `protocol`: String
  /// `host` or `namespace/host`; `*` matches every host.
  package var hosts: [String]
  /// The address to bind; empty for 0.0.0.0.
  package var bind: String
  /// nil when the server has no `tls` settings.
  package var tlsMode: GatewayTLSMode?

  package init(
    port: Int, portName: String = "", protocol: String, hosts: [String], bind: String = "", tlsMode: GatewayTLSMode?
  ) {
    self.port = port
    self.portName = portName
    self.protocol = `protocol`
    self.hosts = hosts
    self.bind = bind
    self.tlsMode = tlsMode
  }
}

/// A checked Gateway.
package struct GatewayConfig: Sendable, Hashable, Comparable {
  package var name: String
  package var namespace: String
  /// The cluster (or cluster directory) it was read from.
  package var cluster: ClusterID
  /// Proxies whose LABELS contain all of these serve the gateway; empty selects every router.
  package var selector: [String: String]
  package var servers: [GatewayServer]

  package init(
    name: String, namespace: String, cluster: ClusterID, selector: [String: String], servers: [GatewayServer]
  ) {
    self.name = name
    self.namespace = namespace
    self.cluster = cluster
    self.selector = selector
    self.servers = servers
  }

  /// `namespace/name`, how VirtualServices refer to it.
  package var qualifiedName: String { "\(namespace)/\(name)" }

  /// True when `labels` contain every selector entry.
  package func selects(labels: [String: String]) -> Bool {
    selector.allSatisfy { labels[$0.key] == $0.value }
  }

  package static func < (lhs: GatewayConfig, rhs: GatewayConfig) -> Bool {
    (lhs.namespace, lhs.name, lhs.cluster) < (rhs.namespace, rhs.name, rhs.cluster)
  }
}

/// A destination of a route: a service hostname (made fully qualified), a port and a weight.
package struct RouteDestination: Sendable, Hashable {
  package var host: String
  /// nil: the service's only port.
  package var port: Int?
  package var weight: Int

  package init(host: String, port: Int? = nil, weight: Int = 0) {
    self.host = host
    self.port = port
    self.weight = weight
  }
}

/// A VirtualService `tls` route: connections matching any of `matches` go to `destinations`.
package struct TLSRoute: Sendable, Hashable {
  package struct Match: Sendable, Hashable {
    /// SNI values; `*` (or a leading `*.`) is a wildcard.
    package var sniHosts: [String]
    /// The gateway (or sidecar) port the match is limited to; nil for any.
    package var port: Int?
    /// Gateways (`namespace/name`) the match is limited to; empty for the VirtualService's own.
    package var gateways: [String]

    package init(sniHosts: [String], port: Int? = nil, gateways: [String] = []) {
      self.sniHosts = sniHosts
      self.port = port
      self.gateways = gateways
    }
  }

  package var matches: [Match]
  package var destinations: [RouteDestination]

  package init(matches: [Match], destinations: [RouteDestination]) {
    self.matches = matches
    self.destinations = destinations
  }
}

/// A checked VirtualService (its `tls` routes; `http` and `tcp` routes are not read).
package struct VirtualServiceConfig: Sendable, Hashable, Comparable {
  package var name: String
  package var namespace: String
  package var cluster: ClusterID
  package var hosts: [String]
  /// Gateways as `namespace/name` (a bare name is in the VirtualService's namespace); `mesh` for sidecars.
  package var gateways: [String]
  package var tlsRoutes: [TLSRoute]

  package init(
    name: String, namespace: String, cluster: ClusterID, hosts: [String], gateways: [String], tlsRoutes: [TLSRoute]
  ) {
    self.name = name
    self.namespace = namespace
    self.cluster = cluster
    self.hosts = hosts
    self.gateways = gateways
    self.tlsRoutes = tlsRoutes
  }

  package static func < (lhs: VirtualServiceConfig, rhs: VirtualServiceConfig) -> Bool {
    (lhs.namespace, lhs.name, lhs.cluster) < (rhs.namespace, rhs.name, rhs.cluster)
  }
}

/// An object that was not accepted: which one, which field, and why.
package struct ConfigRejection: Error, Sendable, Hashable, Comparable, CustomStringConvertible {
  package var code: String { "invalid-istio-config" }
  /// `Gateway` or `VirtualService`; `Service` for a gateway Service's annotation.
  package var kind: String
  package var namespace: String
  package var name: String
  package var cluster: ClusterID
  /// The offending field's path, such as `spec.servers[0].port.number`.
  package var field: String
  package var message: String

  package init(kind: String, namespace: String, name: String, cluster: ClusterID, field: String, message: String) {
    self.kind = kind
    self.namespace = namespace
    self.name = name
    self.cluster = cluster
    self.field = field
    self.message = message
  }

  package static func < (lhs: ConfigRejection, rhs: ConfigRejection) -> Bool {
    (lhs.kind, lhs.namespace, lhs.name, lhs.cluster) < (rhs.kind, rhs.namespace, rhs.name, rhs.cluster)
  }

  package var description: String { "\(kind) \(namespace)/\(name) in \(cluster): \(field): \(message)" }
}

/// The Istio networking configuration of the mesh (or of one cluster): accepted objects sorted, and rejections.
package struct IstioConfig: Sendable, Hashable {
  package var gateways: [GatewayConfig]
  package var virtualServices: [VirtualServiceConfig]
  package var rejected: [ConfigRejection]

  package init(
    gateways: [GatewayConfig] = [], virtualServices: [VirtualServiceConfig] = [], rejected: [ConfigRejection] = []
  ) {
    self.gateways = gateways
    self.virtualServices = virtualServices
    self.rejected = rejected
  }

  package static let empty = IstioConfig()

  /// The Gateways whose selector matches `labels`, sorted.
  package func gateways(selecting labels: [String: String]) -> [GatewayConfig] {
    gateways.filter { $0.selects(labels: labels) }
  }
}
