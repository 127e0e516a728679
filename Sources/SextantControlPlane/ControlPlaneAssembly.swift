import Foundation
import Logging
import ServiceLifecycle
import SextantAdmin
import SextantGeneration
import SextantKubeClient
import SextantPKI
import SextantRegistry
import SextantSources
import SextantXDS

/// The parts of one control plane, built from its configuration but not running yet.
///
/// Building resolves the mesh CA and opens the primary's client; when a step throws, what was opened is closed
/// before the error propagates (the ServiceGroup that would close it never runs).
package struct ControlPlaneAssembly: Sendable {
  package var parts: [ControlPlane.Part] = []
  package let registry: MeshRegistry
  package let pushed: PushedSnapshot
  package let connections: ConnectionRegistry
  package var admin: AdminState
  /// Where the CA came from, for the start-up log.
  package var trustOrigin: String = ""
  package var startMetadata: Logger.Metadata = [:]

  static func assemble(
    configuration: ControlPlane.Configuration,
    metrics: @escaping @Sendable () -> String,
    logger: Logger
  ) async throws -> ControlPlaneAssembly {
    let settings = configuration
    let hostnames = GatewayHostnames()
    let registry = MeshRegistry(
      options: RegistryOptions(
        domainSuffix: settings.domainSuffix,
        systemNamespace: settings.systemNamespace,
        meshNetworks: settings.mesh.meshNetworks,
        resolveHostnameGateways: settings.resolveHostnameGateways
      ),
      resolve: hostnames.addresses,
      logger: logger.labelled("sextant.registry")
    )
    let (initial, updates) = registry.subscribe()
    let connections = ConnectionRegistry()
    let pushed = PushedSnapshot(initial)
    var assembly = ControlPlaneAssembly(
      registry: registry,
      pushed: pushed,
      connections: connections,
      admin: AdminState(
        readiness: { AdminState.Readiness.judge(registry: registry, snapshot: pushed.snapshot) },
        snapshot: { registry.current },
        connections: connections,
        metrics: metrics
      )
    )
    assembly.add(.sources, "gateway-hostnames", GatewayHostnameService(hostnames: hostnames, registry: registry))

    // The client the trust pieces use for the primary: CA Secrets and TokenReviews (sources own their own clients).
    let primaryClient = settings.primary.map {
      KubeClient(clusterID: settings.clusterID, config: $0.config, logger: logger.labelled("sextant.trust.kube"))
    }
    if let primaryClient { assembly.add(.clients, "primary-client", KubeClientOwner(client: primaryClient)) }
    do {
      let trust = try await MeshTrust.resolve(
        settings: settings, primaryClient: primaryClient, logger: logger.labelled("sextant.trust"))
      assembly.trustOrigin = trust.origin
      for (index, service) in trust.services.enumerated() { assembly.add(.trust, "ca-watcher-\(index)", service) }
      var sourceConfiguration = MeshSources.Configuration()
      sourceConfiguration.clustersDirectory = settings.clustersDirectory
      sourceConfiguration.clustersDirectoryPollInterval = settings.clustersDirectoryPollInterval
      sourceConfiguration.primary = settings.primary.map { ($0.config, settings.clusterID) }
      sourceConfiguration.watchTimeout = settings.watchTimeout
      sourceConfiguration.systemNamespace = settings.systemNamespace
      sourceConfiguration.remote = RemoteClusterOptions(
        syncTimeout: settings.remote.syncTimeout,
        allowedKubeconfigOptions: settings.remote.insecureKubeconfigOptions
      )
      let sources = try MeshSources.assemble(sourceConfiguration, registry: registry, logger: logger)
      for (name, service) in sources.services { assembly.add(.sources, name, service) }
      assembly.admin.sourceErrors = { [fileSource = sources.fileSource] in fileSource?.errors ?? [:] }
      assembly.add(
        .pipeline, "push-pipeline",
        PushPipeline(
          updates: updates,
          connections: connections,
          pushed: pushed,
          cache: ResourceCache(),
          clock: ContinuousClock(),
          config: settings.debounce,
          logger: logger.labelled("sextant.push")
        ))
      try XDSAssembly.add(
        to: &assembly, configuration: settings, trust: trust, primaryClient: primaryClient,
        remoteClients: sources.remoteClients, logger: logger)
    } catch {
      await primaryClient?.shutdown()
      throw error
    }
    AdminAssembly.add(to: &assembly, configuration: settings, logger: logger)
    assembly.startMetadata = [
      "version": "\(SextantVersion.current)",
      "grpc": "\(settings.listenAddress):\(settings.grpcPort)",
      "secure-grpc": "\(settings.listenAddress):\(settings.security.securePort)",
      "ca": "\(assembly.trustOrigin)",
      "http": "\(settings.httpListenAddress ?? settings.listenAddress):\(settings.httpPort)",
      "monitoring": "\(settings.monitoringListenAddress ?? settings.listenAddress):\(settings.monitoringPort)",
      "clusters-dir": "\(settings.clustersDirectory ?? "-")",
      "primary": "\(settings.primary.map { "\(settings.clusterID) (\($0.source))" } ?? "-")",
    ]
    return assembly
  }

  mutating func add(_ stage: ControlPlane.Stage, _ name: String, _ service: any Service) {
    parts.append(ControlPlane.Part(stage: stage, name: name, service: service))
  }
}

/// The release version of this build.
public enum SextantVersion {
  public static let current = "0.1.0-dev"
}

extension Logger {
  /// A logger with `label` that writes where this one does (same handler factory, level and metadata).
  func labelled(_ label: String) -> Logger {
    var logger = self
    logger[metadataKey: "component"] = "\(label)"
    return logger
  }
}
