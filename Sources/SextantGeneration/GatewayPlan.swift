import SextantRegistry

/// What a gateway proxy serves: the listeners its selected Gateways ask for, with their passthrough routes.
///
/// Derived from the snapshot's Istio config and the proxy's LABELS (only for routers), so it is part of the cache
/// keys of the gateway's clusters and listeners. Servers on one bind address and port are merged into one listener.
/// Servers Sextant cannot serve yet (HTTP, or TLS terminated at the gateway) are listed in `unsupported` and get no
/// listener.
package struct GatewayPlan: Sendable, Hashable {
  /// One listener: an address and port with what it forwards.
  package struct Listener: Sendable, Hashable, Comparable {
    /// The address to bind (`0.0.0.0` unless the server names one).
    package var bind: String
    package var port: Int
    /// Host patterns of the AUTO_PASSTHROUGH servers here (`host`, `*.suffix`, `*`, each possibly `namespace/`
    /// qualified), with the namespace of the Gateway they came from.
    package var autoPassthrough: [HostPattern]
    /// SNI routes of PASSTHROUGH servers here, in VirtualService order.
    package var routes: [Route]

    package static func < (lhs: Listener, rhs: Listener) -> Bool { (lhs.port, lhs.bind) < (rhs.port, rhs.bind) }
  }

  /// A server host pattern and the namespace of its Gateway (for `./host`).
  package struct HostPattern: Sendable, Hashable {
    package var pattern: String
    package var gatewayNamespace: String

    /// True when `service` matches: the namespace part (`*`, `.` for the Gateway's own, or a name; absent = any)
    /// and the host part (`*`, `*.suffix`, or the exact hostname).
    package func matches(_ service: MeshService) -> Bool {
      let parts = pattern.split(separator: "/", maxSplits: 1).map(String.init)
      let (namespace, host) = parts.count == 2 ? (parts[0], parts[1]) : ("*", parts[0])
      switch namespace {
      case "*": break
      case ".": guard service.namespace == gatewayNamespace else { return false }
      default: guard service.namespace == namespace else { return false }
      }
      return GatewayPlan.hostMatches(pattern: host, host: service.hostname)
    }

    /// True when a VirtualService in `namespace` with host pattern `host` may bind to this server host.
    package func admits(host: String, namespace: String) -> Bool {
      let parts = pattern.split(separator: "/", maxSplits: 1).map(String.init)
      let (allowed, serverHost) = parts.count == 2 ? (parts[0], parts[1]) : ("*", parts[0])
      switch allowed {
      case "*": break
      case ".": guard namespace == gatewayNamespace else { return false }
      default: guard namespace == allowed else { return false }
      }
      return GatewayPlan.hostsIntersect(serverHost, host)
    }
  }

  /// A PASSTHROUGH route: connections whose SNI matches `sniHosts` go to `destinations`, split by their weights
  /// (a single destination takes every connection, whatever its weight).
  package struct Route: Sendable, Hashable {
    package var sniHosts: [String]
    package var destinations: [RouteDestination]
    /// `VirtualService NAMESPACE/NAME`, for stat prefixes and debugging.
    package var source: String
  }

  package var listeners: [Listener]
  /// `Gateway NAMESPACE/NAME: spec.servers[i]: why`, for servers that got no listener.
  package var unsupported: [String]
  /// The snapshot's `istioConfigVersion` the plan was derived from (0 for `.none`), so cache entries of plans from
  /// older config can be pruned.
  package var configVersion: UInt64

  package static let none = GatewayPlan(listeners: [], unsupported: [])

  package init(listeners: [Listener], unsupported: [String], configVersion: UInt64 = 0) {
    self.listeners = listeners.sorted()
    self.unsupported = unsupported
    self.configVersion = configVersion
  }

  /// The plan of `view` (a router) in `snapshot`; `.none` for sidecars.
  package init(snapshot: MeshSnapshot, view: ProxyView) {
    guard view.type == .router else {
      self = .none
      return
    }
    self.init(config: snapshot.istioConfig, view: view, configVersion: snapshot.istioConfigVersion)
  }

  /// The plan of `view` (a router) under `config`; `.none` for sidecars.
  package init(config: IstioConfig, view: ProxyView, configVersion: UInt64 = 0) {
    guard view.type == .router else {
      self = .none
      return
    }
    struct Key: Hashable {
      var bind: String
      var port: Int
    }
    var listeners: [Key: Listener] = [:]
    var unsupported: [String] = []
    for gateway in config.gateways(selecting: view.labels) {
      for (index, server) in gateway.servers.enumerated() {
        let key = Key(bind: server.bind.isEmpty ? "0.0.0.0" : server.bind, port: server.port)
        var listener = listeners[key] ?? Listener(bind: key.bind, port: key.port, autoPassthrough: [], routes: [])
        switch server.tlsMode {
        case .autoPassthrough?:
          listener.autoPassthrough += server.hosts.map { HostPattern(pattern: $0, gatewayNamespace: gateway.namespace) }
        case .passthrough?:
          listener.routes += Self.routes(for: gateway, server: server, config: config)
        default:
          unsupported.append(
            "Gateway \(gateway.qualifiedName): spec.servers[\(index)]: protocol \(server.protocol)"
              + (server.tlsMode.map { " with TLS mode \($0.rawValue)" } ?? "")
              + " is not supported (only TLS PASSTHROUGH and AUTO_PASSTHROUGH)")
          continue
        }
        listeners[key] = listener
      }
    }
    self.init(listeners: Array(listeners.values), unsupported: unsupported, configVersion: configVersion)
  }

  /// The `tls` routes of VirtualServices bound to `gateway` whose matches apply to `server`'s port.
  static func routes(for gateway: GatewayConfig, server: GatewayServer, config: IstioConfig) -> [Route] {
    var routes: [Route] = []
    let serverHosts = server.hosts.map { HostPattern(pattern: $0, gatewayNamespace: gateway.namespace) }
    for service in config.virtualServices where service.gateways.contains(gateway.qualifiedName) {
      // As istiod: a VirtualService applies to a server only when one of its hosts meets one of the server's.
      guard
        service.hosts.contains(where: { host in
          serverHosts.contains { $0.admits(host: host, namespace: service.namespace) }
        })
      else { continue }
      for route in service.tlsRoutes {
        // Of several destinations, those weighted 0 take no connections (Envoy wants every weight above 0).
        let destinations =
          route.destinations.count == 1 ? route.destinations : route.destinations.filter { $0.weight > 0 }
        guard !destinations.isEmpty else { continue }
        for match in route.matches {
          if let port = match.port, port != server.port { continue }
          if !match.gateways.isEmpty, !match.gateways.contains(gateway.qualifiedName) { continue }
          routes.append(
            Route(
              sniHosts: match.sniHosts, destinations: destinations,
              source: "VirtualService \(service.namespace)/\(service.name)"))
        }
      }
    }
    return routes
  }

  /// True when two host patterns can name a common host (`*`, `*.suffix` and exact names, either side).
  static func hostsIntersect(_ a: String, _ b: String) -> Bool {
    if a == "*" || b == "*" { return true }
    switch (a.hasPrefix("*."), b.hasPrefix("*.")) {
    case (true, true): return a.count >= b.count ? a.hasSuffix(b.dropFirst()) : b.hasSuffix(a.dropFirst())
    case (true, false): return b.hasSuffix(a.dropFirst())
    case (false, true): return a.hasSuffix(b.dropFirst())
    case (false, false): return a == b
    }
  }

  /// Istio host matching: `*` matches anything, `*.suffix` any host ending in `.suffix`, otherwise equality.
  static func hostMatches(pattern: String, host: String) -> Bool {
    if pattern == "*" { return true }
    if pattern.hasPrefix("*.") { return host.hasSuffix(pattern.dropFirst()) }
    return pattern == host
  }

  /// True when `plan` was built from `snapshot`'s Istio config (it records the config version it came from).
  static func current(_ plan: GatewayPlan, in snapshot: MeshSnapshot) -> Bool {
    plan.configVersion == snapshot.istioConfigVersion
  }

  /// True when some AUTO_PASSTHROUGH server serves `service`.
  func autoPassthroughServes(_ service: MeshService) -> Bool {
    listeners.contains { $0.autoPassthrough.contains { $0.matches(service) } }
  }
}
