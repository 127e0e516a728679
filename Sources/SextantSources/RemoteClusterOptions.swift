import SextantKubeClient

/// How remote clusters named by remote secrets are watched.
package struct RemoteClusterOptions: Sendable {
  /// How long readiness waits for a remote cluster's initial sync (PILOT_REMOTE_CLUSTER_TIMEOUT); nil waits forever.
  package var syncTimeout: Duration?
  /// Kubeconfig features a remote secret may use although they are unsafe from a secret
  /// (PILOT_INSECURE_MULTICLUSTER_KUBECONFIG_OPTIONS).
  package var allowedKubeconfigOptions: Set<String>
  /// The label that marks remote secrets.
  package var secretLabelSelector: String
  /// Options of each cluster's watches.
  package var source: KubeSourceOptions

  package init(
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
  package static let defaults = RemoteClusterOptions()
}
