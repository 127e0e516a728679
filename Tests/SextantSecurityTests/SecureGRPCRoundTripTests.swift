import Crypto
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import IstioAPI
import NIOCore
import NIOPosix
import NIOSSL
import SextantTestSupport
import Synchronization
import Testing
import X509

@testable import SextantPKI
@testable import SextantTrust

/// A running secure gRPC server (SecureGRPCListener + IstioCertificateServer) on 127.0.0.1 and its parts.
struct SecureServerFixture {
  let meshCA: MeshCA
  let servingCertificate: ServingCertificate
  let identities: PeerIdentities
  let logs: LogRecorder
  let port: Int

  /// The mesh roots as PEM, for the client's trust store.
  var rootsPEM: [String] { meshCA.authority.material.rootCertificatePEMs }

  /// Runs a server for the duration of `body`. Certificates use the real clock (NIOSSL's client checks them).
  static func run(
    reviewer: (any TokenReviewer)? = nil, handshakeTimeout: Duration = .seconds(10),
    _ body: (SecureServerFixture) async throws -> Void
  ) async throws {
    let pki = TestPKI.ecdsa
    let material = try CAMaterial(pem: pki.files(for: pki.cluster1), source: "cluster1", now: Date())
    let meshCA = MeshCA(CertificateAuthority(material: material, logger: quietLogger))
    let servingCertificate = try ServingCertificate(
      meshCA: meshCA, names: .istiod(namespace: "istio-system", domainSuffix: "cluster.local"), logger: quietLogger)
    let identities = PeerIdentities()
    let logs = LogRecorder()
    let listener = SecureGRPCListener(
      host: "127.0.0.1", port: 0, servingCertificate: servingCertificate, meshCA: meshCA,
      peerIdentities: identities, logger: logs.logger, handshakeTimeout: handshakeTimeout)
    let authenticator = Authenticator(
      peerIdentities: identities, tokenReviewer: reviewer, meshTrustDomain: "cluster.local",
      primaryClusterID: "Kubernetes")
    let transport = HTTP2ServerTransport.Custom(listenerFactory: listener)
    let server = GRPCServer(
      transport: transport,
      services: [IstioCertificateServer(meshCA: meshCA, authenticator: authenticator, logger: quietLogger)])
    try await withThrowingDiscardingTaskGroup { group in
      group.addTask { try await server.serve() }
      defer { server.beginGracefulShutdown() }
      _ = await transport.listeningAddress
      let port = try #require(listener.boundPort)
      #expect(port > 0)
      try await body(
        SecureServerFixture(
          meshCA: meshCA, servingCertificate: servingCertificate, identities: identities, logs: logs, port: port))
    }
  }

  /// Calls CreateCertificate over TLS (verifying the server as `istiod.istio-system.svc`), presenting `client` when
  /// given; `serverLeaf` receives the server's certificate when set (it then replaces the client's verification).
  func createCertificate(
    client: IssuedCertificate? = nil, metadata: Metadata = [:],
    serverLeaf: (@Sendable (NIOSSLCertificate) -> Void)? = nil
  ) async throws -> Istio_V1_Auth_IstioCertificateResponse {
    let rootsPEM = self.rootsPEM
    let security = HTTP2ClientTransport.Posix.TransportSecurity.tls { config in
      config.trustRoots = .certificates(rootsPEM.map { .bytes(Array($0.utf8), format: .pem) })
      config.serverCertificateVerification = .fullVerification
      if let client {
        config.certificateChain = client.chainPEM.map { .bytes(Array($0.utf8), format: .pem) }
        config.privateKey = .bytes(Array((client.privateKeyPEM ?? "").utf8), format: .pem)
      }
      if let serverLeaf {
        config.customVerificationCallback = { certificates, promise in
          if let leaf = certificates.first { serverLeaf(leaf) }
          promise.succeed(.certificateVerified(VerificationMetadata(nil)))
        }
      }
    }
    let transport = try HTTP2ClientTransport.Posix(
      target: .ipv4(address: "127.0.0.1", port: port), transportSecurity: security,
      config: .defaults { $0.http2.authority = "istiod.istio-system.svc" })
    var request = Istio_V1_Auth_IstioCertificateRequest()
    request.csr = try hostileCSR(key: Certificate.PrivateKey(P256.Signing.PrivateKey()))
    var options = CallOptions.defaults
    options.timeout = .seconds(10)
    options.waitForReady = false
    return try await withGRPCClient(transport: transport) { client in
      try await Istio_V1_Auth_IstioCertificateService.Client(wrapping: client).createCertificate(
        request, metadata: metadata, options: options)
    }
  }
}

