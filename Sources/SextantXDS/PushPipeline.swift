import Logging
import ServiceLifecycle
import SextantGeneration
import SextantRegistry
import Synchronization

/// The newest snapshot that was pushed: what requests are answered from, so a proxy never sees config newer than
/// the push that announces it.
package final class PushedSnapshot: Sendable {
  private let current: Mutex<MeshSnapshot>

  package init(_ initial: MeshSnapshot) {
    current = Mutex(initial)
  }

  package var snapshot: MeshSnapshot { current.withLock { $0 } }

  /// Replaces the snapshot unless it is older than the current one.
  func set(_ snapshot: MeshSnapshot) {
    current.withLock { if snapshot.version >= $0.version { $0 = snapshot } }
  }
}

/// Debounces registry changes and hands each batch to every connected proxy (which coalesces what it has not yet
/// sent), pruning the shared resource cache as snapshots move on. Runs as a Service until cancelled.
package final class PushPipeline<C: Clock>: Service, Sendable where C.Duration == Duration {
  private let updates: AsyncStream<(MeshSnapshot, SnapshotChange)>
  private let connections: ConnectionRegistry
  private let pushed: PushedSnapshot
  private let cache: ResourceCache
  private let clock: C
  private let config: DebounceConfig
  private let logger: Logger
  private let machine: Mutex<DebounceStateMachine<C.Instant>>
  private let networkMetrics = NetworkMetrics()

  package init(
    updates: AsyncStream<(MeshSnapshot, SnapshotChange)>,
    connections: ConnectionRegistry,
    pushed: PushedSnapshot,
    cache: ResourceCache,
    clock: C,
    config: DebounceConfig = .defaults,
    logger: Logger
  ) {
    self.updates = updates
    self.connections = connections
    self.pushed = pushed
    self.cache = cache
    self.clock = clock
    self.config = config
    self.logger = logger
    self.machine = Mutex(DebounceStateMachine(config: config))
  }

  package func run() async throws {
    let (doorbell, ring) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    await withTaskGroup(of: Void.self) { group in
      group.addTask {
        for await (snapshot, change) in self.updates.cancelOnGracefulShutdown() {
          let now = self.clock.now
          self.publish { $0.receive(PushRequest(snapshot: snapshot, change: change), at: now) }
          ring.yield()
        }
        ring.finish()
      }
      group.addTask {
        var bell = doorbell.makeAsyncIterator()
        while !Task.isCancelled {
          guard let deadline = self.machine.withLock({ $0.deadline }) else {
            guard await bell.next() != nil else { return }
            continue
          }
          do {
            try await self.clock.sleep(until: deadline, tolerance: nil)
          } catch {
            return
          }
          let now = self.clock.now
          self.publish { $0.fire(at: now) }
        }
      }
      await group.next()
      group.cancelAll()
    }
  }

  /// Runs one step of the debounce machine and publishes the batch it releases, if any, under the machine's lock:
  /// the timer task and the update task never publish out of order. The gauges are updated after, outside it.
  private func publish(_ step: (inout DebounceStateMachine<C.Instant>) -> PushRequest?) {
    let published = machine.withLock { machine -> PushRequest? in
      guard let request = step(&machine) else { return nil }
      push(request)
      return request
    }
    if let published { recordNetworkMetrics(published) }
  }

  /// Publishes one batch: newest snapshot first, then every connection is told. Called with the machine's lock
  /// held, so batches are published in the order the machine releases them; it takes only leaf locks (the pushed
  /// snapshot, the cache, the connection list and each connection's pending request) and never suspends.
  private func push(_ request: PushRequest) {
    pushed.set(request.snapshot)
    cache.prune(keeping: request.snapshot)
    let targets = connections.all
    logger.debug(
      "push",
      metadata: [
        "version": "\(request.snapshot.version)",
        "full": "\(request.change.isFull)",
        "networks": "\(request.change.networks)",
        "hosts": "\(request.change.endpointHostnames.count)",
        "proxies": "\(targets.count)",
      ]
    )
    for connection in targets {
      connection.enqueue(request)
    }
  }

  /// Updates the unreachable-endpoint gauges after a push that moved endpoints or gateways, outside the machine's
  /// lock (it walks every endpoint; `NetworkMetrics` keeps the newest snapshot's figures when two race).
  private func recordNetworkMetrics(_ request: PushRequest) {
    guard request.change.networks || !request.change.endpointHostnames.isEmpty else { return }
    networkMetrics.record(request.snapshot)
  }
}
