import SextantRegistry

/// The ports on which a sidecar's own workload receives mesh traffic: what its inbound listeners and clusters are.
///
/// Only sidecars have a plan. A sidecar's workload is found by address: endpoints at one of the proxy's instance IPs whose pod carries
/// `security.istio.io/tlsMode: istio`, of a service in the proxy's namespace, in its CLUSTER_ID when it sends one, and
/// of the authenticated caller's service account when the stream has one (a node cannot claim another workload's
/// address to get its inbound listeners). Each distinct endpoint (target) port becomes one inbound port. A value
/// derived from the snapshot and the proxy view, so it is part of the cache keys of every resource built from it.
package struct InboundPlan: Sendable, Hashable {
  /// One port the workload listens on, with the services that reach it there.
  package struct Port: Sendable, Hashable, Comparable {
    /// The endpoint (target) port: what the inbound listener binds and the app listens on locally.
    package var port: Int
    /// `HOST:SERVICE_PORT` of each service port that targets it, sorted (for metadata and debugging).
    package var services: [String]

    package static func < (lhs: Port, rhs: Port) -> Bool { lhs.port < rhs.port }
  }

  /// Sorted by port; empty for routers and for sidecars with no mTLS-capable endpoint of their own.
  package var ports: [Port]

  package static let none = InboundPlan(ports: [])

  package init(ports: [Port]) {
    self.ports = ports.sorted()
  }

  /// The plan of `view` in `snapshot`.
  package init(snapshot: MeshSnapshot, view: ProxyView) {
    guard view.type == .sidecar else {
      self = .none
      return
    }
    var services: [Int: Set<String>] = [:]
    for address in Set(view.instanceIPs) {
      for (hostname, endpoint) in snapshot.endpoints(atAddress: address) {
        guard endpoint.tlsMode == "istio" else { continue }
        guard view.clusterID.isEmpty || endpoint.cluster == view.clusterID else { continue }
        guard snapshot.services[hostname]?.namespace == view.namespace else { continue }
        if let account = view.serviceAccount, endpoint.serviceAccount != account { continue }
        services[endpoint.port, default: []].insert("\(hostname):\(endpoint.servicePort)")
      }
    }
    self.init(ports: services.map { Port(port: $0.key, services: $0.value.sorted()) })
  }

  package var portNumbers: Set<Int> { Set(ports.map(\.port)) }
}
