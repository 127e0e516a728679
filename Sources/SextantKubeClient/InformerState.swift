import SextantKube

/// Where an informer stands.
package enum InformerState: Sendable, Hashable, CustomStringConvertible {
  /// The first list has not succeeded yet (and nothing failed so far).
  case syncing
  /// Listed, and watching (or about to watch again).
  case synced
  /// The last list or watch failed; retrying with backoff. The store keeps its last contents.
  case error(KubeClientError)

  package var description: String {
    switch self {
    case .syncing: "syncing"
    case .synced: "synced"
    case .error(let error): "error: \(error.message)"
    }
  }

  /// Whether moving from `self` to `next` is a change worth reporting: errors count as the same state while
  /// their code stays the same (messages may differ from one attempt to the next).
  func differs(from next: InformerState) -> Bool {
    switch (self, next) {
    case (.error(let current), .error(let new)): current.code != new.code
    default: self != next
    }
  }
}

/// A change of an informer's store, reported after it was applied.
package struct InformerChange<Object: KubeResourceObject>: Sendable {
  package enum Kind: Sendable, Hashable {
    /// The first successful list: `upserted` holds every object (possibly none), `deleted` is empty.
    case initialList
    /// A later list replaced the store: only the difference.
    case relist
    /// Watch events (all complete events of one received chunk, coalesced per key).
    case watch
  }

  package var kind: Kind
  /// New or changed objects, in key order.
  package var upserted: [Object]
  /// Keys (namespace, empty for cluster-scoped objects, and name) of removed objects, in order.
  package var deleted: [NamespacedName]

  package init(kind: Kind, upserted: [Object], deleted: [NamespacedName]) {
    self.kind = kind
    self.upserted = upserted
    self.deleted = deleted
  }
}

extension InformerChange: Equatable where Object: Equatable {}
