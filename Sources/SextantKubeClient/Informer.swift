import Logging
import SextantKube

/// Keeps a local copy of one collection: lists it, then watches it, and reports every change of the copy.
///
/// The loop:
/// - **List** (at start, and whenever a relist is due): the result replaces the store; the first list is reported
///   whole (`initialList`), later ones only as the difference (`relist`: upserts and deletes, see `RelistDiff`), so
///   nothing stale remains and nothing is reported twice.
/// - **Watch** from the list's resourceVersion, then from the last event's or bookmark's. Events are applied one
///   received chunk at a time and reported as one `watch` change; objects equal to the stored version (after
///   `transform`) are not reported.
/// - A watch that **ends normally** having received events, or after at least half of `watchTimeout` (the server
///   ends watches after `timeoutSeconds`), is simply started again from the last resourceVersion. One that ends at
///   once without any event is suspicious: relist, after a backoff delay.
/// - **410 Gone** (HTTP status or ERROR event, or a source's own `gone`, such as `VersionedResourceSource` when the
///   served version changed): relist at once (after a backoff delay when it happens again without progress in
///   between). Any other ERROR event: error state, backoff, relist.
/// - A watch event that **does not decode** (or holds a value the API server's validation would reject, such as a
///   port outside 1-65535): error state, backoff, relist. The list leaves that object out (and the informer logs it
///   by cluster, kind, namespace/name and field), and the next watch starts after it, so one object Sextant's model
///   rejects does not stop the collection's watch.
/// - **Failures** (connection refused or reset, TLS, timeouts, 401/403, 404, 429, 5xx, a response that is not a
///   list): error state, wait `backoff`, retry the same step (a failed watch resumes from the same
///   resourceVersion). The backoff resets only after a watch that made progress (ended normally having received
///   events, or after half of `watchTimeout`), not after a list alone: while every watch fails at once (410,
///   immediate close, an undecodable event), the relists wait longer each time, up to the backoff's cap.
///
/// State changes (`syncing` → `synced`, → `error`, back to `synced`) are reported through `onState` and logged
/// once per change — entering an error (with cluster, URL and reason, at error level), a different kind of error,
/// recovery (info) — never once per attempt.
package struct Informer<Object: KubeResourceObject>: Sendable {
  package let source: any ListWatchSource<Object>
  /// Names the collection in logs (`Pods`).
  package let name: String
  package let watchTimeout: Duration
  package let backoff: Backoff
  private let transform: @Sendable (Object) -> Object
  private let sleep: @Sendable (Duration) async throws -> Void
  private let logger: Logger

  /// - Parameters:
  ///   - watchTimeout: The server-side `timeoutSeconds` of each watch.
  ///   - transform: Applied to every object before it is stored and compared (to clear fields that change without
  ///     mattering, or to convert versions).
  ///   - sleep: Waits between retries; tests inject one that records the delays and returns at once.
  package init(
    source: any ListWatchSource<Object>,
    name: String,
    watchTimeout: Duration,
    backoff: Backoff = Backoff(),
    transform: @escaping @Sendable (Object) -> Object = { $0 },
    logger: Logger,
    sleep: @escaping @Sendable (Duration) async throws -> Void = { try await Task.sleep(for: $0) }
  ) {
    self.source = source
    self.name = name
    self.watchTimeout = watchTimeout
    self.backoff = backoff
    self.transform = transform
    self.logger = logger
    self.sleep = sleep
  }

  /// Lists and watches until the task is cancelled (or the client is shut down), reporting every change.
  ///
  /// `onChange` and `onState` are awaited before the loop goes on. The state starts as `syncing` (not reported).
  /// The decisions are ``InformerStateMachine``'s; this loop does the I/O it asks for.
  package func run(
    onChange: @Sendable (InformerChange<Object>) async -> Void,
    onState: @Sendable (InformerState) async -> Void
  ) async {
    var machine = InformerStateMachine(
      clusterID: source.clusterID, url: source.url, watchTimeout: watchTimeout, backoff: backoff,
      transform: transform)

    func perform(_ effects: [InformerStateMachine<Object>.Effect]) async {
      for effect in effects {
        switch effect {
        case .change(let change):
          await onChange(change)
        case .state(let next, let previous):
          log(from: previous, to: next)
          await onState(next)
        case .note(let note):
          log(note)
        }
      }
    }

    while !Task.isCancelled {
      switch machine.nextAction() {
      case .list:
        let list: ObjectList<Object>
        do throws(KubeClientError) {
          list = try await source.list()
        } catch {
          if Task.isCancelled { return }
          await perform(machine.listFailed(error))
          continue
        }
        await perform(machine.listed(list))

      case .watch(let version):
        let started = ContinuousClock.now
        var thrown: (any Error)?
        do {
          let stream = try await source.watch(resourceVersion: version, timeout: watchTimeout)
          await perform(machine.watchStarted())
          for try await batch in stream {
            let (effects, readOn) = machine.received(batch)
            await perform(effects)
            if !readOn { break }
          }
        } catch {
          thrown = error
        }
        if Task.isCancelled { return }
        await perform(machine.watchEnded(thrown, after: ContinuousClock.now - started))

      case .backOff(let delay):
        do {
          try await sleep(delay)
        } catch {
          return
        }

      case .stop:
        return
      }
    }
  }

  private func log(_ note: InformerStateMachine<Object>.Note) {
    switch note {
    case .skipped(let skipped):
      logger.error(
        "Leaving out an object that does not decode: cluster \(source.clusterID): \(Object.kind) \(skipped)",
        metadata: ["url": "\(source.url)"])
    case .listed(let objects, let resourceVersion):
      logger.debug(
        "Listed \(name)",
        metadata: ["url": "\(source.url)", "objects": "\(objects)", "resourceVersion": "\(resourceVersion)"])
    case .relisting(let reason, let resourceVersion):
      logger.info(
        "\(name): listing again: \(reason)",
        metadata: ["url": "\(source.url)", "resourceVersion": "\(resourceVersion)"])
    case .endedWithoutEvents:
      logger.debug("\(name): watch ended at once without events; listing again", metadata: ["url": "\(source.url)"])
    }
  }

  private func log(from current: InformerState, to next: InformerState) {
    switch (current, next) {
    case (_, .error(let error)):
      let verb = if case .error = current { "still failing, now" } else { "cannot list or watch" }
      logger.error(
        "\(name): \(verb): \(error.message)",
        metadata: ["cluster": "\(error.clusterID)", "url": "\(error.url)", "code": "\(error.code.rawValue)"])
    case (.error, .synced):
      logger.info(
        "\(name): connection recovered", metadata: ["cluster": "\(source.clusterID)", "url": "\(source.url)"])
    default:
      break
    }
  }
}
