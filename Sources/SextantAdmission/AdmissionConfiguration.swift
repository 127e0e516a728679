import SextantRegistry

/// What admission decisions depend on besides the request: the mesh, this control plane and the injection template.
///
/// SextantControlPlane builds it from `ControlPlane.Configuration`; the defaults are istiod's.
package struct AdmissionConfiguration: Sendable {
  /// The control plane's namespace (POD_NAMESPACE, `istio-system`).
  package var systemNamespace = "istio-system"
  /// The revision this control plane serves; `default` for the default revision.
  package var revision = "default"
  /// The cluster an injected proxy belongs to when the request path names none (istio's
  /// `values.global.multiCluster.clusterName`, default `Kubernetes`).
  package var clusterID = "Kubernetes"
  /// The network an injected proxy belongs to when neither the path nor the pod names one; empty for none.
  package var network = ""
  /// The mesh ID given to proxies (ISTIO_META_MESH_ID); nil means the trust domain.
  package var meshID: String?
  /// The mesh's trust domain.
  package var trustDomain = "cluster.local"
  /// The Kubernetes DNS suffix (`cluster.local`).
  package var domainSuffix = "cluster.local"
  /// Where injected proxies fetch config (ProxyConfig.discoveryAddress).
  package var discoveryAddress = "istiod.istio-system.svc:15012"
  /// Where injected proxies get certificates (CA_ADDR); nil means `discoveryAddress`.
  package var caAddress: String?
  /// A file with the injection template and values (Docs/injection.md); nil means the built-in istio 1.24 defaults.
  package var injectionFile: String?
  /// How validation qualifies hosts and names, as the registry does.
  package var registryOptions = RegistryOptions()

  package init() {}
}
