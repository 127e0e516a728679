import Foundation
import GRPCNIOTransportHTTP2Posix
import Logging
import Metrics
import NIOCore
import NIOPosix
import NIOSSL
import SextantBase
import SextantPKI
import Synchronization
import X509

/// A TLS listener for gRPC's `HTTP2ServerTransport.Custom`: the secure port (15012), with optional client certificates.
///
/// Use it as `HTTP2ServerTransport.Custom(listenerFactory: SecureGRPCListener(...))`. It binds `host:port` (port 0
/// picks a free port; `boundPort` tells which) and puts a `NIOSSLServerHandler` in front of gRPC on every accepted
/// connection: TLS 1.2 or later, ALPN `h2` and `grpc-exp` (not required), and
/// - the serving certificate `ServingCertificate.current` at each handshake, so renewals reach new connections
///   without a restart;
/// - client certificates are optional (a client may authenticate with a token instead), but one that is presented
///   must verify with `PeerCertificateVerifier` against the mesh roots of `MeshCA.authority` at handshake time.
///   Success records the SPIFFE identity in `PeerIdentities` under the connection's gRPC remote-peer string (removed
///   when the connection closes); failure fails the handshake, logs a warning with the peer and the verifier's reason
///   and counts `sextant_xds_auth_failures_total{reason=CODE}` (a `PeerVerificationError.Code`).
///
/// Verification runs on the connection's event loop: a few signature checks per handshake, since a chain over
/// `PeerCertificateVerifier.maximumChainCertificates` certificates or `maximumChainBytes` bytes is refused
/// (`chainTooLong`: logged and counted like every refusal) before any signature is checked, and the path is built
/// in one pass.
package struct SecureGRPCListener: HTTP2ServerTransport.ListenerFactory {
  /// ALPN protocols offered, in order of preference.
  package static let applicationProtocols = ["h2", "grpc-exp"]

  /// The event loops the listener and its connections run on.
  package let eventLoopGroup: any EventLoopGroup
  /// The host (address) to bind.
  package let host: String
  /// The port to bind; 0 picks a free one.
  package let port: Int

  private let servingCertificate: ServingCertificate
  private let meshCA: MeshCA
  private let peerIdentities: PeerIdentities
  private let now: @Sendable () -> Date
  private let logger: Logger
  private let handshakeTimeout: TimeAmount
  private let bound = BoundAddress()

  /// A listener on `host:port` serving `servingCertificate` and verifying client certificates with `meshCA`'s roots.
  ///
  /// - Parameters:
  ///   - peerIdentities: Receives the identity of each connection whose client certificate verified.
  ///   - now: The time client certificates are checked at.
  ///   - handshakeTimeout: How long an accepted connection may take to complete its TLS handshake before it is closed.
  ///   - logger: Receives refused client certificates (warning).
  package init(
    host: String, port: Int, servingCertificate: ServingCertificate, meshCA: MeshCA, peerIdentities: PeerIdentities,
    logger: Logger, eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
    now: @escaping @Sendable () -> Date = { Date() }, handshakeTimeout: Duration = .seconds(10)
  ) {
    self.handshakeTimeout = .nanoseconds(handshakeTimeout.inNanoseconds)
    self.host = host
    self.port = port
    self.servingCertificate = servingCertificate
    self.meshCA = meshCA
    self.peerIdentities = peerIdentities
    self.logger = logger
    self.eventLoopGroup = eventLoopGroup
    self.now = now
  }

  /// The address the listener is bound to, once it is listening.
  package var boundAddress: NIOCore.SocketAddress? { bound.address.withLock { $0 } }

  /// The port the listener is bound to, once it is listening (the chosen one when `port` was 0).
  package var boundPort: Int? { boundAddress?.port }

  /// The TLS configuration every connection starts from: the current serving certificate, replaced per handshake.
  package func tlsConfiguration() -> TLSConfiguration {
    let current = servingCertificate.current
    var configuration = TLSConfiguration.makeServerConfiguration(
      certificateChain: current.certificateSources, privateKey: .privateKey(current.privateKey))
    configuration.minimumTLSVersion = .tlsv12
    configuration.applicationProtocols = Self.applicationProtocols
    configuration.certificateVerification = .optionalVerification
    // Client chains are verified by the custom callback only; BoringSSL's own store stays empty.
    configuration.trustRoots = .certificates([])
    let servingCertificate = self.servingCertificate
    configuration.sslContextCallback = { _, promise in
      let current = servingCertificate.current
      var override = NIOSSLContextConfigurationOverride()
      override.certificateChain = current.certificateSources
      override.privateKey = .privateKey(current.privateKey)
      promise.succeed(override)
    }
    return configuration
  }

  package func makeListeningChannel(
    listenerConfigurator: HTTP2ServerTransport.ListenerConfigurator,
    connectionConfigurator: HTTP2ServerTransport.ConnectionConfigurator
  ) async throws -> NIOAsyncChannel<HTTP2ServerTransport.ConnectionConfigurator.ConnectionChannel, Never> {
    let address = "\(host):\(port)"
    // Fail at start-up, not at the first connection, when the configuration cannot make a context.
    do {
      _ = try NIOSSLContext(configuration: tlsConfiguration())
    } catch {
      throw SecureGRPCListenerError(.tlsContextFailed, address: address, "cannot create the TLS context: \(error)")
    }
    let listener = self
    let logger = self.logger
    let handshakeTimeout = self.handshakeTimeout
    let verifier = ClientCertificateVerifier(
      meshCA: meshCA, peerIdentities: peerIdentities, now: now, logger: logger)
    let peerIdentities = self.peerIdentities
    let channel: NIOAsyncChannel<HTTP2ServerTransport.ConnectionConfigurator.ConnectionChannel, Never>
    do {
      channel = try await ServerBootstrap(group: eventLoopGroup)
        .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
        .serverChannelInitializer { channel in listenerConfigurator.configure(channel: channel) }
        .bind(host: host, port: port) { channel in
          channel.eventLoop.makeCompletedFuture {
            peerIdentities.connectionAccepted(channel)
            // A fresh context per connection: its session cache and ticket keys are new, so a client can never
            // resume a TLS session. A resumed handshake would skip the verification callback, which is where the
            // caller's identity is recorded; every connection must present (and have verified) its certificate.
            let sslContext = try NIOSSLContext(configuration: listener.tlsConfiguration())
            let handler = NIOSSLServerHandler(
              context: sslContext,
              customVerificationCallbackWithMetadata: { certificates, promise in
                verifier.verify(certificates, channel: channel, promise: promise)
              })
            try channel.pipeline.syncOperations.addHandler(handler)
            try channel.pipeline.syncOperations.addHandler(
              HandshakeDeadline(timeout: handshakeTimeout) { address in
                logger.warning(
                  "closed a connection whose TLS handshake did not complete in time",
                  metadata: ["peer": "\(address.map { "\($0)" } ?? "unknown")"])
              })
          }.flatMap {
            connectionConfigurator.configure(channel: channel, tls: .configured(requireALPN: false))
          }
        }
    } catch {
      throw SecureGRPCListenerError(.bindFailed, address: address, "cannot listen: \(error)")
    }
    bound.address.withLock { $0 = channel.channel.localAddress }
    logger.info(
      "secure gRPC listener is listening",
      metadata: ["address": "\(channel.channel.localAddress.map { "\($0)" } ?? address)"])
    return channel
  }
}

