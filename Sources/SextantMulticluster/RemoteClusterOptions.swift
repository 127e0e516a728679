import SextantKubeClient

/// How remote clusters named by remote secrets are watched.
public struct RemoteClusterOptions: Sendable {
  /// How long readiness waits for a remote cluster's initial sync (PILOT_REMOTE_CLUSTER_TIMEOUT); nil waits forever.
  public var syncTimeout: Duration?
  /// Kubeconfig features a remote secret may use although they are unsafe from a secret
  /// (PILOT_INSECURE_MULTICLUSTER_KUBECONFIG_OPTIONS).
  public var allowedKubeconfigOptions: Set<String>
  /// The label that marks remote secrets.
  public var secretLabelSelector: String
  /// Options of each cluster's watches.
  public var source: KubeSourceOptions

  public init(
    syncTimeout: Duration? = .seconds(30),
    allowedKubeconfigOptions: Set<String> = [],
    secretLabelSelector: String = "istio/multiCluster=true",
    source: KubeSourceOptions = KubeSourceOptions()
  ) {
    self.syncTimeout = syncTimeout
    self.allowedKubeconfigOptions = allowedKubeconfigOptions
    self.secretLabelSelector = secretLabelSelector
    self.source = source
  }

  /// istiod's defaults: 30 s sync timeout, no insecure kubeconfig options.
  public static let defaults = RemoteClusterOptions()
}
