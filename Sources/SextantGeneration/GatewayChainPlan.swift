import SextantRegistry

/// The filter chains of one gateway listener, decided before any Envoy message is built: the server names each chain
/// keeps, and the routes that lost names to an earlier chain.
///
/// Envoy rejects a listener whose chains overlap, so every server name (and the catch-all) goes to the first chain
/// that claims it: AUTO_PASSTHROUGH chains first (one per non-UDP service port the server's hosts match, SNI
/// `outbound_.PORT_._.HOST`), then PASSTHROUGH routes in VirtualService order. A route that loses some names keeps
/// the rest; one that loses all is dropped. Both are listed in `shadowed` (shown by `/debug/configz`). A route none
/// of whose destinations has a port that can be decided claims nothing and is left out.
struct GatewayChainPlan: Sendable, Hashable {
  /// One chain: its server names (empty: every connection) and where it proxies to.
  struct Chain: Sendable, Hashable {
    var serverNames: [String]
    var targets: [EnvoyBuild.WeightedCluster]
  }

  /// A route that lost server names to earlier chains.
  struct Shadowed: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The listener's name (`BIND_PORT`).
    var listener: String
    /// The route's VirtualService (`VirtualService NAMESPACE/NAME`).
    var source: String
    /// The names it lost (`*` for the catch-all).
    var lost: [String]
    /// Who holds them: VirtualServices, or `an AUTO_PASSTHROUGH server`.
    var claimedBy: [String]
    /// True when it lost every name, so it has no chain.
    var dropped: Bool

    static func < (lhs: Shadowed, rhs: Shadowed) -> Bool { lhs.description < rhs.description }

    var description: String {
      "\(source): sniHosts \(lost.joined(separator: ", ")) on \(listener) already routed by "
        + claimedBy.joined(separator: ", ") + (dropped ? " (route left out)" : " (route keeps its other names)")
    }
  }

  static let autoPassthroughOwner = "an AUTO_PASSTHROUGH server"

  private(set) var chains: [Chain] = []
  private(set) var shadowed: [Shadowed] = []

  init(snapshot: MeshSnapshot, entry: GatewayPlan.Listener) {
    let listener = ResourceNames.listenerName(address: entry.bind, port: entry.port)
    // Server name ("" for the catch-all) → who claimed it.
    var owners: [String: String] = [:]
    if !entry.autoPassthrough.isEmpty {
      for hostname in snapshot.sortedHostnames {
        guard let service = snapshot.services[hostname], entry.autoPassthrough.contains(where: { $0.matches(service) })
        else { continue }
        for port in service.ports where port.protocol != .udp {
          let sni = ResourceNames.outboundSNI(port: port.port, host: hostname)
          guard owners[sni] == nil else { continue }
          owners[sni] = Self.autoPassthroughOwner
          chains.append(Chain(serverNames: [sni], targets: [EnvoyBuild.WeightedCluster(name: sni, weight: 1)]))
        }
      }
    }
    for route in entry.routes {
      let targets = Self.targets(of: route, in: snapshot)
      guard !targets.isEmpty else { continue }
      let requested = route.sniHosts.contains("*") ? [""] : route.sniHosts.sorted()
      let lost = requested.filter { owners[$0] != nil }
      let kept = requested.filter { owners[$0] == nil }
      if !lost.isEmpty {
        var holders: [String] = []
        for name in lost where !holders.contains(owners[name]!) { holders.append(owners[name]!) }
        shadowed.append(
          Shadowed(
            listener: listener, source: route.source, lost: lost.map { $0.isEmpty ? "*" : $0 }, claimedBy: holders,
            dropped: kept.isEmpty))
      }
      guard !kept.isEmpty else { continue }
      for name in kept { owners[name] = route.source }
      chains.append(Chain(serverNames: kept == [""] ? [] : kept, targets: targets))
    }
  }

  /// A route's clusters with their weights: each destination's port, else its service's only port (destinations
  /// whose port cannot be decided are left out); two destinations naming one cluster are one share (Envoy wants each
  /// cluster once).
  static func targets(of route: GatewayPlan.Route, in snapshot: MeshSnapshot) -> [EnvoyBuild.WeightedCluster] {
    var targets: [EnvoyBuild.WeightedCluster] = []
    for destination in route.destinations {
      guard let port = destination.port ?? GatewayListenerGenerator.singlePort(of: destination.host, in: snapshot)
      else { continue }
      let name = ResourceNames.outboundCluster(port: port, host: destination.host)
      if let index = targets.firstIndex(where: { $0.name == name }) {
        targets[index].weight += UInt32(destination.weight)
      } else {
        targets.append(EnvoyBuild.WeightedCluster(name: name, weight: UInt32(destination.weight)))
      }
    }
    return targets
  }

  /// The shadowed routes of every listener `plan` holds.
  static func shadowed(snapshot: MeshSnapshot, plan: GatewayPlan) -> [Shadowed] {
    plan.listeners.flatMap { GatewayChainPlan(snapshot: snapshot, entry: $0).shadowed }
  }
}

/// What `/debug/configz` shows of routes that lost server names, mesh-wide.
package enum GatewayShadowing {
  /// Every shadowed route, as a router whose labels are exactly one Gateway's selector would get it (one plan per
  /// distinct selector), sorted and without repeats: `VirtualService NS/NAME: sniHosts H on BIND_PORT already routed
  /// by ... (route left out)`.
  package static func shadowedRoutes(in snapshot: MeshSnapshot) -> [String] {
    let selectors = Set(snapshot.istioConfig.gateways.map(\.selector))
    var found: Set<GatewayChainPlan.Shadowed> = []
    for selector in selectors {
      let router = ProxyView(type: .router, namespace: "", interceptionMode: .none, labels: selector)
      let plan = GatewayPlan(config: snapshot.istioConfig, view: router)
      found.formUnion(GatewayChainPlan.shadowed(snapshot: snapshot, plan: plan))
    }
    return Set(found.map(\.description)).sorted()
  }
}
