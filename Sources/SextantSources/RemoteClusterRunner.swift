import Logging
import SextantKube
import SextantKubeClient
import SextantRegistry
import Synchronization

/// Runs the Kubernetes source of one remote cluster for one kubeconfig until told to stop, reporting to the
/// coordinator; what it is for (serving or replacing) is the coordinator's business.
final class RemoteClusterRunner: Sendable {
  /// What the coordinator decided this runner is: cluster, kubeconfig, generation.
  let spec: RemoteClusterSpec
  private let options: RemoteClusterOptions
  private let clock: any Clock<Duration>
  private let logger: Logger
  private let stopSignal: AsyncStream<Void>
  private let stopContinuation: AsyncStream<Void>.Continuation
  private let stopped = Mutex(false)
  private let currentClient = Mutex<KubeClient?>(nil)

  init(spec: RemoteClusterSpec, options: RemoteClusterOptions, clock: any Clock<Duration>, logger: Logger) {
    self.spec = spec
    self.options = options
    self.clock = clock
    var logger = logger
    logger[metadataKey: "cluster"] = "\(spec.clusterID)"
    self.logger = logger
    (stopSignal, stopContinuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
  }

  var clusterID: ClusterID { spec.clusterID }
  var generation: UInt64 { spec.generation }
  var kubeconfig: String { spec.kubeconfig }
  var kubeconfigHash: String { spec.kubeconfigHash }
  var secret: String { spec.secret }

  /// The cluster's API client while `run` runs its source (for TokenReviews); nil before, after, and when the
  /// kubeconfig is unusable. Shut down by `run` when the source stops.
  var client: KubeClient? { currentClient.withLock { $0 } }

  /// Asks the runner to stop; `run` returns soon after.
  func stop() {
    stopped.withLock { $0 = true }
    stopContinuation.yield()
    stopContinuation.finish()
  }

  /// True once `stop()` was called.
  var isStopped: Bool { stopped.withLock { $0 } }

  /// Waits `RemoteClusterOptions.syncTimeout` on the runner's clock, then tells `coordinator` (which ignores it when
  /// the cluster has synced or this runner no longer serves).
  ///
  /// - Returns: whether it told the coordinator: false at once without a timeout (nil or zero), and when cancelled
  ///   before the timeout passed.
  func reportSyncTimeout(to coordinator: RemoteClusterCoordinator) async -> Bool {
    guard let timeout = options.syncTimeout, timeout > .zero else { return false }
    do {
      try await clock.sleep(for: timeout)
    } catch {
      return false
    }
    await coordinator.syncTimedOut(self)
    return true
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
          await self.reportSyncTimeout(to: coordinator) ? .timerFired : .stopped
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
