import Logging
import ServiceLifecycle
import SextantKube
import SextantKubeClient
import SextantRegistry

/// Which clusters a mesh has and the one source that feeds each: a file-backed clusters directory, the primary
/// cluster's API server and the remote clusters its remote secrets name.
///
/// Every source claims its cluster IDs in one `ClusterOwners` before it feeds the registry; the primary's ID is
/// claimed before any source runs, so a subdirectory or secret key naming it is left out.
package struct MeshSources: Sendable {
  /// What to watch.
  package struct Configuration: Sendable {
    package var clustersDirectory: String?
    package var clustersDirectoryPollInterval: Duration = FileClusterSource.defaultPollInterval
    /// The primary cluster's client configuration and ID.
    package var primary: (config: KubeClientConfig, clusterID: ClusterID)?
    package var watchTimeout: Duration = .seconds(300)
    package var systemNamespace: String = "istio-system"
    package var remote: RemoteClusterOptions = .defaults

    package init() {}
  }

  /// The services to run, each with a name for logs.
  package var services: [(name: String, service: any ServiceLifecycle.Service)] = []
  /// The clusters-directory source, for the errors the admin endpoints list.
  package var fileSource: FileClusterSource?
  /// The client of a remote cluster by ID, for TokenReviews of callers that name it.
  package var remoteClients: @Sendable (ClusterID) async -> KubeClient? = { _ in nil }

  /// Builds the sources; nothing runs until the services do.
  ///
  /// - Throws: `KubeClientError` when the primary's configuration cannot give a working TLS setup.
  package static func assemble(
    _ configuration: Configuration,
    registry: MeshRegistry,
    logger: Logger
  ) throws(KubeClientError) -> MeshSources {
    func component(_ label: String) -> Logger {
      var logger = logger
      logger[metadataKey: "component"] = "\(label)"
      return logger
    }
    var sources = MeshSources()
    let owners = ClusterOwners()
    if let primary = configuration.primary { _ = owners.claim(primary.clusterID, owner: "the primary cluster") }
    if let directory = configuration.clustersDirectory {
      let fileSource = FileClusterSource(
        directory: directory, logger: component("sextant.files"),
        pollInterval: configuration.clustersDirectoryPollInterval)
      sources.fileSource = fileSource
      sources.services.append(
        (
          "clusters-directory",
          FileSourceService(source: fileSource, registry: registry, owners: owners, logger: component("sextant.files"))
        ))
    }
    guard let primary = configuration.primary else { return sources }
    let sourceOptions = KubeSourceOptions(
      watchTimeout: configuration.watchTimeout, systemNamespace: configuration.systemNamespace)
    // Only the primary (config) cluster's Gateways and VirtualServices are read; remote clusters use sourceOptions.
    var primaryOptions = sourceOptions
    primaryOptions.watchIstioConfig = true
    // Each source owns (creates and shuts down) the client it runs on.
    let source = try KubeClusterSource(
      clusterID: primary.clusterID, config: primary.config, options: primaryOptions, logger: component("sextant.kube"))
    sources.services.append(
      ("primary-cluster", KubeSourceService(clusterID: primary.clusterID, source: source, registry: registry)))
    var remote = configuration.remote
    remote.source = sourceOptions
    let controller = try RemoteSecretController(
      primaryConfig: primary.config,
      primaryClusterID: primary.clusterID,
      systemNamespace: configuration.systemNamespace,
      registry: registry,
      owners: owners,
      options: remote,
      logger: component("sextant.multicluster")
    )
    sources.remoteClients = { [controller] cluster in await controller.client(for: cluster) }
    sources.services.append(("remote-secrets", controller))
    return sources
  }
}
