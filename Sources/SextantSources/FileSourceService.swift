import Logging
import ServiceLifecycle
import SextantKube
import SextantKubeClient
import SextantRegistry
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
          batch += [
            ClusterSourceUpdate(clusterID: cluster, event: .state(objects)),
            ClusterSourceUpdate(clusterID: cluster, event: .synced),
          ]
        }
        let (admitted, newlyRefused) = owners.admit(updates.filter { !retried.contains($0.clusterID) }, owner: owner)
        batch += admitted
        for (cluster, other) in newlyRefused where refused.withLock({ $0.updateValue(other, forKey: cluster) }) != other
        {
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
