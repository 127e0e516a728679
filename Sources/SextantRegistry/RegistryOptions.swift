/// Settings that shape how a cluster's objects become mesh services.
///
/// The same options must be used for every cluster of a mesh: hostnames are only merged across clusters when they
/// are spelled the same.
public struct RegistryOptions: Sendable, Hashable {
  /// The DNS suffix of service hostnames (`NAME.NAMESPACE.svc.DOMAIN_SUFFIX`); istiod's `--domain`.
  public var domainSuffix: String
  /// The namespace whose `topology.istio.io/network` label names the cluster's default network.
  public var systemNamespace: String

  public init(domainSuffix: String = "cluster.local", systemNamespace: String = "istio-system") {
    self.domainSuffix = domainSuffix
    self.systemNamespace = systemNamespace
  }

  /// `cluster.local` and `istio-system`, as istiod defaults.
  public static let defaults = RegistryOptions()

  /// The hostname of the Service `name` in `namespace`.
  public func hostname(name: String, namespace: String) -> String {
    "\(name).\(namespace).svc.\(domainSuffix)"
  }
}
