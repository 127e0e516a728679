/// Label names the registry reads, as Istio and Kubernetes spell them.
///
/// Values are read only when non-empty; an empty label counts as absent.
public enum WellKnownLabels {
  /// Network of a cluster (on the system namespace) or of a pod (overrides the cluster's).
  public static let network = "topology.istio.io/network"
  /// On a gateway Service: the port its east-west gateway listens on (default 15443).
  public static let gatewayPort = "networking.istio.io/gatewayPort"
  /// `istio` on pods whose sidecar accepts Istio mTLS.
  public static let tlsMode = "security.istio.io/tlsMode"
  /// The value of `tlsMode` when the label is absent (and the pod has no injected sidecar).
  public static let tlsModeDisabled = "disabled"
  /// The value of `tlsMode` for mTLS-capable workloads.
  public static let tlsModeIstio = "istio"
  /// The annotation the sidecar injector writes on a pod; its presence means the pod has a sidecar.
  public static let sidecarStatus = "sidecar.istio.io/status"
  /// Pod locality override (current name); `/` is written as `.` because label values cannot hold `/`.
  public static let locality = "topology.istio.io/locality"
  /// Pod locality override (legacy name), same format as `locality`.
  public static let legacyLocality = "istio-locality"
  /// Node region.
  public static let region = "topology.kubernetes.io/region"
  /// Node region, pre-GA spelling (read when `region` is absent).
  public static let legacyRegion = "failure-domain.beta.kubernetes.io/region"
  /// Node zone; also the v1beta1 EndpointSlice `topology` key for the zone.
  public static let zone = "topology.kubernetes.io/zone"
  /// Node zone, pre-GA spelling (read when `zone` is absent).
  public static let legacyZone = "failure-domain.beta.kubernetes.io/zone"
  /// Node subzone (Istio's own label).
  public static let subzone = "topology.istio.io/subzone"
}
