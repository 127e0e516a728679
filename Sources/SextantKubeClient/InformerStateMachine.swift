import SextantKube

/// The decisions of an ``Informer`` as a pure state machine: what to do next, and what each list or watch result
/// changes and reports.
///
/// The informer's loop asks ``nextAction()`` (list, watch from a resourceVersion, back off, stop), does that I/O,
/// and feeds the result back (``listed(_:)``, ``listFailed(_:)``, ``watchStarted()``, ``received(_:)``,
/// ``watchEnded(_:after:)``); each returns the ``Effect``s to carry out, in order. It does no I/O and reads no
/// clock, so tests drive it with made-up results. The rules are the ones `Informer` documents. The phases:
/// - `ready`: nothing in flight; next, a list (no resourceVersion yet, or a relist is due) or a watch from the
///   stored resourceVersion.
/// - `watching`: a watch is open (or being opened); it counts its events and remembers an ERROR event that ended it.
/// - `backingOff(D)`: a failure asked to wait D (from `Backoff`) before going on from `ready`.
/// - `stopped`: the list or watch was cancelled; nothing more to do.
package struct InformerStateMachine<Object: KubeResourceObject>: Sendable {
  /// What the informer does next.
  package enum Action: Sendable, Hashable {
    /// List the collection and feed the result to ``listed(_:)`` or ``listFailed(_:)``.
    case list
    /// Watch from `resourceVersion`: feed ``watchStarted()`` once the server accepted it, ``received(_:)`` for each
    /// batch (while it says to read on), then ``watchEnded(_:after:)``.
    case watch(resourceVersion: String)
    /// Wait this long, then ask again.
    case backOff(Duration)
    /// Return: the informer was cancelled.
    case stop
  }

  /// Something the informer reports or logs, in the order given.
  package enum Effect: Sendable {
    /// Report a change of the store (`onChange`).
    case change(InformerChange<Object>)
    /// Report a new state (`onState`), logging the move from `previous`.
    case state(InformerState, previous: InformerState)
    /// Log only.
    case note(Note)
  }

  /// What the informer logs beyond state changes.
  package enum Note: Sendable, Hashable {
    /// A list item that did not decode was left out.
    case skipped(SkippedItem)
    /// A list replaced the store.
    case listed(objects: Int, resourceVersion: String)
    /// The watch from `resourceVersion` got 410 Gone (or its source asked for a list): listing again.
    case relisting(reason: String, resourceVersion: String)
    /// The watch ended at once without events: listing again after a delay.
    case endedWithoutEvents
  }

  /// The states (see the type's documentation).
  package enum Phase: Sendable, Hashable {
    case ready
    case watching(WatchProgress)
    case backingOff(Duration)
    case stopped
  }

  /// What one open watch has seen so far.
  package struct WatchProgress: Sendable, Hashable {
    /// The resourceVersion the watch started from.
    package var from: String
    /// Events received, ERROR events not counted.
    package var received = 0
    /// The failure of an ERROR event, which ends the watch (and calls for a relist).
    package var failure: KubeClientError?

    package init(from: String) {
      self.from = from
    }
  }

  package private(set) var phase: Phase = .ready
  /// The local copy, by key, after `transform`.
  package private(set) var store: [NamespacedName: Object] = [:]
  /// Where the next watch starts; nil when the next step is a list.
  package private(set) var resourceVersion: String?
  /// The state last reported (`syncing`, not reported, at first).
  package private(set) var state = InformerState.syncing
  /// Whether a list succeeded: the first is reported whole, later ones as the difference.
  package private(set) var listedOnce = false
  /// 410s in a row without a watch that made progress in between: from the second one, a relist backs off.
  package private(set) var goneWithoutProgress = 0
  private var backoff: Backoff
  /// The server-side `timeoutSeconds` of each watch: one that lasted half of it ended normally.
  package let watchTimeout: Duration
  /// The source's cluster and URL, for the errors of ERROR events and failures.
  package let clusterID: String
  package let url: String
  private let transform: @Sendable (Object) -> Object

  package init(
    clusterID: String,
    url: String,
    watchTimeout: Duration,
    backoff: Backoff,
    transform: @escaping @Sendable (Object) -> Object = { $0 }
  ) {
    self.clusterID = clusterID
    self.url = url
    self.watchTimeout = watchTimeout
    self.backoff = backoff
    self.transform = transform
  }

  /// What to do now. A watch action moves to `watching`, a back-off to `ready`; ask again only after feeding the
  /// result of the last action.
  package mutating func nextAction() -> Action {
    switch phase {
    case .ready:
      guard let resourceVersion else { return .list }
      phase = .watching(WatchProgress(from: resourceVersion))
      return .watch(resourceVersion: resourceVersion)
    case .watching(let progress):
      return .watch(resourceVersion: progress.from)
    case .backingOff(let delay):
      phase = .ready
      return .backOff(delay)
    case .stopped:
      return .stop
    }
  }

  /// A list succeeded: it replaces the store (reported whole the first time, then as the difference), the watch
  /// continues from its resourceVersion, and the state is `synced`.
  ///
  /// The backoff does not reset here: a list alone is no progress when every watch after it fails at once (410,
  /// immediate close, an undecodable event), and resetting would relist about ten times a second. Only a watch that
  /// made progress resets it (``watchEnded(_:after:)``).
  package mutating func listed(_ list: ObjectList<Object>) -> [Effect] {
    var effects = list.skipped.map { Effect.note(.skipped($0)) }
    var fresh: [NamespacedName: Object] = [:]
    fresh.reserveCapacity(list.items.count)
    for item in list.items {
      let object = transform(item)
      fresh[object.informerKey] = object
    }
    let diff = RelistDiff.between(old: store, new: fresh)
    store = fresh
    resourceVersion = list.resourceVersion
    phase = .ready
    effects.append(.note(.listed(objects: fresh.count, resourceVersion: list.resourceVersion)))
    if !listedOnce {
      listedOnce = true
      effects.append(.change(InformerChange(kind: .initialList, upserted: diff.upserted, deleted: [])))
    } else if !diff.isEmpty {
      effects.append(.change(InformerChange(kind: .relist, upserted: diff.upserted, deleted: diff.deleted)))
    }
    effects += report(.synced)
    return effects
  }

  /// A list failed: stop when it was cancelled; otherwise the error state, and back off before listing again.
  package mutating func listFailed(_ error: KubeClientError) -> [Effect] {
    if error.code == .cancelled {
      phase = .stopped
      return []
    }
    var error = error
    error.clusterID = clusterID
    let effects = report(.error(error))
    phase = .backingOff(backoff.next())
    return effects
  }

  /// The server accepted the watch: the state is `synced`.
  package mutating func watchStarted() -> [Effect] {
    report(.synced)
  }

  /// Applies one received batch of watch events to the store and reports what changed (keys whose stored object
  /// did not change are left out). An ERROR event ends the watch: the events after it are not applied, and
  /// `readOn` is false (stop reading, then call ``watchEnded(_:after:)``).
  package mutating func received(_ batch: [WatchEvent<Object>]) -> (effects: [Effect], readOn: Bool) {
    guard case .watching(var progress) = phase else { return ([], false) }
    var upserted: [NamespacedName: Object] = [:]
    var deleted: Set<NamespacedName> = []
    for event in batch {
      if case .error = event {} else { progress.received += 1 }
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
          status.code ?? 500, reason: status.reason, apiMessage: status.message, clusterID: clusterID, url: url)
        error.message = "watch ERROR event: \(error.message)"
        progress.failure = error
      }
      if progress.failure != nil { break }
    }
    phase = .watching(progress)
    var effects: [Effect] = []
    if !upserted.isEmpty || !deleted.isEmpty {
      let objects = upserted.sorted { $0.key < $1.key }.map(\.value)
      effects.append(.change(InformerChange(kind: .watch, upserted: objects, deleted: deleted.sorted())))
    }
    return (effects, progress.failure == nil)
  }

  /// The watch ended: with `error` when starting it or reading it threw (nil when it ended normally, or after an
  /// ERROR event), `elapsed` after it was requested. Decides what comes next:
  /// - cancelled: stop.
  /// - 410 Gone: relist, at once unless it is the second 410 in a row and this watch received nothing.
  /// - another failure: the error state and a backoff; relist after an ERROR event or an event that does not
  ///   decode, else watch again from the same resourceVersion.
  /// - a normal end after events or after half of `watchTimeout`: watch again at once; the backoff resets (the only
  ///   place it does, so delays keep growing across relists while watches keep failing at once).
  /// - a normal end at once without events: relist after a backoff.
  package mutating func watchEnded(_ error: (any Error)?, after elapsed: Duration) -> [Effect] {
    guard case .watching(let progress) = phase else { return [] }
    let failure: KubeClientError? =
      progress.failure
      ?? error.map { error in
        (error as? KubeClientError)
          ?? KubeClientError(code: .connectionFailed, message: "\(error)", clusterID: clusterID, url: url)
      }
    if var failure {
      switch failure.code {
      case .cancelled:
        phase = .stopped
        return []
      case .gone:
        // The resourceVersion is too old (or the source asks for a list): list again, at once the first time.
        resourceVersion = nil
        goneWithoutProgress += 1
        phase = progress.received == 0 && goneWithoutProgress > 1 ? .backingOff(backoff.next()) : .ready
        return [.note(.relisting(reason: failure.message, resourceVersion: progress.from))]
      default:
        failure.clusterID = clusterID
        let effects = report(.error(failure))
        // An event that does not decode would fail every watch from the same resourceVersion again.
        if progress.failure != nil || failure.code == .decodingFailed { resourceVersion = nil }
        phase = .backingOff(backoff.next())
        return effects
      }
    }
    if progress.received > 0 || elapsed >= watchTimeout / 2 {
      backoff.reset()
      goneWithoutProgress = 0
      phase = .ready
      return []
    }
    resourceVersion = nil
    phase = .backingOff(backoff.next())
    return [.note(.endedWithoutEvents)]
  }

  /// Moves to `next` and reports it, unless it is the same state (errors: the same code).
  private mutating func report(_ next: InformerState) -> [Effect] {
    guard state.differs(from: next) else { return [] }
    let previous = state
    state = next
    return [.state(next, previous: previous)]
  }
}

extension InformerStateMachine.Effect: Equatable where Object: Equatable {}
