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
    if settings.grpcPort != 0 {
      // Plaintext: no authentication, so SDS answers ROOTCA only.
      let ads = AdsServer(
        connections: connections,
        pushed: pushed,
        generator: generator,
        identifier: identifier,
        security: StreamSecurity(secrets: workloadSecrets),
        listener: "plaintext",
        logger: logger.labelled("sextant.ads")
      )
      let transport = HTTP2ServerTransport.Posix(
        address: socketAddress(settings.listenAddress, settings.grpcPort),
        transportSecurity: .plaintext
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
    let transport = HTTP2ServerTransport.Custom(listenerFactory: listener)
    assembly.add(
      .xds, "grpc-secure",
      GRPCService(
        server: GRPCServer(transport: transport, services: [ads, certificates]), connections: connections,
        listener: "secure"))
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
