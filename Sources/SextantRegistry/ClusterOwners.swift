import SextantKube
import Synchronization

/// Which source feeds each cluster ID: the primary cluster, a clusters-directory subdirectory or a remote secret.
///
/// Two sources feeding one registry cluster would replace each other's objects on every change. The first source to
/// claim an ID keeps it until it releases it; a later claimant is refused and told who owns the ID, so it can say so
/// (the caller logs and skips). Claims are cheap and thread-safe.
public final class ClusterOwners: Sendable {
  private let owners = Mutex<[ClusterID: String]>([:])

  public init() {}

  /// Claims `cluster` for `owner` (a description such as `clusters directory /etc/clusters`); nil when granted or
  /// already held by `owner`, else the current owner.
  public func claim(_ cluster: ClusterID, owner: String) -> String? {
    owners.withLock { owners in
      if let current = owners[cluster], current != owner { return current }
      owners[cluster] = owner
      return nil
    }
  }

  /// Gives `cluster` up, if `owner` holds it.
  public func release(_ cluster: ClusterID, owner: String) {
    owners.withLock { owners in
      if owners[cluster] == owner { owners[cluster] = nil }
    }
  }

  /// The owner of `cluster`, if any.
  public func owner(of cluster: ClusterID) -> String? { owners.withLock { $0[cluster] } }

  /// A source's batch with the updates of clusters another source owns left out: claims the clusters that appear,
  /// releases those removed.
  ///
  /// - Returns: the updates to apply, and each refused cluster with its owner (once per cluster per batch).
  public func admit(_ updates: [ClusterSourceUpdate], owner: String) -> (
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
        release(update.clusterID, owner: owner)
        admitted.append(update)
      }
    }
    return (admitted, refused)
  }
}
