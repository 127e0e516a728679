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
import SextantKubeSecurity
import SextantRegistry
import SextantSecurity
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
  var security: Security
  var domainSuffix: String
  var systemNamespace: String
  var mesh: MeshConfig
  /// RESOLVE_HOSTNAME_GATEWAYS: resolve gateway Services' load-balancer hostnames.
  var resolveHostnameGateways: Bool
  var debounce: DebounceConfig
  var logLevel: Logger.Level
}

extension ServerSettings {
  /// The CA, the secure port and workload certificate lifetimes.
  struct Security: Sendable {
    /// TLS gRPC port (0: disabled).
    var securePort: Int
    /// Istio plug-in CA files (`--ca-dir`).
    var caDirectory: String?
    /// Where the self-signed root is kept without plug-in material and without Kubernetes.
    var selfSignedDirectory: String?
    /// ISTIOD_CUSTOM_HOST: extra names (and IPs) of the serving certificate.
    var customHosts: [String] = []
    /// DEFAULT_WORKLOAD_CERT_TTL.
    var workloadTTL: Duration = .seconds(86_400)
    /// MAX_WORKLOAD_CERT_TTL.
    var maximumWorkloadTTL: Duration = .seconds(90 * 86_400)
  }
}

/// A reason the server cannot start (broken CA material, say): printed as one line, exit status 1.
struct StartupError: Error, CustomStringConvertible {
  var description: String
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
      options: RegistryOptions(
        domainSuffix: settings.domainSuffix,
        systemNamespace: settings.systemNamespace,
        meshNetworks: settings.mesh.meshNetworks,
        resolveHostnameGateways: settings.resolveHostnameGateways
      ),
      logger: Logger(label: "sextant.registry")
    )
    let (initial, updates) = registry.subscribe()
    let connections = ConnectionRegistry()
    let pushed = PushedSnapshot(initial)
    let cache = ResourceCache()
    let generator = ConfigGenerator(cache: cache, mesh: settings.mesh)

    var services: [any ServiceLifecycle.Service] = [GatewayHostnameService(registry: registry)]
    // The client the trust pieces use for the primary: CA Secrets and TokenReviews (sources own their own clients).
    let primaryClient = settings.primary.map {
      KubeClient(clusterID: settings.clusterID, config: $0.config, logger: Logger(label: "sextant.trust.kube"))
    }
    if let primaryClient { services.append(KubeClientOwner(client: primaryClient)) }
    /// Runs a start-up step; when it throws, the client above is shut down first (the ServiceGroup that would shut
    /// it down never runs, and an HTTP client must not be dropped while open).
    func startupStep<T>(_ step: () async throws -> T) async throws -> T {
      do {
        return try await step()
      } catch {
        await primaryClient?.shutdown()
        throw error
      }
    }
    let trustLogger = Logger(label: "sextant.trust")
    let trust = try await startupStep {
      try await MeshTrust.resolve(settings: settings, primaryClient: primaryClient, logger: trustLogger)
    }
    services += trust.services
    let workloadSecrets = WorkloadSecrets(meshCA: trust.meshCA, ttl: settings.security.workloadTTL)

    // Each cluster ID is fed by one source; the primary's is claimed before any source runs.
    let owners = ClusterOwners()
    if settings.primary != nil { _ = owners.claim(settings.clusterID, owner: "the primary cluster") }
    let fileSource = settings.clustersDirectory.map {
      FileClusterSource(directory: $0, logger: Logger(label: "sextant.files"))
    }
    if let fileSource {
      services.append(
        FileSourceService(source: fileSource, registry: registry, owners: owners, logger: Logger(label: "sextant.files")))
    }
    var remoteSecrets: RemoteSecretController?
    if let primary = settings.primary {
      let sourceOptions = KubeSourceOptions(watchTimeout: settings.watchTimeout, systemNamespace: settings.systemNamespace)
      // Each source owns (creates and shuts down) the client it runs on.
      // Only the primary (config) cluster's Gateways and VirtualServices are read; remote clusters use sourceOptions.
      var primaryOptions = sourceOptions
      primaryOptions.watchIstioConfig = true
      let source = try await startupStep {
        try KubeClusterSource(
          clusterID: settings.clusterID,
          config: primary.config,
          options: primaryOptions,
          logger: Logger(label: "sextant.kube")
        )
      }
      services.append(KubeSourceService(clusterID: settings.clusterID, source: source, registry: registry))
      let controller = try await startupStep {
        try RemoteSecretController(
          primaryConfig: primary.config,
          primaryClusterID: settings.clusterID,
          systemNamespace: settings.systemNamespace,
          registry: registry,
          owners: owners,
          options: RemoteClusterOptions(
            syncTimeout: settings.remote.timeout,
            allowedKubeconfigOptions: settings.remote.insecureOptions,
            source: sourceOptions
          ),
          logger: Logger(label: "sextant.multicluster")
        )
      }
      remoteSecrets = controller
      services.append(controller)
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
    let identifier = "sextant-\(ProcessInfo.processInfo.hostName)"
    if settings.grpcPort != 0 {
      // Plaintext: no authentication, so SDS answers ROOTCA only.
      let ads = AdsServer(
        connections: connections,
        pushed: pushed,
        generator: generator,
        identifier: identifier,
        security: StreamSecurity(secrets: workloadSecrets),
        listener: "plaintext",
        logger: Logger(label: "sextant.ads")
      )
      let transport = HTTP2ServerTransport.Posix(
        address: socketAddress(settings.listenAddress, settings.grpcPort),
        transportSecurity: .plaintext
      )
      services.append(
        GRPCService(
          server: GRPCServer(transport: transport, services: [ads]), connections: connections, listener: "plaintext"))
    }
    if settings.security.securePort != 0 {
      let serving = try await startupStep {
        do {
          return try ServingCertificate(
            meshCA: trust.meshCA,
            names: .istiod(
              namespace: settings.systemNamespace,
              domainSuffix: settings.domainSuffix,
              customHosts: settings.security.customHosts
            ),
            logger: trustLogger
          )
        } catch {
          throw StartupError(description: "the secure port's certificate (ISTIOD_CUSTOM_HOST?): \(error)")
        }
      }
      services.append(ServingCertificateRotator(certificate: serving, meshCA: trust.meshCA, logger: trustLogger))
      let peers = PeerIdentities()
      let reviewer = primaryClient.map { primaryClient in
        ClusterTokenReviewer(
          reviewer: KubeTokenReviewer(
            clients: { [clusterID = settings.clusterID, remoteSecrets] cluster in
              if cluster == clusterID { return primaryClient }
              return await remoteSecrets?.client(for: cluster)
            },
            logger: trustLogger
          ))
      }
      let authenticator = Authenticator(
        peerIdentities: peers,
        tokenReviewer: reviewer,
        meshTrustDomain: settings.mesh.trustDomain,
        primaryClusterID: settings.clusterID
      )
      let ads = AdsServer(
        connections: connections,
        pushed: pushed,
        generator: generator,
        identifier: identifier,
        security: StreamSecurity(
          authenticate: { remotePeer, metadata in
            do throws(AuthenticationError) {
              return try await authenticator.authenticate(remotePeer: remotePeer, metadata: metadata)
            } catch {
              throw error.rpcError
            }
          },
          secrets: workloadSecrets
        ),
        listener: "secure",
        logger: Logger(label: "sextant.ads")
      )
      let certificates = IstioCertificateServer(
        meshCA: trust.meshCA,
        authenticator: authenticator,
        defaultTTL: settings.security.workloadTTL,
        maximumTTL: settings.security.maximumWorkloadTTL,
        logger: Logger(label: "sextant.ca")
      )
      let listener = SecureGRPCListener(
        host: settings.listenAddress,
        port: settings.security.securePort,
        servingCertificate: serving,
        meshCA: trust.meshCA,
        peerIdentities: peers,
        logger: Logger(label: "sextant.secure-grpc")
      )
      let transport = HTTP2ServerTransport.Custom(listenerFactory: listener)
      services.append(
        GRPCService(
          server: GRPCServer(transport: transport, services: [ads, certificates]), connections: connections,
          listener: "secure"))
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
        "secure-grpc": "\(settings.listenAddress):\(settings.security.securePort)",
        "ca": "\(trust.origin)",
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
  /// The `AdsServer.listener` of this server's ADS service: only its streams are ended.
  let listener: String

  func run() async throws {
    try await withGracefulShutdownHandler {
      try await server.serve()
    } onGracefulShutdown: {
      server.beginGracefulShutdown()
      connections.closeAll(listener: listener)
    }
  }
}
