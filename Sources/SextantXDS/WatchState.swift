import SextantGeneration

/// What one ADS stream has asked for and been sent, for one resource type, and how each new request is classified.
///
/// A small explicit state machine in the manner of gRPC's stream state machines: `receive(_:)` classifies a request
/// and moves the state; `sent(version:nonce:)` records a response. It does no I/O.
package struct WatchState: Sendable, Hashable {
  /// The names subscribed to (named types only; wildcard types ignore names).
  package private(set) var names: Set<String> = []
  /// The last response sent: its version_info and nonce.
  package private(set) var sentVersion: String?
  package private(set) var sentNonce: String?
  /// The last version and nonce the proxy ACKed.
  package private(set) var ackedVersion: String?
  package private(set) var ackedNonce: String?
  /// The reason of the last NACK, cleared by the next ACK.
  package private(set) var lastNack: String?

  package let type: XDSType

  package init(type: XDSType) {
    self.type = type
  }

  /// A state with the given fields: how a delta stream (``DeltaWatchState/syncView``) shows in debug endpoints.
  package init(
    type: XDSType, names: Set<String>, sentVersion: String?, sentNonce: String?, ackedVersion: String?,
    ackedNonce: String?, lastNack: String?
  ) {
    self.type = type
    self.names = names
    self.sentVersion = sentVersion
    self.sentNonce = sentNonce
    self.ackedVersion = ackedVersion
    self.ackedNonce = ackedNonce
    self.lastNack = lastNack
  }

  /// How Sextant treats one DiscoveryRequest.
  package enum Classification: Sendable, Hashable {
    /// First request for this type on the stream, or a reconnect (no nonce): respond.
    case initial
    /// The proxy accepted the last response and asks for nothing new: record, do not respond.
    case ack
    /// The proxy accepted the last response and its subscription grew: respond with the new set.
    case subscriptionGrew(added: Set<String>)
    /// The proxy accepted the last response and dropped names: record, do not respond.
    case subscriptionShrank(removed: Set<String>)
    /// The proxy rejected the last response (error_detail set): record, keep serving, do not resend.
    case nack(reason: String)
    /// The proxy rejected the last response and, in the same request, subscribed to more names: record the NACK
    /// and answer the added names only (resending the rejected ones would only be rejected again).
    case nackAndGrew(reason: String, added: Set<String>)
    /// The nonce is not the last one sent: an answer to an older response, ignored.
    case stale(nonce: String)
  }

  /// Whether the classification calls for a response.
  package static func needsResponse(_ classification: Classification) -> Bool {
    switch classification {
    case .initial, .subscriptionGrew, .nackAndGrew: true
    case .ack, .subscriptionShrank, .nack, .stale: false
    }
  }

  /// Classifies a request and updates the subscription accordingly.
  package mutating func receive(
    versionInfo: String,
    nonce: String,
    resourceNames: [String],
    errorMessage: String?
  ) -> Classification {
    let requested = Set(resourceNames)
    if nonce.isEmpty {
      names = requested
      return .initial
    }
    guard nonce == sentNonce else { return .stale(nonce: nonce) }
    if let errorMessage {
      lastNack = errorMessage
      // A request carries the whole subscription, NACK or not: names it adds must still be answered, or a
      // cluster waiting for them would stay warming until some later push happened to include them.
      let added = type.isWildcard ? [] : requested.subtracting(names)
      names = requested
      return added.isEmpty ? .nack(reason: errorMessage) : .nackAndGrew(reason: errorMessage, added: added)
    }
    ackedNonce = nonce
    ackedVersion = versionInfo
    lastNack = nil
    if type.isWildcard {
      names = requested
      return .ack
    }
    let added = requested.subtracting(names)
    let removed = names.subtracting(requested)
    names = requested
    if !added.isEmpty { return .subscriptionGrew(added: added) }
    if !removed.isEmpty { return .subscriptionShrank(removed: removed) }
    return .ack
  }

  /// Records a response sent for this type.
  package mutating func sent(version: String, nonce: String) {
    sentVersion = version
    sentNonce = nonce
  }

  /// The names a response for this type should answer: for named types the subscription, sorted.
  package var requestedNames: [String] { names.sorted() }

  /// The sync status istiod reports for this type.
  package var syncStatus: SyncStatus {
    if lastNack != nil { return .error }
    guard let sentNonce else { return .notSent }
    return ackedNonce == sentNonce ? .synced : .stale
  }
}

/// istiod's per-type sync status of a proxy.
package enum SyncStatus: String, Sendable, Hashable {
  case synced = "SYNCED"
  case notSent = "NOT SENT"
  case stale = "STALE"
  case error = "ERROR"
}
