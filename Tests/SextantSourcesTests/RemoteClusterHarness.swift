import Logging
import SextantKube
import SextantKubeClient
import SextantRegistry
import SextantTestSupport
import Testing

@testable import SextantSources

/// A coordinator over an in-memory registry, with the primary cluster's ID claimed as the controller claims it.
///
/// Runners are never run: a test plays their part by calling the coordinator as a runner would (`deliver`,
/// `connection`, `failed`, `syncTimedOut`), so no I/O happens.
struct RemoteClusterHarness {
  static let primary: ClusterID = "primary"
  static let namespace = "istio-system"

  let registry = MeshRegistry()
  let owners = ClusterOwners()
  let log = LogRecorder()
  let coordinator: RemoteClusterCoordinator

  init(syncTimeout: Duration? = .seconds(30), clock: any Clock<Duration> = ContinuousClock()) {
    _ = owners.claim(Self.primary, owner: "the primary cluster")
    coordinator = RemoteClusterCoordinator(
      primaryClusterID: Self.primary,
      registry: registry,
      owners: owners,
      options: RemoteClusterOptions(syncTimeout: syncTimeout),
      clock: clock,
      logger: log.logger
    )
  }

  /// The registry's info about `cluster`.
  func info(_ cluster: ClusterID) -> ClusterInfo? { registry.current.clusters[cluster] }

  /// The messages logged at `level` or above that contain `text`.
  func logged(_ text: String, atLeast level: Logger.Level = .warning) -> [LogRecorder.Entry] {
    log.entries(atLeast: level).filter { $0.message.contains(text) }
  }

  // MARK: Inputs

  /// A kubeconfig for `server`, as `istioctl create-remote-secret` writes one (distinct servers, distinct hashes).
  static func kubeconfig(_ server: String) -> String {
    """
    apiVersion: v1
    kind: Config
    clusters:
    - name: remote
      cluster: {server: "\(server)"}
    users:
    - name: remote
      user: {token: "token"}
    contexts:
    - name: remote
      context: {cluster: remote, user: remote}
    current-context: remote
    """
  }

  /// Remote secrets in the system namespace: secret name → (cluster ID → kubeconfig text).
  static func secrets(_ secrets: [String: [ClusterID: String]]) -> [NamespacedName: Secret] {
    var result: [NamespacedName: Secret] = [:]
    for (name, keys) in secrets {
      let secret = Secret(namespace: namespace, name: name, values: keys.mapValues { Array($0.utf8) })
      result[secret.name] = secret
    }
    return result
  }

  /// One secret `remote-<cluster>` naming `cluster` with a kubeconfig for `server`.
  static func secret(_ cluster: ClusterID, server: String) -> [NamespacedName: Secret] {
    secrets(["remote-\(cluster)": [cluster: kubeconfig(server)]])
  }

  /// Objects whose system namespace puts the cluster on `network`: what a test reads back to tell which runner's
  /// objects are served (`ClusterInfo.network`).
  static func objects(network: String) -> ClusterObjects {
    ClusterObjects([
      .namespace(Namespace(metadata: ObjectMeta(name: namespace, labels: ["topology.istio.io/network": network])))
    ])
  }

  /// What a source reports when its initial load is in: all its objects, then synced.
  static func initialLoad(_ cluster: ClusterID, network: String) -> [ClusterSourceUpdate] {
    [
      ClusterSourceUpdate(clusterID: cluster, event: .state(objects(network: network))),
      ClusterSourceUpdate(clusterID: cluster, event: .synced),
    ]
  }

  /// A later change a source reports: all its objects.
  static func change(_ cluster: ClusterID, network: String) -> [ClusterSourceUpdate] {
    [ClusterSourceUpdate(clusterID: cluster, event: .state(objects(network: network)))]
  }

  // MARK: Steps

  /// Reconciles `secrets` and returns the one runner that must start for it.
  func start(_ secrets: [NamespacedName: Secret], sourceLocation: SourceLocation = #_sourceLocation) async throws
    -> RemoteClusterRunner
  {
    let runners = await coordinator.reconcile(secrets)
    try #require(runners.count == 1, "runners started: \(runners.map(\.clusterID))", sourceLocation: sourceLocation)
    return runners[0]
  }

  /// Adds `cluster` (served from `server`) and lets its runner finish its initial load on `network`.
  func addSynced(_ cluster: ClusterID, server: String, network: String) async throws -> RemoteClusterRunner {
    let runner = try await start(Self.secret(cluster, server: server))
    await coordinator.deliver(runner, Self.initialLoad(cluster, network: network))
    await coordinator.connection(runner, .synced)
    return runner
  }
}
