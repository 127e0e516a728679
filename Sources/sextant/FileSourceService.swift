import SextantKube
import SextantRegistry
import ServiceLifecycle

/// Feeds a file-backed clusters directory into the registry until graceful shutdown.
struct FileSourceService: ServiceLifecycle.Service {
  let source: FileClusterSource
  let registry: MeshRegistry

  func run() async throws {
    let registry = registry
    try await cancelWhenGracefulShutdown {
      try await source.run { updates in
        await registry.apply(updates)
      }
    }
  }
}

extension MeshRegistry {
  /// Applies one batch of source updates in order.
  ///
  /// Every cluster the batch brings is declared expected first, so readiness cannot flip to true between the first
  /// and the last cluster of the initial scan.
  func apply(_ updates: [ClusterSourceUpdate]) async {
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
      case .state(let objects): _ = apply(cluster: update.clusterID, objects: objects)
      case .synced: _ = markSynced(cluster: update.clusterID)
      case .removed: _ = remove(cluster: update.clusterID)
      }
    }
  }
}
