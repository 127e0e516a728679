/// Label names the registry reads, as Istio and Kubernetes spell them.
///
/// Values are read only when non-empty; an empty label counts as absent.
package enum WellKnownLabels {
  /// Network of a cluster (on the system namespace) or of a pod (overrides the cluster's).
  package static let network = "topology.istio.io/network"
  /// On a gateway Service: the port its east-west gateway listens on (default 15443).
  package static let gatewayPort = "networking.istio.io/gatewayPort"
  /// `istio` on pods whose sidecar accepts Istio mTLS.
  package static let tlsMode = "security.istio.io/tlsMode"
  /// The value of `tlsMode` when the label is absent (and the pod has no injected sidecar).
  package static let tlsModeDisabled = "disabled"
  /// The value of `tlsMode` for mTLS-capable workloads.
  package static let tlsModeIstio = "istio"
  /// The annotation the sidecar injector writes on a pod; its presence means the pod has a sidecar.
  package static let sidecarStatus = "sidecar.istio.io/status"
  /// Pod locality override (current name); `/` is written as `.` because label values cannot hold `/`.
  package static let locality = "topology.istio.io/locality"
  /// Pod locality override (legacy name), same format as `locality`.
  package static let legacyLocality = "istio-locality"
  /// Node region.
  package static let region = "topology.kubernetes.io/region"
  /// Node region, pre-GA spelling (read when `region` is absent).
  package static let legacyRegion = "failure-domain.beta.kubernetes.io/region"
  /// Node zone; also the v1beta1 EndpointSlice `topology` key for the zone.
  package static let zone = "topology.kubernetes.io/zone"
  /// Node zone, pre-GA spelling (read when `zone` is absent).
  package static let legacyZone = "failure-domain.beta.kubernetes.io/zone"
  /// Node subzone (Istio's own label).
  package static let subzone = "topology.istio.io/subzone"
}