/// The SPIFFE identity of the leaf of a CreateCertificate response.
func leafIdentity(_ response: Istio_V1_Auth_IstioCertificateResponse) throws -> SpiffeID {
  try SpiffeID(certificate: try Certificate(pemEncoded: try #require(response.certChain.first)))
}

@Suite("Secure gRPC listener, end to end over TLS")
struct SecureGRPCRoundTripTests {
  @Test("a client certificate from the mesh CA authenticates the caller; the CSR's identity is ignored")
  func clientCertificate() async throws {
    try await SecureServerFixture.run { fixture in
      let client = try fixture.meshCA.authority.issueWorkloadCertificate(
        identity: certificateIdentity, ttl: .seconds(3600))
      let response = try await fixture.createCertificate(client: client)
      #expect(try leafIdentity(response) == certificateIdentity)
      #expect(response.certChain.last == fixture.rootsPEM.last)
      // The connection is gone once the client is: so is its entry.
      #expect(await eventually { fixture.identities.count == 0 })
    }
  }

  @Test("a client certificate from an unrelated root fails the handshake, logged with the peer and reason")
  func unrelatedRoot() async throws {
    let other = TestPKI.ecdsa.otherRoot
    let otherMaterial = try CAMaterial(
      pem: CAMaterial.PEMFiles(
        caCert: other.pem, caKey: other.key.pem(.p256PKCS8), certChain: other.pem, rootCert: other.pem),
      source: "other", now: Date())
    let stranger = try CertificateAuthority(material: otherMaterial, logger: quietLogger)
      .issueWorkloadCertificate(identity: certificateIdentity, ttl: .seconds(3600))
    try await SecureServerFixture.run { fixture in
      await #expect(throws: RPCError.self) {
        _ = try await fixture.createCertificate(client: stranger)
      }
      let warning = try #require(fixture.logs.entries(at: .warning).first)
      #expect(warning.metadata["peer"]?.hasPrefix("ipv4:127.0.0.1:") == true)
      #expect(warning.metadata["reason"]?.contains("unknown authority") == true)
      #expect(warning.metadata["code"] == "unknownAuthority")
      #expect(fixture.identities.count == 0)
    }
  }

  @Test("a client chain of 50 certificates fails the handshake as too long, logged and counted by its code")
  func overLongClientChain() async throws {
    try await SecureServerFixture.run { fixture in
      let issued = try fixture.meshCA.authority.issueWorkloadCertificate(
        identity: certificateIdentity, ttl: .seconds(3600))
      let padding = Array(repeating: issued.chainPEM[1], count: 50 - issued.chainPEM.count)
      let padded = IssuedCertificate(
        certificate: issued.certificate, chain: issued.chain, roots: issued.roots, privateKey: issued.privateKey,
        chainPEM: issued.chainPEM + padding, rootsPEM: issued.rootsPEM, privateKeyPEM: issued.privateKeyPEM)
      await #expect(throws: RPCError.self) {
        _ = try await fixture.createCertificate(client: padded)
      }
      let warning = try #require(fixture.logs.entries(at: .warning).first)
      #expect(warning.metadata["code"] == "chainTooLong")
      #expect(warning.metadata["reason"]?.contains("the peer presented 50 certificates; at most 8") == true)
      #expect(fixture.identities.count == 0)
    }
  }

  @Test("no client certificate and no token: UNAUTHENTICATED")
  func noCredentials() async throws {
    try await SecureServerFixture.run { fixture in
      do {
        _ = try await fixture.createCertificate()
        Issue.record("expected UNAUTHENTICATED")
      } catch let error as RPCError {
        #expect(error.code == .unauthenticated)
        #expect(error.message == "no client certificate and no 'authorization: Bearer' token")
      }
    }
  }

  @Test("no client certificate but a bearer token: the reviewer of the cluster named by clusterid decides")
  func bearerToken() async throws {
    let reviewer = FakeTokenReviewer(["good-token": .success(tokenAccount)])
    try await SecureServerFixture.run(reviewer: reviewer) { fixture in
      let response = try await fixture.createCertificate(
        metadata: ["authorization": "Bearer good-token", "clusterid": "cluster2"])
      #expect(try leafIdentity(response).uri == "spiffe://cluster.local/ns/bookinfo/sa/reviews")
      #expect(reviewer.calls == [.init(token: "good-token", audiences: ["istio-ca"], clusterID: "cluster2")])
    }
  }

  @Test("a renewed serving certificate is presented to new connections without a restart")
  func renewalReachesNewConnections() async throws {
    try await SecureServerFixture.run { fixture in
      let client = try fixture.meshCA.authority.issueWorkloadCertificate(
        identity: certificateIdentity, ttl: .seconds(3600))
      let seen = Mutex<[[UInt8]]>([])
      let record: @Sendable (NIOSSLCertificate) -> Void = { leaf in
        if let der = try? leaf.toDERBytes() { seen.withLock { $0.append(der) } }
      }
      _ = try await fixture.createCertificate(client: client, serverLeaf: record)
      let first = fixture.servingCertificate.current
      try fixture.servingCertificate.renew(reason: "test")
      let second = fixture.servingCertificate.current
      _ = try await fixture.createCertificate(client: client, serverLeaf: record)

      let serials = try seen.withLock { $0 }.map { "\(try Certificate(derEncoded: $0).serialNumber)" }
      #expect(serials == [first.serial, second.serial])
    }
  }

  @Test("a connection that never completes its TLS handshake is closed after the handshake timeout")
  func stalledHandshakeIsClosed() async throws {
    try await SecureServerFixture.run(handshakeTimeout: .milliseconds(200)) { fixture in
      let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        .connect(host: "127.0.0.1", port: fixture.port).get()
      // Nothing is sent: the server must close the connection on its own, well before this deadline.
      try await withThrowingTaskGroup(of: Bool.self) { group in
        group.addTask {
          try await channel.closeFuture.get()
          return true
        }
        group.addTask {
          try await Task.sleep(for: .seconds(10))
          return false
        }
        let closedByServer = try await group.next()!
        group.cancelAll()
        if !closedByServer { try await channel.close() }
        #expect(closedByServer, "the server kept a connection without a TLS handshake open")
      }
      #expect(fixture.logs.messages(atLeast: .warning).contains { $0.contains("did not complete in time") })
    }
  }

  @Test("an identity stops counting when its client certificate chain expires")
  func identityExpiresWithTheChain() {
    let identities = PeerIdentities()
    let identity = try! SpiffeID(trustDomain: "cluster.local", namespace: "sample", serviceAccount: "client")
    let notAfter = Date(timeIntervalSince1970: 2_000_000_000)
    identities.record(identity, notAfter: notAfter, remotePeer: "ipv4:127.0.0.1:5000")
    #expect(identities.identity(forRemotePeer: "ipv4:127.0.0.1:5000", now: notAfter) == identity)
    #expect(identities.identity(forRemotePeer: "ipv4:127.0.0.1:5000", now: notAfter.addingTimeInterval(1)) == nil)
  }
}
