import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Logging
import Metrics
import Prometheus
import SextantAdmin
import SextantKube
import SextantKubeClient
import SextantMulticluster
import SextantRegistry
import SextantXDS
import ServiceLifecycle

/// Everything `sextant serve` was told, resolved and validated.
struct ServerSettings: Sendable {
  /// The primary (config) cluster's API server.
  struct Primary: Sendable {
    var config: KubeClientConfig
    /// Where the credentials came from (a kubeconfig path or `in-cluster`), for logs.
    var source: String
  }

  var clustersDirectory: String?
  var primary: Primary?
  var clusterID: String
  var watchTimeout: Duration
  var remote: (timeout: Duration?, insecureOptions: Set<String>)
  var listenAddress: String
  var grpcPort: Int
  var httpPort: Int
  var monitoringPort: Int
  var domainSuffix: String
  var systemNamespace: String
  var mesh: MeshConfig
  var debounce: DebounceConfig
  var logLevel: Logger.Level
}

/// Wires sources, registry, push pipeline and servers together and runs them in one ServiceGroup until SIGTERM or
/// SIGINT, then shuts down gracefully.
struct Server {
  var settings: ServerSettings

  func run() async throws {
    let level = settings.logLevel
    LoggingSystem.bootstrap { label in
      var handler = StreamLogHandler.standardError(label: label)
      handler.logLevel = level
      return handler
    }
    let prometheus = PrometheusCollectorRegistry()
    MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: prometheus))
    let logger = Logger(label: "sextant")

    let registry = MeshRegistry(
      options: RegistryOptions(domainSuffix: settings.domainSuffix, systemNamespace: settings.systemNamespace),
      logger: Logger(label: "sextant.registry")
    )
    let (initial, updates) = registry.subscribe()
    let connections = ConnectionRegistry()
    let pushed = PushedSnapshot(initial)
    let cache = ResourceCache()
    let generator = ConfigGenerator(cache: cache, mesh: settings.mesh)

    var services: [any ServiceLifecycle.Service] = []
    let fileSource = settings.clustersDirectory.map {
      FileClusterSource(directory: $0, logger: Logger(label: "sextant.files"))
    }
    if let fileSource {
      services.append(FileSourceService(source: fileSource, registry: registry))
    }
    if let primary = settings.primary {
      let sourceOptions = KubeSourceOptions(watchTimeout: settings.watchTimeout, systemNamespace: settings.systemNamespace)
      // Each source owns (creates and shuts down) the client it runs on.
      let source = try KubeClusterSource(
        clusterID: settings.clusterID,
        config: primary.config,
        options: sourceOptions,
        logger: Logger(label: "sextant.kube")
      )
      services.append(KubeSourceService(clusterID: settings.clusterID, source: source, registry: registry))
      services.append(try RemoteSecretController(
        primaryConfig: primary.config,
        primaryClusterID: settings.clusterID,
        systemNamespace: settings.systemNamespace,
        registry: registry,
        options: RemoteClusterOptions(
          syncTimeout: settings.remote.timeout,
          allowedKubeconfigOptions: settings.remote.insecureOptions,
          source: sourceOptions
        ),
        logger: Logger(label: "sextant.multicluster")
      ))
    }
    services.append(
      PushPipeline(
        updates: updates,
        connections: connections,
        pushed: pushed,
        cache: cache,
        clock: ContinuousClock(),
        config: settings.debounce,
        logger: Logger(label: "sextant.push")
      )
    )
    if settings.grpcPort != 0 {
      let ads = AdsServer(
        connections: connections,
        pushed: pushed,
        generator: generator,
        identifier: "sextant-\(ProcessInfo.processInfo.hostName)",
        logger: Logger(label: "sextant.ads")
      )
      let transport = HTTP2ServerTransport.Posix(
        address: socketAddress(settings.listenAddress, settings.grpcPort),
        transportSecurity: .plaintext
      )
      services.append(GRPCService(server: GRPCServer(transport: transport, services: [ads]), connections: connections))
    }
    let state = AdminState(
      readiness: {
        // Judged on the pushed snapshot: ready means a proxy connecting now is given every cluster's initial state.
        let snapshot = pushed.snapshot
        if registry.allSynced(in: snapshot) { return AdminState.Readiness(ready: true) }
        let current = registry.current
        let waiting = current.sortedClusterIDs.compactMap { id -> String? in
          guard let info = current.clusters[id], !info.isSettled else { return nil }
          return "cluster \(id): \(info.state.rawValue)" + (info.reason.isEmpty ? "" : " (\(info.reason))")
        }
        return AdminState.Readiness(ready: false, waitingFor: waiting.isEmpty ? ["first push of the initial load"] : waiting)
      },
      snapshot: { registry.current },
      connections: connections,
      metrics: {
        var buffer: [UInt8] = []
        prometheus.emit(into: &buffer)
        return String(decoding: buffer, as: UTF8.self)
      },
      sourceErrors: { fileSource?.errors ?? [:] }
    )
    if settings.httpPort != 0 {
      services.append(
        AdminServer.http(
          host: settings.listenAddress,
          port: settings.httpPort,
          state: state,
          logger: Logger(label: "sextant.http")
        )
      )
    }
    if settings.monitoringPort != 0 {
      services.append(
        AdminServer.monitoring(
          host: settings.listenAddress,
          port: settings.monitoringPort,
          state: state,
          logger: Logger(label: "sextant.monitoring")
        )
      )
    }

    logger.info(
      "starting",
      metadata: [
        "version": "\(SextantVersion.current)",
        "grpc": "\(settings.listenAddress):\(settings.grpcPort)",
        "http": "\(settings.listenAddress):\(settings.httpPort)",
        "monitoring": "\(settings.listenAddress):\(settings.monitoringPort)",
        "clusters-dir": "\(settings.clustersDirectory ?? "-")",
        "primary": "\(settings.primary.map { "\(settings.clusterID) (\($0.source))" } ?? "-")",
      ]
    )
    var configuration = ServiceGroupConfiguration(
      services: services.map { ServiceGroupConfiguration.ServiceConfiguration(service: $0) },
      gracefulShutdownSignals: [.sigterm, .sigint],
      logger: logger
    )
    configuration.maximumGracefulShutdownDuration = Duration.seconds(10)
    let group = ServiceGroup(configuration: configuration)
    try await group.run()
  }

  private func socketAddress(_ host: String, _ port: Int) -> GRPCNIOTransportCore.SocketAddress {
    host.contains(":") ? .ipv6(host: host, port: port) : .ipv4(host: host, port: port)
  }
}

/// Runs a GRPCServer as a Service: serves until graceful shutdown, then stops accepting streams and ends the open
/// ADS streams (they never end by themselves), so the proxies reconnect to another instance.
struct GRPCService<Transport: ServerTransport>: ServiceLifecycle.Service {
  let server: GRPCServer<Transport>
  let connections: ConnectionRegistry

  func run() async throws {
    try await withGracefulShutdownHandler {
      try await server.serve()
    } onGracefulShutdown: {
      server.beginGracefulShutdown()
      connections.closeAll()
    }
  }
}
