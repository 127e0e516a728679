import SextantKube
import SextantRegistry

extension MeshRegistry {
  /// Applies one batch of source updates in order.
  ///
  /// Every cluster the batch brings is declared expected first, so readiness cannot flip to true between the first
  /// and the last cluster of a batch (for example the initial scan of a clusters directory). Synchronous on the
  /// registry, so a caller on its executor (`RemoteClusterCoordinator`) applies a batch without a suspension.
  package func apply(_ updates: [ClusterSourceUpdate]) {
    var expected = Set(current.clusters.keys)
    for update in updates {
      switch update.event {
      case .state, .synced: expected.insert(update.clusterID)
      case .removed: expected.remove(update.clusterID)
      }
    }
    expect(clusters: expected)
    for update in updates {
      switch update.event {
      case .state(let objects): apply(cluster: update.clusterID, objects: objects)
      case .synced: markSynced(cluster: update.clusterID)
      case .removed: remove(cluster: update.clusterID)
      }
    }
  }
}
