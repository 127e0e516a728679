import Logging
import ServiceLifecycle
import SextantKube
import SextantKubeClient
import SextantRegistry
import Synchronization

/// Feeds one Kubernetes API server (the primary cluster) into the registry until graceful shutdown; its connection
/// state is reported as the cluster's state.
package struct KubeSourceService: ServiceLifecycle.Service {
  let clusterID: ClusterID
  let source: KubeClusterSource
  let registry: MeshRegistry

  package init(clusterID: ClusterID, source: KubeClusterSource, registry: MeshRegistry) {
    self.clusterID = clusterID
    self.source = source
    self.registry = registry
  }

  package func run() async {
    let registry = registry
    let clusterID = clusterID
    await registry.report(cluster: clusterID, state: .syncing)
    registry.expect(clusters: Set(registry.current.clusters.keys).union([clusterID]))
    await cancelWhenGracefulShutdown {
      await source.run { updates in
        await registry.apply(updates)
      } onState: { state in
        await registry.report(cluster: clusterID, connection: state)
      }
    }
    // The watches stopped (graceful shutdown): the last known objects stay, the state says they are no longer followed.
    await registry.report(cluster: clusterID, state: .closed)
  }
}

extension MeshRegistry {
  /// Records a Kubernetes source's connection state as the cluster's state.
  func report(cluster: ClusterID, connection: KubeConnectionState) async {
    switch connection {
    case .syncing: report(cluster: cluster, state: .syncing)
    case .synced: report(cluster: cluster, state: .synced)
    case .error(let reason): report(cluster: cluster, state: .error, reason: reason)
    }
  }
}