/// Where a `SecureGRPCListener` is bound; shared by its copies (the transport keeps one, the caller another).
private final class BoundAddress: Sendable {
  let address = Mutex<NIOCore.SocketAddress?>(nil)
}

/// The client-certificate check of `SecureGRPCListener`, called by NIOSSL once per handshake with a client chain.
struct ClientCertificateVerifier: Sendable {
  let meshCA: MeshCA
  let peerIdentities: PeerIdentities
  let now: @Sendable () -> Date
  let logger: Logger

  func verify(
    _ certificates: [NIOSSLCertificate], channel: any Channel,
    promise: EventLoopPromise<NIOSSLVerificationResultWithMetadata>
  ) {
    let peer =
      PeerIdentities.remotePeer(of: channel.remoteAddress) ?? channel.remoteAddress.map { "\($0)" } ?? "unknown"
    let result: Result<SpiffeID, PeerVerificationError>
    var notAfter: Date?
    do {
      let chainDER = try certificates.map { try $0.toDERBytes() }
      result = Result { () throws(PeerVerificationError) -> SpiffeID in
        try PeerCertificateVerifier.verify(
          chainDER: chainDER, roots: meshCA.authority.material.rootCertificates, now: now())
      }
      // The identity lasts as long as the presented chain; the verifier checked every certificate on the path.
      notAfter = chainDER.compactMap { try? Certificate(derEncoded: $0).notValidAfter }.min()
    } catch {
      result = .failure(
        PeerVerificationError(.invalidCertificate, certificate: "", "cannot serialize the presented chain: \(error)"))
    }
    switch result {
    case .success(let identity):
      peerIdentities.record(identity, notAfter: notAfter, for: channel)
      logger.debug("verified a client certificate", metadata: ["peer": "\(peer)", "identity": "\(identity.uri)"])
      promise.succeed(.certificateVerified(VerificationMetadata(nil)))
    case .failure(let error):
      Counter(label: "sextant_xds_auth_failures_total", dimensions: [("reason", error.code.rawValue)]).increment()
      logger.warning(
        "refused a client certificate; the TLS handshake fails",
        metadata: ["peer": "\(peer)", "reason": "\(error.description)", "code": "\(error.code.rawValue)"])
      promise.succeed(.failed)
    }
  }
}

