import SextantKube

/// One way into a network: an address and port where its east-west gateway accepts mTLS traffic routed by SNI.
package struct NetworkGateway: Sendable, Hashable, Comparable, CustomStringConvertible {
  /// The network the gateway leads into.
  package var network: String
  /// An IP address.
  package var address: String
  package var port: Int
  /// The cluster whose Service declared the gateway; empty for a gateway from meshNetworks.
  package var cluster: ClusterID
  /// What declared it: `Service NAMESPACE/NAME` or `meshNetworks`.
  package var source: String

  package init(network: String, address: String, port: Int, cluster: ClusterID = "", source: String) {
    self.network = network
    self.address = address
    self.port = port
    self.cluster = cluster
    self.source = source
  }

  package static func < (lhs: NetworkGateway, rhs: NetworkGateway) -> Bool {
    (lhs.network, lhs.address, lhs.port, lhs.cluster, lhs.source) < (
      rhs.network, rhs.address, rhs.port, rhs.cluster, rhs.source
    )
  }

  package var description: String {
    "\(network) \(address):\(port) (\(source)\(cluster.isEmpty ? "" : " in \(cluster)"))"
  }
}

/// Finds the network gateways a cluster's Services declare, as istiod does.
///
/// A Service labelled `topology.istio.io/network: NAME` is a gateway of NAME. Its addresses are
/// `status.loadBalancer.ingress[].ip` (an ingress `hostname` is turned into addresses by `resolve`, only with
/// `resolveHostnames`), else
/// `spec.externalIPs`, else, for a NodePort Service, the addresses of its nodes (ExternalIP, else InternalIP) with
/// the node port of the Service port numbered like the gateway port. Its nodes are those the annotation
/// `traffic.istio.io/nodeSelector` selects (`NodeSelector`), every node without it (or with an empty one); one that
/// is not a selector is reported and, as in istiod, every node is used. The gateway port is 15443 unless the label
/// `networking.istio.io/gatewayPort` names another. A Service giving no address declares nothing.
package enum GatewayDiscovery {
  /// The default port of an east-west gateway (Istio's AUTO_PASSTHROUGH port).
  package static let defaultPort = 15443

  /// What a cluster's Services declare.
  package struct Discovery: Sendable, Hashable {
    /// Sorted.
    package var gateways: [NetworkGateway]
    /// Gateway Services with an annotation that is not valid, naming the Service and the annotation.
    package var rejected: [ConfigRejection]
  }

  /// The gateways declared by `objects`' Services, sorted.
  package static func gateways(
    in objects: ClusterObjects,
    cluster: ClusterID,
    resolveHostnames: Bool,
    resolve: (String) -> [String] = { _ in [] }
  ) -> [NetworkGateway] {
    discover(in: objects, cluster: cluster, resolveHostnames: resolveHostnames, resolve: resolve).gateways
  }

  /// The gateways declared by `objects`' Services, and the annotations that could not be read.
  package static func discover(
    in objects: ClusterObjects,
    cluster: ClusterID,
    resolveHostnames: Bool,
    resolve: (String) -> [String] = { _ in [] }
  ) -> Discovery {
    var result: [NetworkGateway] = []
    var rejected: [ConfigRejection] = []
    for key in objects.services.keys.sorted() {
      let service = objects.services[key]!
      guard let network = nonEmpty(service.metadata.labels?[WellKnownLabels.network]) else { continue }
      let port = gatewayPort(of: service)
      let source = "Service \(key)"
      var addresses = externalAddresses(of: service, resolveHostnames: resolveHostnames, resolve: resolve)
      var targetPort = port
      if addresses.isEmpty, service.spec.type == "NodePort",
        let nodePort = service.spec.ports?.first(where: { $0.port == port })?.nodePort
      {
        var selector: [String: String] = [:]
        if let text = service.metadata.annotations?[NodeSelector.annotation], !text.isEmpty {
          let parsed = NodeSelector.parse(text)
          selector = parsed.selector
          if let problem = parsed.problem {
            rejected.append(
              ConfigRejection(
                kind: "Service", namespace: key.namespace, name: key.name, cluster: cluster,
                field: "metadata.annotations[\(NodeSelector.annotation)]", message: problem))
          }
        }
        addresses = nodeAddresses(objects.nodes.filter { NodeSelector.selects(selector, $0.value) })
        targetPort = nodePort
      }
      for address in addresses {
        result.append(
          NetworkGateway(network: network, address: address, port: targetPort, cluster: cluster, source: source))
      }
    }
    return Discovery(gateways: result.sorted(), rejected: rejected)
  }

  /// The port label's value when it is a valid port, else 15443.
  static func gatewayPort(of service: KubeService) -> Int {
    if let text = service.metadata.labels?[WellKnownLabels.gatewayPort], let port = Int(text),
      (1...65535).contains(port)
    {
      return port
    }
    return defaultPort
  }

  /// Load-balancer ingress IPs (and resolved hostnames), else external IPs; without duplicates, in order.
  package static func externalAddresses(
    of service: KubeService, resolveHostnames: Bool, resolve: (String) -> [String] = { _ in [] }
  ) -> [String] {
    var addresses: [String] = []
    for ingress in service.status?.loadBalancer?.ingress ?? [] {
      if let ip = nonEmpty(ingress.ip) {
        addresses.append(ip)
      } else if resolveHostnames, let hostname = nonEmpty(ingress.hostname) {
        addresses += resolve(hostname)
      }
    }
    if addresses.isEmpty { addresses = (service.spec.externalIPs ?? []).filter { !$0.isEmpty } }
    var seen: Set<String> = []
    return addresses.filter { seen.insert($0).inserted }
  }

  /// Every node's ExternalIP addresses, or its InternalIP ones when it has none; nodes by name.
  static func nodeAddresses(_ nodes: [String: Node]) -> [String] {
    var result: [String] = []
    for name in nodes.keys.sorted() {
      let addresses = nodes[name]!.status?.addresses ?? []
      let external = addresses.filter { $0.type == "ExternalIP" }.map(\.address)
      result += external.isEmpty ? addresses.filter { $0.type == "InternalIP" }.map(\.address) : external
    }
    var seen: Set<String> = []
    return result.filter { !$0.isEmpty && seen.insert($0).inserted }
  }
}
