import Crypto
import Foundation
import GRPCCore
import IstioAPI
import Testing
import X509

@testable import SextantPKI
@testable import SextantTrust

@Suite("Istio certificate service (CreateCertificate)")
struct IstioCertificateServerTests {
  let peer = "ipv4:10.0.0.2:41000"

  /// A server whose CA is cluster1's (clock at testNow) and whose caller `peer` has `certificateIdentity`.
  func server(maximumTTL: Duration = CertificateAuthority.maximumWorkloadTTL) throws -> IstioCertificateServer {
    let identities = PeerIdentities()
    identities.record(certificateIdentity, remotePeer: peer)
    let authenticator = Authenticator(
      peerIdentities: identities, tokenReviewer: nil, meshTrustDomain: "cluster.local",
      primaryClusterID: "Kubernetes")
    return IstioCertificateServer(
      meshCA: MeshCA(try clusterCA()), authenticator: authenticator, maximumTTL: maximumTTL, logger: quietLogger)
  }

  func request(validity: Int64 = 0) throws -> Istio_V1_Auth_IstioCertificateRequest {
    var request = Istio_V1_Auth_IstioCertificateRequest()
    request.csr = try hostileCSR(key: Certificate.PrivateKey(P256.Signing.PrivateKey()))
    request.validityDuration = validity
    return request
  }

  func rpcError(_ body: () async throws(RPCError) -> Istio_V1_Auth_IstioCertificateResponse) async -> RPCError? {
    do {
      _ = try await body()
      return nil
    } catch {
      return error
    }
  }

  @Test("the leaf names the caller, not the identity the CSR asks for; the root comes last")
  func signsForCaller() async throws {
    let response = try await server().createCertificate(try request(), metadata: [:], remotePeer: peer)
    let pki = TestPKI.ecdsa
    // As istiod answers: the leaf, cert-chain.pem (which ends with the root here), then root-cert.pem.
    #expect(response.certChain.count == 4)
    let leaf = try Certificate(pemEncoded: try #require(response.certChain.first))
    #expect(try SpiffeID(certificate: leaf) == certificateIdentity)
    #expect(Array(response.certChain.dropFirst()) == [pki.cluster1.pem, pki.root.pem, pki.root.pem])
    #expect(response.certChain.last == pki.root.pem)
    #expect(leaf.notValidAfter == testNow + 24 * 3600)
  }

  @Test("validity_duration: 0 is the default, positive is used, negative or above the maximum is INVALID_ARGUMENT")
  func ttlRules() async throws {
    let server = try server(maximumTTL: .seconds(48 * 3600))
    let response = try await server.createCertificate(try request(validity: 3600), metadata: [:], remotePeer: peer)
    let leaf = try Certificate(pemEncoded: try #require(response.certChain.first))
    #expect(leaf.notValidAfter == testNow + 3600)

    let negative = await rpcError { () async throws(RPCError) in
      try await server.createCertificate(try! request(validity: -5), metadata: [:], remotePeer: peer)
    }
    #expect(negative?.code == .invalidArgument)
    #expect(negative?.message.contains("-5s") == true)

    let tooLong = await rpcError { () async throws(RPCError) in
      try await server.createCertificate(try! request(validity: 48 * 3600 + 1), metadata: [:], remotePeer: peer)
    }
    #expect(tooLong?.code == .invalidArgument)
    #expect(tooLong?.message.contains("172801s") == true)
    #expect(tooLong?.message.contains("172800s") == true)

    #expect(
      try IstioCertificateServer.ttl(validitySeconds: 0, defaultTTL: .seconds(7), maximumTTL: .seconds(9))
        == .seconds(7))
  }

  @Test("a malformed CSR is INVALID_ARGUMENT with the CA's reason; an unknown caller is UNAUTHENTICATED")
  func refusals() async throws {
    let server = try server()
    var bad = Istio_V1_Auth_IstioCertificateRequest()
    bad.csr = "not a CSR"
    let invalid = await rpcError { () async throws(RPCError) in
      try await server.createCertificate(bad, metadata: [:], remotePeer: peer)
    }
    #expect(invalid?.code == .invalidArgument)
    #expect(invalid?.message.hasPrefix("issuing spiffe://cluster.local/ns/default/sa/sleep: ") == true)

    let stranger = await rpcError { () async throws(RPCError) in
      try await server.createCertificate(try! request(), metadata: [:], remotePeer: "ipv4:10.9.9.9:1")
    }
    #expect(stranger?.code == .unauthenticated)
    #expect(stranger?.message == "no client certificate and no 'authorization: Bearer' token")
  }
}
