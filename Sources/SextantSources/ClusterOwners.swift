import SextantKube
import SextantRegistry
import Synchronization

/// Which source feeds each cluster ID: the primary cluster, a clusters-directory subdirectory or a remote secret.
///
/// Two sources feeding one registry cluster would replace each other's objects on every change. The first source to
/// claim an ID keeps it until it releases it; a later claimant is refused and told who owns the ID, so it can say so
/// and try again when an ID is released (`releases`). A source releases an ID only after the registry has dropped
/// what it fed, so the next owner never has its objects removed by the previous one. Thread-safe.
package final class ClusterOwners: Sendable {
  private let owners = Mutex<[ClusterID: String]>([:])
  private let released: AsyncStream<Void>.Continuation

  /// Yields (coalesced) whenever an ID is released: a refused source's cue to claim again. For one consumer.
  package let releases: AsyncStream<Void>

  package init() {
    (releases, released) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
  }

  deinit {
    released.finish()
  }

  /// Claims `cluster` for `owner` (a description such as `clusters directory /etc/clusters`); nil when granted or
  /// already held by `owner`, else the current owner.
  package func claim(_ cluster: ClusterID, owner: String) -> String? {
    owners.withLock { owners in
      if let current = owners[cluster], current != owner { return current }
      owners[cluster] = owner
      return nil
    }
  }

  /// Gives `cluster` up, if `owner` holds it, and says so on `releases`.
  package func release(_ cluster: ClusterID, owner: String) {
    let done = owners.withLock { owners in
      guard owners[cluster] == owner else { return false }
      owners[cluster] = nil
      return true
    }
    if done { released.yield() }
  }

  /// The owner of `cluster`, if any.
  package func owner(of cluster: ClusterID) -> String? { owners.withLock { $0[cluster] } }

  /// A source's batch with the updates of clusters another source owns left out, claiming the clusters that appear.
  /// The IDs of admitted removals stay claimed: release them once the batch is applied.
  ///
  /// - Returns: the updates to apply, and each refused cluster with its owner (once per cluster per batch).
  package func admit(_ updates: [ClusterSourceUpdate], owner: String) -> (
    admitted: [ClusterSourceUpdate], refused: [(cluster: ClusterID, owner: String)]
  ) {
    var admitted: [ClusterSourceUpdate] = []
    var refused: [(cluster: ClusterID, owner: String)] = []
    for update in updates {
      switch update.event {
      case .state, .synced:
        if let other = claim(update.clusterID, owner: owner) {
          if !refused.contains(where: { $0.cluster == update.clusterID }) { refused.append((update.clusterID, other)) }
          continue
        }
        admitted.append(update)
      case .removed:
        guard self.owner(of: update.clusterID) == owner else { continue }
        admitted.append(update)
      }
    }
    return (admitted, refused)
  }
}
