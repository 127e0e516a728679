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
/// - A watch event that **does not decode**: error state, backoff, relist. The list leaves that object out (and the
///   informer logs it by name and field), and the next watch starts after it, so one object Sextant's model rejects
///   does not stop the collection's watch.
/// - **Failures** (connection refused or reset, TLS, timeouts, 401/403, 404, 429, 5xx, a response that is not a
///   list): error state, wait `backoff`, retry the same step (a failed watch resumes from the same
///   resourceVersion). The backoff resets after a successful list or a watch that made progress.
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
  package func run(
    onChange: @Sendable (InformerChange<Object>) async -> Void,
    onState: @Sendable (InformerState) async -> Void
  ) async {
    var store: [NamespacedName: Object] = [:]
    var resourceVersion: String?
    var listed = false
    var backoff = self.backoff
    var state = InformerState.syncing
    var goneWithoutProgress = 0

    func report(_ next: InformerState) async {
      guard state.differs(from: next) else { return }
      log(from: state, to: next)
      state = next
      await onState(next)
    }

    func pause() async -> Bool {
      let delay = backoff.next()
      do {
        try await sleep(delay)
      } catch {
        return false
      }
      return !Task.isCancelled
    }

    while !Task.isCancelled {
      guard let version = resourceVersion else {
        let list: ObjectList<Object>
        do throws(KubeClientError) {
          list = try await source.list()
        } catch {
          if error.code == .cancelled || Task.isCancelled { return }
          var error = error
          error.clusterID = source.clusterID
          await report(.error(error))
          if await pause() { continue } else { return }
        }
        for skipped in list.skipped {
          logger.error(
            "Leaving out an object that does not decode: \(skipped)", metadata: ["url": "\(source.url)"])
        }
        var fresh: [NamespacedName: Object] = [:]
        fresh.reserveCapacity(list.items.count)
        for item in list.items {
          let object = transform(item)
          fresh[object.informerKey] = object
        }
        let diff = RelistDiff.between(old: store, new: fresh)
        store = fresh
        resourceVersion = list.resourceVersion
        backoff.reset()
        logger.debug(
          "Listed \(name)",
          metadata: ["url": "\(source.url)", "objects": "\(fresh.count)", "resourceVersion": "\(list.resourceVersion)"])
        if !listed {
          listed = true
          await onChange(InformerChange(kind: .initialList, upserted: diff.upserted, deleted: []))
        } else if !diff.isEmpty {
          await onChange(InformerChange(kind: .relist, upserted: diff.upserted, deleted: diff.deleted))
        }
        await report(.synced)
        continue
      }

      let started = ContinuousClock.now
      var received = 0
      var failure: KubeClientError?
      var relistAfterFailure = false
      do {
        let stream = try await source.watch(resourceVersion: version, timeout: watchTimeout)
        await report(.synced)
        batches: for try await batch in stream {
          var upserted: [NamespacedName: Object] = [:]
          var deleted: Set<NamespacedName> = []
          for event in batch {
            if case .error = event {} else { received += 1 }
            switch event {
            case .added(let object), .modified(let object):
              if let next = object.metadata.resourceVersion, !next.isEmpty { resourceVersion = next }
              let stored = transform(object)
              let key = stored.informerKey
              if store[key] != stored {
                store[key] = stored
                upserted[key] = stored
                deleted.remove(key)
              }
            case .deleted(let object):
              if let next = object.metadata.resourceVersion, !next.isEmpty { resourceVersion = next }
              let key = object.informerKey
              if store.removeValue(forKey: key) != nil {
                upserted[key] = nil
                deleted.insert(key)
              }
            case .bookmark(let next):
              resourceVersion = next
            case .error(let status):
              var error = KubeClientError.forStatus(
                status.code ?? 500, reason: status.reason, apiMessage: status.message, clusterID: source.clusterID,
                url: source.url)
              error.message = "watch ERROR event: \(error.message)"
              failure = error
              relistAfterFailure = true
            }
            if failure != nil { break }
          }
          if !upserted.isEmpty || !deleted.isEmpty {
            await onChange(
              InformerChange(
                kind: .watch, upserted: upserted.keys.sorted().map { upserted[$0]! }, deleted: deleted.sorted()))
          }
          if failure != nil { break batches }
        }
      } catch let error as KubeClientError {
        failure = error
      } catch {
        failure = KubeClientError(
          code: .connectionFailed, message: "\(error)", clusterID: source.clusterID, url: source.url)
      }

      if Task.isCancelled || failure?.code == .cancelled { return }
      if let failure, failure.code == .gone {
        // The resourceVersion is too old (or the source asks for a list): list again, at once the first time.
        logger.info(
          "\(name): listing again: \(failure.message)",
          metadata: ["url": "\(source.url)", "resourceVersion": "\(version)"])
        resourceVersion = nil
        goneWithoutProgress += 1
        if received == 0 && goneWithoutProgress > 1 {
          if await pause() { continue } else { return }
        }
        continue
      }
      if var failure {
        failure.clusterID = source.clusterID
        await report(.error(failure))
        // An event that does not decode would fail every watch from the same resourceVersion again.
        if relistAfterFailure || failure.code == .decodingFailed { resourceVersion = nil }
        if await pause() { continue } else { return }
      }
      if received > 0 || ContinuousClock.now - started >= watchTimeout / 2 {
        backoff.reset()
        goneWithoutProgress = 0
        continue
      }
      logger.debug("\(name): watch ended at once without events; listing again", metadata: ["url": "\(source.url)"])
      resourceVersion = nil
      if await pause() { continue } else { return }
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
