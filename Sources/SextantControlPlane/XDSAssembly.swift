import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Logging
import ServiceLifecycle
import SextantGeneration
import SextantKubeClient
import SextantKubeSecurity
import SextantPKI
import SextantRegistry
import SextantTrust
import SextantXDS

/// The gRPC side of a control plane: the plaintext ADS port, and the secure port with authenticated ADS (with SDS)
/// and Istio's certificate service behind a rotating serving certificate.
enum XDSAssembly {
  static func add(
    to assembly: inout ControlPlaneAssembly,
    configuration settings: ControlPlane.Configuration,
    trust: MeshTrust,
    primaryClient: KubeClient?,
    remoteClients: @escaping @Sendable (ClusterID) async -> KubeClient?,
    logger: Logger
  ) throws {
    let generator = ConfigGenerator(cache: ResourceCache(), mesh: settings.mesh)
    let workloadSecrets = WorkloadSecrets(meshCA: trust.meshCA, ttl: settings.security.workloadTTL)
    let identifier = "sextant-\(ProcessInfo.processInfo.hostName)"
    let connections = assembly.connections
    let pushed = assembly.pushed
    let ready = servesDiscovery(registry: assembly.registry, pushed: pushed)
    if settings.grpcPort != 0 {
      // Plaintext: no authentication, so SDS answers ROOTCA only.
      let ads = AdsServer(
        connections: connections,
        pushed: pushed,
        generator: generator,
        identifier: identifier,
        security: StreamSecurity(secrets: workloadSecrets),
        listener: "plaintext",
        limits: settings.xdsLimits,
        ready: ready,
        logger: logger.labelled("sextant.ads")
      )
      let transport = HTTP2ServerTransport.Posix(
        address: socketAddress(settings.listenAddress, settings.grpcPort),
        transportSecurity: .plaintext,
        config: transportConfig(settings.xdsLimits, listener: "plaintext", logger: logger.labelled("sextant.grpc"))
      )
      assembly.add(
        .xds, "grpc-plaintext",
        GRPCService(
          server: GRPCServer(transport: transport, services: [ads]), connections: connections, listener: "plaintext"))
    }
    guard settings.security.securePort != 0 else { return }
    let trustLogger = logger.labelled("sextant.trust")
    let serving: ServingCertificate
    do {
      serving = try ServingCertificate(
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
    assembly.add(
      .trust, "serving-certificate",
      ServingCertificateRotator(certificate: serving, meshCA: trust.meshCA, logger: trustLogger))
    let peers = PeerIdentities()
    let reviewer = primaryClient.map { primaryClient in
      ClusterTokenReviewer(
        reviewer: KubeTokenReviewer(
          clients: { [clusterID = settings.clusterID] cluster in
            if cluster == clusterID { return primaryClient }
            return await remoteClients(cluster)
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
      limits: settings.xdsLimits,
      ready: ready,
      logger: logger.labelled("sextant.ads")
    )
    let certificates = IstioCertificateServer(
      meshCA: trust.meshCA,
      authenticator: authenticator,
      defaultTTL: settings.security.workloadTTL,
      maximumTTL: settings.security.maximumWorkloadTTL,
      logger: logger.labelled("sextant.ca")
    )
    let listener = SecureGRPCListener(
      host: settings.listenAddress,
      port: settings.security.securePort,
      servingCertificate: serving,
      meshCA: trust.meshCA,
      peerIdentities: peers,
      logger: logger.labelled("sextant.secure-grpc")
    )
    let secureConfig = transportConfig(settings.xdsLimits, listener: "secure", logger: trustLogger)
    let transport = HTTP2ServerTransport.Custom(
      listenerFactory: listener,
      config: .init(
        compression: secureConfig.compression, connection: secureConfig.connection, http2: secureConfig.http2,
        rpc: secureConfig.rpc, channelDebuggingCallbacks: secureConfig.channelDebuggingCallbacks))
    assembly.add(
      .xds, "grpc-secure",
      GRPCService(
        server: GRPCServer(transport: transport, services: [ads, certificates]), connections: connections,
        listener: "secure"))
  }

  /// The gRPC transport settings of one port from `limits`: request size, streams per connection, keepalive (server
  /// pings every `keepaliveTime`; clients may ping every `minimumClientPingInterval`, also without streams, as
  /// istiod allows), idle time, and a ``GRPCConnectionPolicy`` for the connection limit and the jittered maximum age
  /// (so the transport's own, unjittered `maxAge` stays off; its `maxGraceTime` closes a drained connection).
  static func transportConfig(
    _ limits: XDSLimits, listener: String, logger: Logger
  ) -> HTTP2ServerTransport.Posix.Config {
    var config = HTTP2ServerTransport.Posix.Config.defaults
    config.rpc.maxRequestPayloadSize = limits.maximumRequestBytes
    config.http2.maxConcurrentStreams = limits.maximumConcurrentStreamsPerConnection
    config.connection.maxAge = nil
    config.connection.maxGraceTime = limits.connectionAgeGrace
    config.connection.maxIdleTime = limits.maximumIdleTime
    config.connection.keepalive = .init(
      time: limits.keepaliveTime, timeout: limits.keepaliveTimeout,
      clientBehavior: .init(minPingIntervalWithoutCalls: limits.minimumClientPingInterval, allowWithoutCalls: true))
    let policy = GRPCConnectionPolicy(
      maximumConnections: limits.maximumConnections, maximumAge: limits.maximumConnectionAge,
      jitter: limits.connectionAgeJitter, listener: listener, logger: logger)
    config.channelDebuggingCallbacks.onAcceptTCPConnection = { channel in policy.accept(channel) }
    return config
  }

  /// Whether ADS streams are served yet: once the pushed snapshot holds a cluster that finished its initial load,
  /// or every cluster settled (readiness). A proxy reconnecting to a restarted control plane is refused with
  /// UNAVAILABLE until then and keeps its config, instead of being told that everything it holds was removed.
  /// istiod waits for every cluster; Sextant serves once one has loaded, as readiness may wait for remote clusters
  /// up to PILOT_REMOTE_CLUSTER_TIMEOUT.
  static func servesDiscovery(registry: MeshRegistry, pushed: PushedSnapshot) -> @Sendable () -> Bool {
    {
      let snapshot = pushed.snapshot
      return snapshot.clusters.values.contains(where: \.hasSynced) || registry.allSynced(in: snapshot)
    }
  }

  private static func socketAddress(_ host: String, _ port: Int) -> GRPCNIOTransportCore.SocketAddress {
    host.contains(":") ? .ipv6(host: host, port: port) : .ipv4(host: host, port: port)
  }
}

/// Runs a GRPCServer as a Service: serves until graceful shutdown, then stops accepting streams and ends the open
/// ADS streams (they never end by themselves), so the proxies reconnect to another instance.
struct GRPCService<Transport: ServerTransport>: Service {
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
