/// Settings of `KubeClusterSource` and `SecretWatcher`.
package struct KubeSourceOptions: Sendable {
  /// The server-side `timeoutSeconds` of each watch: how long a watch runs before it is re-established from its
  /// last resourceVersion. Five minutes, as client-go's informers average; tests use a few seconds.
  package var watchTimeout: Duration = .seconds(300)
  /// The longest delay between two attempts while an API server fails (the backoff starts at 100 ms, doubling,
  /// ±20% jitter).
  package var backoffCap: Duration = .seconds(30)
  /// The namespace of the control plane (`istio-system`), where remote secrets are watched.
  package var systemNamespace: String = "istio-system"
  /// The HTTP client's limits and timeouts.
  package var client: KubeClientOptions = KubeClientOptions()
  /// Whether `KubeClusterSource` also lists and watches Istio's networking config (Gateways and VirtualServices,
  /// networking.istio.io v1, else v1beta1, else v1alpha3, all namespaces). Only the primary (config) cluster reads
  /// Istio config: turn it on for the primary's source and leave it off for remote clusters. When on, the initial
  /// `.synced` also waits for these two collections; where the CRDs are not installed they count as listed (and
  /// empty) and are looked for again at every watch timeout.
  package var watchIstioConfig: Bool = false
  /// Waits between retries; tests inject one that returns at once.
  package var sleep: @Sendable (Duration) async throws -> Void = { try await Task.sleep(for: $0) }
  /// The backoff's random source (tests fix it).
  package var random: @Sendable () -> Double = { Double.random(in: 0..<1) }

  package init(
    watchTimeout: Duration = .seconds(300),
    backoffCap: Duration = .seconds(30),
    systemNamespace: String = "istio-system",
    client: KubeClientOptions = KubeClientOptions(),
    watchIstioConfig: Bool = false
  ) {
    self.watchTimeout = watchTimeout
    self.backoffCap = backoffCap
    self.systemNamespace = systemNamespace
    self.client = client
    self.watchIstioConfig = watchIstioConfig
  }

  /// A fresh backoff with these settings.
  package var backoff: Backoff { Backoff(cap: backoffCap, random: random) }
}
