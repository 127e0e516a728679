import Logging
import SextantKube
import SextantKubeClient
import SextantRegistry
import ServiceLifecycle
import Synchronization

/// Feeds a file-backed clusters directory into the registry until graceful shutdown.
///
/// A subdirectory named like a cluster another source feeds (the primary cluster, a remote secret's) is left out
/// with an error naming both, and claimed again at every scan: once the ID is free its objects are fed (then marked
/// synced). A removed subdirectory's ID is given up only after the registry has dropped its objects.
package struct FileSourceService: ServiceLifecycle.Service {
  let source: FileClusterSource
  let registry: MeshRegistry
  let owners: ClusterOwners
  let logger: Logger

  package init(source: FileClusterSource, registry: MeshRegistry, owners: ClusterOwners, logger: Logger) {
    self.source = source
    self.registry = registry
    self.owners = owners
    self.logger = logger
  }

  package func run() async throws {
    let (source, registry, owners, logger) = (source, registry, owners, logger)
    let owner = "clusters directory \(source.directory)"
    // Refused subdirectories by cluster ID, with the owner last reported. Only the scan callback (one call at a
    // time) touches it; the Mutex makes that visible to the compiler.
    let refused = Mutex<[ClusterID: String]>([:])
    try await cancelWhenGracefulShutdown {
      try await source.run(everyScan: true) { updates in
        var batch: [ClusterSourceUpdate] = []
        // Refused before and free now: the directory's current objects (they include this scan's), then synced.
        let present = source.clusters
        var retried: Set<ClusterID> = []
        for cluster in refused.withLock({ $0.keys.sorted() }) {
          guard let objects = present[cluster] else {
            refused.withLock { $0[cluster] = nil }
            continue
          }
          guard owners.claim(cluster, owner: owner) == nil else { continue }
          refused.withLock { $0[cluster] = nil }
          retried.insert(cluster)
          logger.info(
            "cluster directory served: its cluster ID is free now",
            metadata: ["directory": "\(source.directory)/\(cluster)", "cluster": "\(cluster)"])
          batch += [ClusterSourceUpdate(clusterID: cluster, event: .state(objects)), ClusterSourceUpdate(clusterID: cluster, event: .synced)]
        }
        let (admitted, newlyRefused) = owners.admit(updates.filter { !retried.contains($0.clusterID) }, owner: owner)
        batch += admitted
        for (cluster, other) in newlyRefused where refused.withLock({ $0.updateValue(other, forKey: cluster) }) != other {
          logger.error(
            "cluster directory ignored: its name is the ID of a cluster another source feeds",
            metadata: ["directory": "\(source.directory)/\(cluster)", "cluster": "\(cluster)", "owner": "\(other)"])
        }
        guard !batch.isEmpty else { return }
        await registry.apply(batch)
        for update in admitted {
          if case .removed = update.event { owners.release(update.clusterID, owner: owner) }
        }
      }
    }
  }
}

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

/// Looks up gateway hostnames (RESOLVE_HOSTNAME_GATEWAYS) in the background until graceful shutdown, rebuilding
/// what used a hostname whose addresses changed.
///
/// The registry answers hostnames from `hostnames` without waiting (build it with `resolve: hostnames.addresses`).
package struct GatewayHostnameService: ServiceLifecycle.Service {
  let hostnames: GatewayHostnames
  let registry: MeshRegistry

  package init(hostnames: GatewayHostnames, registry: MeshRegistry) {
    self.hostnames = hostnames
    self.registry = registry
  }

  package func run() async throws {
    let (hostnames, registry) = (hostnames, registry)
    await cancelWhenGracefulShutdown {
      await hostnames.run { [weak registry] changed in
        await registry?.gatewayHostnamesChanged(changed)
      }
    }
  }
}
