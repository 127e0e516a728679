import Logging
import SextantKube
import SextantKubeClient
import SextantRegistry
import ServiceLifecycle
import Synchronization

/// Feeds a file-backed clusters directory into the registry until graceful shutdown.
///
/// A subdirectory named like a cluster another source feeds (the primary cluster, a remote secret's) is left out
/// with an error naming both; the directory's later changes are admitted once that source has given the ID up.
public struct FileSourceService: ServiceLifecycle.Service {
  let source: FileClusterSource
  let registry: MeshRegistry
  let owners: ClusterOwners
  let logger: Logger

  public init(source: FileClusterSource, registry: MeshRegistry, owners: ClusterOwners, logger: Logger) {
    self.source = source
    self.registry = registry
    self.owners = owners
    self.logger = logger
  }

  public func run() async throws {
    let registry = registry
    let owners = owners
    let logger = logger
    let owner = "clusters directory \(source.directory)"
    let reported = Mutex<Set<String>>([])
    try await cancelWhenGracefulShutdown {
      try await source.run { updates in
        let (admitted, refused) = owners.admit(updates, owner: owner)
        for (cluster, other) in refused where reported.withLock({ $0.insert("\(cluster) \(other)").inserted }) {
          logger.error(
            "cluster directory ignored: its name is the ID of a cluster another source feeds",
            metadata: ["directory": "\(source.directory)/\(cluster)", "cluster": "\(cluster)", "owner": "\(other)"])
        }
        await registry.apply(admitted)
      }
    }
  }
}

/// Feeds one Kubernetes API server (the primary cluster) into the registry until graceful shutdown; its connection
/// state is reported as the cluster's state.
public struct KubeSourceService: ServiceLifecycle.Service {
  let clusterID: ClusterID
  let source: KubeClusterSource
  let registry: MeshRegistry

  public init(clusterID: ClusterID, source: KubeClusterSource, registry: MeshRegistry) {
    self.clusterID = clusterID
    self.source = source
    self.registry = registry
  }

  public func run() async {
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

/// Looks up the registry's gateway hostnames (RESOLVE_HOSTNAME_GATEWAYS) in the background until graceful shutdown.
public struct GatewayHostnameService: ServiceLifecycle.Service {
  let registry: MeshRegistry

  public init(registry: MeshRegistry) {
    self.registry = registry
  }

  public func run() async throws {
    let registry = registry
    await cancelWhenGracefulShutdown {
      await registry.runGatewayHostnames()
    }
  }
}
