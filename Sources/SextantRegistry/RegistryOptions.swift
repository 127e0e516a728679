/// Settings that shape how a cluster's objects become mesh services.
///
/// The same options must be used for every cluster of a mesh: hostnames are only merged across clusters when they
/// are spelled the same.
package struct RegistryOptions: Sendable, Hashable {
  /// The DNS suffix of service hostnames (`NAME.NAMESPACE.svc.DOMAIN_SUFFIX`); istiod's `--domain`.
  package var domainSuffix: String
  /// The namespace whose `topology.istio.io/network` label names the cluster's default network.
  package var systemNamespace: String
  /// Networks declared in mesh configuration (endpoint ranges, clusters, gateways); labels take precedence.
  package var meshNetworks: MeshNetworks
  /// Resolve a gateway Service's load-balancer hostname to addresses (istiod's RESOLVE_HOSTNAME_GATEWAYS); when
  /// false such a hostname gives no gateway address.
  package var resolveHostnameGateways: Bool

  package init(
    domainSuffix: String = "cluster.local",
    systemNamespace: String = "istio-system",
    meshNetworks: MeshNetworks = .none,
    resolveHostnameGateways: Bool = true
  ) {
    self.domainSuffix = domainSuffix
    self.systemNamespace = systemNamespace
    self.meshNetworks = meshNetworks
    self.resolveHostnameGateways = resolveHostnameGateways
  }

  /// `cluster.local` and `istio-system`, as istiod defaults.
  package static let defaults = RegistryOptions()

  /// The hostname of the Service `name` in `namespace`.
  package func hostname(name: String, namespace: String) -> String {
    "\(name).\(namespace).svc.\(domainSuffix)"
  }
}
