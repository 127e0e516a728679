import EnvoyAPI
import Foundation
import GRPCCore
import Logging
import SextantPKI
import SwiftProtobuf
import Synchronization
import Testing
import X509

@testable import SextantGeneration
@testable import SextantXDS

/// Authentication, authorization and SDS on the ADS stream, over gRPC's in-process transport.
@Suite struct AdsSecurityTests {
  static let logger = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }

  /// A mesh CA with a fresh self-signed root in a temporary directory.
  static func meshCA() throws -> MeshCA {
    MeshCA(try authority())
  }

  static func authority() throws -> CertificateAuthority {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sextant-ads-\(UUID().uuidString)")
      .path
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let material = try SelfSignedCA.loadOrCreate(directory: directory, trustDomain: "cluster.local", logger: logger)
    return CertificateAuthority(material: material, logger: logger)
  }

  /// Accepts callers whose `x-test-namespace` metadata names a namespace, as identity `ns/NS/sa/client`.
  static let authenticate: @Sendable (String, Metadata) async throws -> CallerIdentity = { _, metadata in
    guard let namespace = metadata[stringValues: "x-test-namespace"].first(where: { _ in true }) else {
      throw RPCError(code: .unauthenticated, message: "no test credentials")
    }
    return CallerIdentity(
      spiffe: try SpiffeID(trustDomain: "cluster.local", namespace: namespace, serviceAccount: "client"),
      method: .clientCertificate)
  }

  /// The first certificate of a PEM chain.
  static func leaf(_ chainPEM: String) throws -> Certificate {
    let end = "-----END CERTIFICATE-----"
    let first = try #require(chainPEM.range(of: end))
    return try Certificate(pemEncoded: String(chainPEM[..<first.upperBound]))
  }

  static func secrets(_ response: Envoy_Service_Discovery_V3_DiscoveryResponse) throws
    -> [String: Envoy_Extensions_TransportSockets_Tls_V3_Secret]
  {
    var result: [String: Envoy_Extensions_TransportSockets_Tls_V3_Secret] = [:]
    for any in response.resources {
      let secret = try Envoy_Extensions_TransportSockets_Tls_V3_Secret(unpackingAny: any)
      result[secret.name] = secret
    }
    return result
  }

  @Test func authenticatedStreamGetsItsOwnCertificateAndTheRoot() async throws {
    let ca = try Self.meshCA()
    let security = StreamSecurity(authenticate: Self.authenticate, secrets: WorkloadSecrets(meshCA: ca))
    try await AdsServerTests().withHarness(security: security, metadata: ["x-test-namespace": "sample"]) { h in
      h.requests.yield(AdsServerTests.request(.secret, names: ["default", "ROOTCA"], node: true))
      let response = try await h.next("SDS response")
      #expect(response.typeURL == XDSType.secret.rawValue)
      let secrets = try Self.secrets(response)
      #expect(Set(secrets.keys) == ["default", "ROOTCA"])
      let chainPEM = String(decoding: secrets["default"]!.tlsCertificate.certificateChain.inlineBytes, as: UTF8.self)
      let leaf = try Self.leaf(chainPEM)
      #expect(try SpiffeID(certificate: leaf).uri == "spiffe://cluster.local/ns/sample/sa/client")
      #expect(!secrets["default"]!.tlsCertificate.privateKey.inlineBytes.isEmpty)
      let roots = String(decoding: secrets["ROOTCA"]!.validationContext.trustedCa.inlineBytes, as: UTF8.self)
      #expect(roots == ca.authority.material.rootCertificatesPEM)

      // A new CA (plugged-in material replaced): both secrets are pushed again, the certificate from the new CA.
      let replacement = try Self.authority()
      ca.replace(replacement)
      let pushed = try await h.next("SDS push after the CA changed")
      let renewed = try Self.secrets(pushed)
      #expect(
        String(decoding: renewed["ROOTCA"]!.validationContext.trustedCa.inlineBytes, as: UTF8.self)
          == replacement.material.rootCertificatesPEM)
      let newLeaf = try Self.leaf(
        String(decoding: renewed["default"]!.tlsCertificate.certificateChain.inlineBytes, as: UTF8.self))
      #expect(newLeaf.issuer == replacement.material.signingCertificate.subject)
    }
  }

  @Test func unauthenticatedStreamIsRefused() async throws {
    let security = StreamSecurity(authenticate: Self.authenticate, secrets: WorkloadSecrets(meshCA: try Self.meshCA()))
    try await AdsServerTests().withHarness(security: security) { h in
      h.requests.yield(AdsServerTests.request(.cluster, node: true))
      let error = await #expect(throws: RPCError.self) { _ = try await h.next("CDS response") }
      #expect(error?.code == .unauthenticated)
    }
  }

  @Test func identityFromAnotherNamespaceIsDenied() async throws {
    let security = StreamSecurity(authenticate: Self.authenticate, secrets: WorkloadSecrets(meshCA: try Self.meshCA()))
    try await AdsServerTests().withHarness(security: security, metadata: ["x-test-namespace": "other"]) { h in
      h.requests.yield(AdsServerTests.request(.cluster, node: true))
      let error = await #expect(throws: RPCError.self) { _ = try await h.next("CDS response") }
      #expect(error?.code == .permissionDenied)
      #expect(error?.message.contains("namespace other") == true)
    }
  }

  @Test func plaintextStreamGetsTheRootButNoCertificate() async throws {
    let security = StreamSecurity(secrets: WorkloadSecrets(meshCA: try Self.meshCA()))
    try await AdsServerTests().withHarness(security: security) { h in
      h.requests.yield(AdsServerTests.request(.secret, names: ["default", "ROOTCA"], node: true))
      let secrets = try Self.secrets(try await h.next("SDS response"))
      #expect(Array(secrets.keys) == ["ROOTCA"])
    }
  }

  @Test func serviceAccountClaimedByTheNodeMustBeTheCallers() async throws {
    let security = StreamSecurity(authenticate: Self.authenticate, secrets: WorkloadSecrets(meshCA: try Self.meshCA()))
    try await AdsServerTests().withHarness(security: security, metadata: ["x-test-namespace": "sample"]) { h in
      var request = AdsServerTests.request(.cluster, node: true)
      request.node.metadata.fields["SERVICE_ACCOUNT"] = Google_Protobuf_Value(stringValue: "someone-else")
      h.requests.yield(request)
      let error = await #expect(throws: RPCError.self) { _ = try await h.next("CDS response") }
      #expect(error?.code == .permissionDenied)
      #expect(error?.message.contains("SERVICE_ACCOUNT is someone-else") == true)
    }
  }

  @Test func certificateIsNotReissuedWhenTheCredentialNoLongerAuthenticates() async throws {
    let ca = try Self.meshCA()
    let calls = Mutex(0)
    // The first check (stream start) passes; the re-check before a reissue fails, as for a token that expired.
    let authenticate: @Sendable (String, Metadata) async throws -> CallerIdentity = { peer, metadata in
      let call = calls.withLock { value -> Int in
        value += 1
        return value
      }
      guard call == 1 else { throw RPCError(code: .unauthenticated, message: "the token expired") }
      return try await Self.authenticate(peer, metadata)
    }
    let security = StreamSecurity(authenticate: authenticate, secrets: WorkloadSecrets(meshCA: ca))
    try await AdsServerTests().withHarness(security: security, metadata: ["x-test-namespace": "sample"]) { h in
      h.requests.yield(AdsServerTests.request(.secret, names: ["default"], node: true))
      _ = try await h.next("SDS response")
      ca.replace(try Self.authority())  // makes the certificate due for reissue
      let error = await #expect(throws: RPCError.self) { _ = try await h.next("the stream's end") }
      #expect(error?.code == .unauthenticated)
      #expect(error?.message.contains("the token expired") == true)
    }
  }
}
