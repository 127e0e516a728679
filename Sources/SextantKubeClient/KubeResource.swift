import SextantKube

/// One collection of the Kubernetes API: group, version, plural name, and the namespace it is restricted to.
package struct KubeResource: Sendable, Hashable, CustomStringConvertible {
  /// The API group; empty for the core group.
  package var group: String
  package var version: String
  /// The plural resource name (`endpointslices`).
  package var plural: String
  /// Restricts the collection to one namespace; nil lists across all namespaces (or a cluster-scoped resource).
  package var namespace: String?

  package init(group: String, version: String, plural: String, namespace: String? = nil) {
    self.group = group
    self.version = version
    self.plural = plural
    self.namespace = namespace
  }

  package static let namespaces = KubeResource(group: "", version: "v1", plural: "namespaces")
  package static let services = KubeResource(group: "", version: "v1", plural: "services")
  package static let endpoints = KubeResource(group: "", version: "v1", plural: "endpoints")
  package static let pods = KubeResource(group: "", version: "v1", plural: "pods")
  package static let nodes = KubeResource(group: "", version: "v1", plural: "nodes")
  package static let endpointSlicesV1 = KubeResource(group: "discovery.k8s.io", version: "v1", plural: "endpointslices")
  package static let endpointSlicesV1beta1 = KubeResource(
    group: "discovery.k8s.io", version: "v1beta1", plural: "endpointslices")

  /// Istio's networking.istio.io `plural` (`gateways`, `virtualservices`) in `version` (`v1`, `v1beta1`,
  /// `v1alpha3`), across all namespaces.
  package static func istioNetworking(_ plural: String, version: String) -> KubeResource {
    KubeResource(group: IstioAPI.networkingGroup, version: version, plural: plural)
  }

  /// Secrets in `namespace`.
  package static func secrets(in namespace: String) -> KubeResource {
    KubeResource(group: "", version: "v1", plural: "secrets", namespace: namespace)
  }

  /// The collection's path: `/api/v1/pods`, `/apis/discovery.k8s.io/v1/endpointslices`,
  /// `/api/v1/namespaces/istio-system/secrets`.
  package var path: String {
    let base = group.isEmpty ? "/api/\(version)" : "/apis/\(group)/\(version)"
    guard let namespace else { return "\(base)/\(plural)" }
    return "\(base)/namespaces/\(namespace)/\(plural)"
  }

  /// `endpointslices.v1.discovery.k8s.io`, as kubectl names resources.
  package var description: String {
    let name = group.isEmpty ? "\(plural).\(version)" : "\(plural).\(version).\(group)"
    return namespace.map { "\(name) in \($0)" } ?? name
  }
}
