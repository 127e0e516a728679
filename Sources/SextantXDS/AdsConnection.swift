import EnvoyAPI
import SextantGeneration
import Synchronization

/// One ADS stream as the rest of Sextant sees it: its proxy, its subscriptions (for debug and sync status), and a
/// mailbox in which pushes not yet sent are coalesced into one.
///
/// The mailbox is bounded: at most one push (the coalesced one) and one secrets refresh wait, whatever the number of
/// pushes; the stream's loop takes them in order with its requests (``AdsServer`` hands over one request at a time).
package final class AdsConnection: Sendable {
  /// What happens on a stream, in the order the stream's loop handles it.
  enum Event: Sendable {
    /// A state-of-the-world request.
    case request(Envoy_Service_Discovery_V3_DiscoveryRequest)
    /// A delta (incremental) request.
    case deltaRequest(Envoy_Service_Discovery_V3_DeltaDiscoveryRequest)
    case push
    /// The mesh CA changed or a renewal check is due: resend secrets that are out of date.
    case secrets
    case closed((any Error)?)
  }

  /// A copy of a connection's state for debug endpoints.
  package struct Info: Sendable {
    package var id: String
    package var peer: String
    package var proxy: Proxy?
    /// The authenticated caller (secure port only).
    package var identity: String?
    package var connectedAt: ContinuousClock.Instant
    package var watches: [XDSType: WatchState]
  }

  package let id: String
  /// Which server accepted the stream (`AdsServer.listener`), so one server's shutdown ends only its streams.
  package let listener: String
  private let events: AsyncStream<Event>.Continuation
  private let pending = Mutex<PushRequest?>(nil)
  /// Whether a secrets refresh was announced and not yet taken: refreshes coalesce like pushes.
  private let secretsDue = Atomic<Bool>(false)
  private let info: Mutex<Info>

  init(
    id: String, peer: String, listener: String = "", identity: String? = nil,
    events: AsyncStream<Event>.Continuation
  ) {
    self.id = id
    self.listener = listener
    self.events = events
    self.info = Mutex(Info(id: id, peer: peer, proxy: nil, identity: identity, connectedAt: .now, watches: [:]))
  }

  /// Queues a push; if one is already waiting, the two become one (newest snapshot, union of changes).
  package func enqueue(_ request: PushRequest) {
    let ring = pending.withLock { pending -> Bool in
      if pending == nil {
        pending = request
        return true
      }
      pending!.merge(request)
      return false
    }
    if ring { events.yield(.push) }
  }

  /// Announces that secrets may be out of date (the mesh CA changed, a renewal check is due); announcements not yet
  /// taken become one, so the stream's event queue stays bounded however slow the stream is.
  func secretsChanged() {
    if !secretsDue.exchange(true, ordering: .acquiringAndReleasing) { events.yield(.secrets) }
  }

  /// Takes the announced secrets refresh, if any.
  func takeSecretsDue() -> Bool {
    secretsDue.exchange(false, ordering: .acquiringAndReleasing)
  }

  /// Ends the stream from the server side (graceful shutdown): the proxy reconnects elsewhere or later.
  package func close() {
    events.yield(.closed(nil))
  }

  /// Takes the coalesced push, if any.
  func takePending() -> PushRequest? {
    pending.withLock { pending in
      defer { pending = nil }
      return pending
    }
  }

  func update(proxy: Proxy?, watches: [XDSType: WatchState]) {
    info.withLock {
      $0.proxy = proxy
      $0.watches = watches
    }
  }

  /// The connection's proxy and subscriptions as of now.
  package var snapshot: Info { info.withLock { $0 } }
}

/// The set of live ADS connections.
package final class ConnectionRegistry: Sendable {
  private let connections = Mutex<[String: AdsConnection]>([:])

  package init() {}

  func add(_ connection: AdsConnection) {
    connections.withLock { $0[connection.id] = connection }
  }

  func remove(_ connection: AdsConnection) {
    _ = connections.withLock { $0.removeValue(forKey: connection.id) }
  }

  /// Every live connection, sorted by id.
  package var all: [AdsConnection] {
    connections.withLock { Array($0.values) }.sorted { $0.id < $1.id }
  }

  package var count: Int { connections.withLock { $0.count } }

  /// Ends every stream (of `listener`'s server when given); used at graceful shutdown, after that server stopped
  /// accepting new ones.
  package func closeAll(listener: String? = nil) {
    for connection in all where listener == nil || connection.listener == listener { connection.close() }
  }
}