/// Bounds one gRPC server's connections, for `HTTP2ServerTransport.Config.ChannelDebuggingCallbacks.onAcceptTCPConnection`
/// (plaintext and secure port alike).
///
/// At most `maximumConnections` are open at once: one more is closed as it is accepted, logged at warning with its
/// peer (`refused a gRPC connection: too many open connections`) and counted in
/// `sextant_grpc_connections_refused_total{listener}`. With `maximumAge`, each connection is drained (GOAWAY, as
/// for graceful shutdown; the transport's grace time then closes it) after `maximumAge` shortened or lengthened by
/// up to `jitter` (a fraction), chosen per connection so that connections opened together reconnect apart.
package final class GRPCConnectionPolicy: Sendable {
  private let maximumConnections: Int
  private let maximumAge: Duration?
  private let jitter: Double
  private let listener: String
  private let logger: Logger
  private let open = Atomic<Int>(0)

  package init(maximumConnections: Int, maximumAge: Duration?, jitter: Double, listener: String, logger: Logger) {
    self.maximumConnections = maximumConnections
    self.maximumAge = maximumAge
    self.jitter = max(0, min(jitter, 0.5))
    self.listener = listener
    self.logger = logger
  }

  /// Connections open now.
  package var openConnections: Int { open.load(ordering: .relaxed) }

  /// Admits (or refuses) one accepted connection; the transport's `onAcceptTCPConnection`.
  package func accept(_ channel: any Channel) -> EventLoopFuture<Void> {
    let count = open.add(1, ordering: .relaxed).newValue
    channel.closeFuture.whenComplete { _ in self.open.subtract(1, ordering: .relaxed) }
    guard count <= maximumConnections else {
      Counter(label: "sextant_grpc_connections_refused_total", dimensions: [("listener", listener)]).increment()
      logger.warning(
        "refused a gRPC connection: too many open connections",
        metadata: [
          "peer": "\(channel.remoteAddress.map { "\($0)" } ?? "unknown")", "listener": "\(listener)",
          "limit": "\(maximumConnections)",
        ])
      channel.close(promise: nil)
      return channel.eventLoop.makeSucceededVoidFuture()
    }
    if let maximumAge {
      let factor = 1 + Double.random(in: -jitter...jitter)
      let age = TimeAmount.nanoseconds(Int64(Double(maximumAge.inNanoseconds) * factor))
      let drain = channel.eventLoop.scheduleTask(in: age) {
        channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
      }
      channel.closeFuture.whenComplete { _ in drain.cancel() }
    }
    return channel.eventLoop.makeSucceededVoidFuture()
  }
}
