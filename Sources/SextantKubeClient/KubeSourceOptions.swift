/// Settings of `KubeClusterSource` and `SecretWatcher`.
public struct KubeSourceOptions: Sendable {
  /// The server-side `timeoutSeconds` of each watch: how long a watch runs before it is re-established from its
  /// last resourceVersion. Five minutes, as client-go's informers average; tests use a few seconds.
  public var watchTimeout: Duration = .seconds(300)
  /// The longest delay between two attempts while an API server fails (the backoff starts at 100 ms, doubling,
  /// ±20% jitter).
  public var backoffCap: Duration = .seconds(30)
  /// The namespace of the control plane (`istio-system`), where remote secrets are watched.
  public var systemNamespace: String = "istio-system"
  /// The HTTP client's limits and timeouts.
  public var client: KubeClientOptions = KubeClientOptions()
  /// Waits between retries; tests inject one that returns at once.
  var sleep: @Sendable (Duration) async throws -> Void = { try await Task.sleep(for: $0) }
  /// The backoff's random source (tests fix it).
  var random: @Sendable () -> Double = { Double.random(in: 0..<1) }

  public init(
    watchTimeout: Duration = .seconds(300),
    backoffCap: Duration = .seconds(30),
    systemNamespace: String = "istio-system",
    client: KubeClientOptions = KubeClientOptions()
  ) {
    self.watchTimeout = watchTimeout
    self.backoffCap = backoffCap
    self.systemNamespace = systemNamespace
    self.client = client
  }

  /// A fresh backoff with these settings.
  var backoff: Backoff { Backoff(cap: backoffCap, random: random) }
}
