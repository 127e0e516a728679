import SextantGeneration

/// What one delta (incremental) ADS stream has subscribed to for one resource type, which version of each resource
/// the proxy holds, and how each DeltaDiscoveryRequest is classified.
///
/// The delta counterpart of ``WatchState``, a pure state machine without I/O. It holds names, versions and nonces
/// only, never resources. The rules:
/// - The first request for the type opens the subscription. CDS and LDS (``XDSType/isWildcard``) are wildcard when
///   it subscribes to nothing or to `*`; its `initial_resource_versions` are what the proxy already holds (after a
///   reconnect), so those resources are not sent again while their version is unchanged. Initial versions on later
///   requests are ignored, as the protocol says.
/// - Every request's `resource_names_subscribe` / `resource_names_unsubscribe` are applied, whatever its nonce.
///   A name subscribed again is answered again (the proxy asks for it to be resent); `*` turns wildcard on or off.
/// - `response_nonce` acknowledges one response sent: without `error_detail` an ACK (the versions it carried are now
///   the proxy's), with it a NACK (the proxy keeps its previous versions, the reason is kept). A nonce of no pending
///   response is stale: its ACK or NACK is ignored, its subscription changes are not.
/// - ``changes(current:scope:force:)`` says what a response must carry: the resources whose version differs from the
///   one the proxy will hold once every pending response is accepted, and the removals of resources it holds that
///   no longer exist. ``sent(nonce:systemVersion:resources:removed:)`` records the response.
package struct DeltaWatchState: Sendable, Hashable {
  package let type: XDSType
  /// Whether the first request for the type was seen.
  package private(set) var opened = false
  /// Whether the stream subscribes to every resource of the type (CDS and LDS only).
  package private(set) var wildcard = false
  /// The names subscribed explicitly (without `*`).
  package private(set) var names: Set<String> = []
  /// The version of each resource the proxy accepted (ACKed, or declared in `initial_resource_versions`).
  package private(set) var acked: [String: String] = [:]
  /// The version of each resource the proxy will hold once every pending response is accepted.
  package private(set) var expected: [String: String] = [:]
  /// Responses sent and not yet ACKed or NACKed, oldest first.
  package private(set) var pending: [Sent] = []
  /// The last response sent: its nonce and system_version_info.
  package private(set) var sentNonce: String?
  package private(set) var sentVersion: String?
  /// The last response the proxy ACKed: its nonce and system_version_info.
  package private(set) var ackedNonce: String?
  package private(set) var ackedVersion: String?
  /// The reason of the last NACK, cleared by the next ACK.
  package private(set) var lastNack: String?

  package init(type: XDSType) {
    self.type = type
  }

  /// How many unanswered responses are remembered; older ones are forgotten (see ``sent(nonce:systemVersion:resources:removed:)``).
  package static let maximumPending = 32

  /// One response sent: its nonce, its system_version_info and what it changes (a version; nil: removed).
  package struct Sent: Sendable, Hashable {
    package var nonce: String
    package var systemVersion: String
    package var changes: [String: String?]
  }

  /// The parts of a DeltaDiscoveryRequest the state machine reads.
  package struct Request: Sendable, Hashable {
    package var subscribe: [String]
    package var unsubscribe: [String]
    package var initialVersions: [String: String]
    package var nonce: String
    /// `error_detail.message` when the request carries an error (a NACK), else nil.
    package var errorMessage: String?

    package init(
      subscribe: [String] = [], unsubscribe: [String] = [], initialVersions: [String: String] = [:],
      nonce: String = "", errorMessage: String? = nil
    ) {
      self.subscribe = subscribe
      self.unsubscribe = unsubscribe
      self.initialVersions = initialVersions
      self.nonce = nonce
      self.errorMessage = errorMessage
    }
  }

  /// What a request's nonce says about an earlier response.
  package enum Acknowledgement: Sendable, Hashable {
    /// No nonce: a subscription change (or the first request).
    case none
    /// The proxy accepted the response with this nonce.
    case ack(nonce: String)
    /// The proxy rejected the response with this nonce; it keeps its previous versions.
    case nack(nonce: String, reason: String)
    /// The nonce is not one of a pending response (already answered, or never sent): ignored.
    case stale(nonce: String)
  }

  /// Which resources a response answers.
  package enum Scope: Sendable, Hashable {
    /// Everything the stream subscribes to.
    case everything
    /// These names only (newly subscribed, or the assignments a push touched).
    case names(Set<String>)
  }

  /// How one request was classified.
  package struct Classification: Sendable, Hashable {
    /// Whether this was the first request for the type on the stream.
    package var initial: Bool
    package var acknowledgement: Acknowledgement
    /// Names newly subscribed (or subscribed again), which must be answered.
    package var subscribed: Set<String>
    /// Names the proxy dropped.
    package var unsubscribed: Set<String>
    /// What to answer; nil: no response.
    package var answer: Scope?
    /// How many resources the proxy declared it already holds (first request only).
    package var declaredVersions: Int
  }

  /// Classifies a request and moves the state; see the type's documentation.
  package mutating func receive(_ request: Request) -> Classification {
    let initial = !opened
    var classification = Classification(
      initial: initial, acknowledgement: .none, subscribed: [], unsubscribed: [], answer: nil, declaredVersions: 0)
    if initial {
      opened = true
      let subscribe = Set(request.subscribe)
      wildcard = type.isWildcard && (subscribe.isEmpty || subscribe.contains("*"))
      names = subscribe.subtracting(["*"])
      acked = request.initialVersions.filter { wildcard || names.contains($0.key) }
      expected = acked
      classification.subscribed = names
      classification.declaredVersions = acked.count
      classification.answer = .everything
      if !request.nonce.isEmpty { classification.acknowledgement = .stale(nonce: request.nonce) }
      return classification
    }
    classification.acknowledgement = acknowledge(nonce: request.nonce, errorMessage: request.errorMessage)
    var wildcardAdded = false
    for name in request.unsubscribe {
      if name == "*" {
        guard wildcard else { continue }
        wildcard = false
        // Resources held only through the wildcard are dropped by the proxy itself.
        for held in Array(expected.keys) where !names.contains(held) { forget(held) }
        continue
      }
      guard names.remove(name) != nil else { continue }
      classification.unsubscribed.insert(name)
      if !wildcard { forget(name) }
    }
    for name in request.subscribe {
      if name == "*" {
        if type.isWildcard && !wildcard {
          wildcard = true
          wildcardAdded = true
        }
        continue
      }
      names.insert(name)
      classification.subscribed.insert(name)
      classification.unsubscribed.remove(name)
      // Subscribing asks for the resource: whatever the proxy held of it is sent again.
      forget(name)
    }
    if wildcardAdded {
      classification.answer = .everything
    } else if !classification.subscribed.isEmpty {
      classification.answer = .names(classification.subscribed)
    }
    return classification
  }

  /// Applies an ACK or a NACK of a pending response.
  private mutating func acknowledge(nonce: String, errorMessage: String?) -> Acknowledgement {
    guard !nonce.isEmpty else { return .none }
    guard let index = pending.firstIndex(where: { $0.nonce == nonce }) else { return .stale(nonce: nonce) }
    if let errorMessage {
      lastNack = errorMessage
      pending.remove(at: index)
      expected = acked
      for sent in pending { apply(sent.changes, to: &expected) }
      return .nack(nonce: nonce, reason: errorMessage)
    }
    // Responses are handled in order: the ones before this nonce were answered already (or are accepted with it).
    for sent in pending[...index] { apply(sent.changes, to: &acked) }
    ackedNonce = nonce
    ackedVersion = pending[index].systemVersion
    pending.removeFirst(index + 1)
    lastNack = nil
    return .ack(nonce: nonce)
  }

  private func apply(_ changes: [String: String?], to versions: inout [String: String]) {
    for (name, version) in changes {
      if let version { versions[name] = version } else { versions.removeValue(forKey: name) }
    }
  }

  /// Forgets what the proxy holds of `name`, also in pending responses.
  private mutating func forget(_ name: String) {
    acked.removeValue(forKey: name)
    expected.removeValue(forKey: name)
    for index in pending.indices { pending[index].changes.removeValue(forKey: name) }
  }

  /// Whether `name` is part of the subscription.
  package func isSubscribed(_ name: String) -> Bool { wildcard || names.contains(name) }

  /// The version of `name` the proxy will hold once every pending response is accepted; nil: none.
  package func expectedVersion(of name: String) -> String? { expected[name] }

  /// What a response answering `scope` must carry, given `current`: the resources (name and version) of the
  /// subscription that exist now, within `scope`. `force` names resources to send even at an unchanged version.
  /// Returns the names to send (in `current`'s order) and the names to remove (sorted): held resources in scope that
  /// no longer exist.
  package func changes(
    current: [(name: String, version: String)], scope: Scope, force: Set<String> = []
  ) -> (send: [String], remove: [String]) {
    let existing = Set(current.map(\.name))
    let send = current.filter { force.contains($0.name) || expected[$0.name] != $0.version }.map(\.name)
    let candidates: [String]
    switch scope {
    case .everything: candidates = Array(expected.keys)
    case .names(let names): candidates = names.filter { expected[$0] != nil }
    }
    let remove = candidates.filter { !existing.contains($0) }.sorted()
    return (send, remove)
  }

  /// Records a response: its nonce, system_version_info, the resources it carries (name → version) and removals.
  package mutating func sent(
    nonce: String, systemVersion: String, resources: [String: String], removed: [String]
  ) {
    var changes: [String: String?] = resources.mapValues { Optional($0) }
    for name in removed { changes[name] = .some(nil) }
    apply(changes, to: &expected)
    pending.append(Sent(nonce: nonce, systemVersion: systemVersion, changes: changes))
    // A proxy that stops answering must not grow the state without bound: the oldest unanswered response is
    // forgotten (its ACK is then stale; what it carried counts as not accepted, so at worst it is sent again).
    if pending.count > Self.maximumPending { pending.removeFirst() }
    sentNonce = nonce
    sentVersion = systemVersion
  }

  /// The names an explicit (non-wildcard) subscription answers, sorted.
  package var requestedNames: [String] { names.sorted() }

  /// istiod's sync status: ERROR after a NACK, NOT SENT before a first response, STALE while one is pending.
  package var syncStatus: SyncStatus {
    if lastNack != nil { return .error }
    guard sentNonce != nil else { return .notSent }
    return pending.isEmpty ? .synced : .stale
  }

  /// This state as the ``WatchState`` that debug endpoints (`/debug/syncz`) read.
  package var syncView: WatchState {
    WatchState(
      type: type, names: names, sentVersion: sentVersion, sentNonce: sentNonce, ackedVersion: ackedVersion,
      ackedNonce: ackedNonce, lastNack: lastNack)
  }
}
