import Logging
import SextantKube
import SextantKubeClient
import SextantRegistry
import Synchronization

/// Runs the Kubernetes source of one remote cluster for one kubeconfig until told to stop.
final class RemoteClusterRunner: Sendable {
  let clusterID: ClusterID
  let generation: UInt64
  let kubeconfig: String
  let kubeconfigHash: String
  let secret: String
  private let options: RemoteClusterOptions
  private let clock: any Clock<Duration>
  private let logger: Logger
  private let stopSignal: AsyncStream<Void>
  private let stopContinuation: AsyncStream<Void>.Continuation
  private let currentClient = Mutex<KubeClient?>(nil)

  init(
    clusterID: ClusterID,
    generation: UInt64,
    kubeconfig: String,
    kubeconfigHash: String,
    secret: String,
    options: RemoteClusterOptions,
    clock: any Clock<Duration>,
    logger: Logger
  ) {
    self.clusterID = clusterID
    self.generation = generation
    self.kubeconfig = kubeconfig
    self.kubeconfigHash = kubeconfigHash
    self.secret = secret
    self.options = options
    self.clock = clock
    var logger = logger
    logger[metadataKey: "cluster"] = "\(clusterID)"
    self.logger = logger
    (stopSignal, stopContinuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
  }

  /// The cluster's API client while `run` runs its source (for TokenReviews); nil before, after, and when the
  /// kubeconfig is unusable. Shut down by `run` when the source stops.
  var client: KubeClient? { currentClient.withLock { $0 } }

  /// Asks the runner to stop; `run` returns soon after.
  func stop() {
    stopContinuation.yield()
    stopContinuation.finish()
  }

  private enum Outcome: Sendable {
    case stopped
    case sourceEnded
    case timerFired
  }

  /// Parses the kubeconfig (as untrusted input), then runs the cluster's source until `stop()` or cancellation.
  func run(coordinator: RemoteClusterCoordinator) async {
    let source: KubeClusterSource
    let client: KubeClient
    do {
      let config = try Kubeconfig.parse(
        yaml: kubeconfig,
        source: "secret \(secret), key \(clusterID)",
        policy: .untrusted(allowing: options.allowedKubeconfigOptions)
      ).clientConfig()
      // Checks the configuration as an owning source would, so a bad one fails here.
      _ = try KubeClusterSource(clusterID: clusterID, config: config, options: options.source, logger: logger)
      // The runner owns the client (shared with TokenReviews): created here, shut down when the source returns.
      client = KubeClient(clusterID: clusterID, config: config, options: options.source.client, logger: logger)
      source = KubeClusterSource(clusterID: clusterID, client: client, options: options.source, logger: logger)
    } catch {
      await coordinator.failed(self, reason: "\(error)")
      for await _ in stopSignal { break }
      return
    }
    currentClient.withLock { $0 = client }
    let stopSignal = stopSignal
    let clock = clock
    let timeout = options.syncTimeout
    await withTaskGroup(of: Outcome.self) { group in
      group.addTask {
        await source.run { updates in
          await coordinator.deliver(self, updates)
        } onState: { state in
          await coordinator.connection(self, state)
        }
        return .sourceEnded
      }
      group.addTask {
        for await _ in stopSignal { break }
        return .stopped
      }
      if let timeout, timeout > .zero {
        group.addTask {
          do {
            try await clock.sleep(for: timeout)
          } catch {
            return .stopped
          }
          await coordinator.syncTimedOut(self)
          return .timerFired
        }
      }
      while let outcome = await group.next() {
        if outcome != .timerFired { break }
      }
      group.cancelAll()
    }
    currentClient.withLock { $0 = nil }
    await client.shutdown()
  }
}
