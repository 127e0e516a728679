import Testing

@testable import SextantPKI
@testable import SextantTrust

@Suite("SPIFFE IDs")
struct SpiffeIDTests {
  @Test("spiffe://TRUST_DOMAIN/ns/NS/sa/SA parses into its parts and formats back")
  func roundTrip() throws {
    let id = try SpiffeID(parsing: "spiffe://cluster.local/ns/istio-system/sa/istiod-service-account")
    #expect(id.trustDomain == "cluster.local")
    #expect(id.namespace == "istio-system")
    #expect(id.serviceAccount == "istiod-service-account")
    #expect(id.uri == "spiffe://cluster.local/ns/istio-system/sa/istiod-service-account")
    #expect("\(id)" == id.uri)
    #expect(
      try SpiffeID(trustDomain: "cluster.local", namespace: "istio-system", serviceAccount: "istiod-service-account")
        == id)
    #expect(try SpiffeID(parsing: "spiffe://td_1.example-org/ns/a/sa/b.c").serviceAccount == "b.c")
  }

  @Test(
    "malformed IDs are refused with the failing part",
    arguments: [
      ("https://cluster.local/ns/a/sa/b", SpiffeIDError.Code.missingScheme),
      ("SPIFFE://cluster.local/ns/a/sa/b", .missingScheme),
      ("spiffe:///ns/a/sa/b", .invalidTrustDomain),
      ("spiffe://Cluster.Local/ns/a/sa/b", .invalidTrustDomain),
      ("spiffe://cluster.local:443/ns/a/sa/b", .invalidTrustDomain),
      ("spiffe://user@cluster.local/ns/a/sa/b", .invalidTrustDomain),
      ("spiffe://cluster.local", .invalidPath),
      ("spiffe://cluster.local/", .invalidPath),
      ("spiffe://cluster.local/ns/a", .invalidPath),
      ("spiffe://cluster.local/ns/a/sa/b/extra", .invalidPath),
      ("spiffe://cluster.local/namespace/a/sa/b", .invalidPath),
      ("spiffe://cluster.local/ns/a/serviceaccount/b", .invalidPath),
      ("spiffe://cluster.local/ns//sa/b", .invalidNamespace),
      ("spiffe://cluster.local/ns/A/sa/b", .invalidNamespace),
      ("spiffe://cluster.local/ns/a.b/sa/b", .invalidNamespace),
      ("spiffe://cluster.local/ns/-a/sa/b", .invalidNamespace),
      ("spiffe://cluster.local/ns/a/sa/", .invalidServiceAccount),
      ("spiffe://cluster.local/ns/a/sa/b?x=1", .invalidServiceAccount),
      ("spiffe://cluster.local/ns/a/sa/b#f", .invalidServiceAccount),
      ("spiffe://cluster.local/ns/a/sa/b%20c", .invalidServiceAccount),
      ("spiffe://cluster.local/ns/a/sa/b..c", .invalidServiceAccount),
    ])
  func malformed(uri: String, code: SpiffeIDError.Code) {
    do {
      let id = try SpiffeID(parsing: uri)
      Issue.record("parsed \(uri) as \(id)")
    } catch {
      #expect(error.code == code, "\(error)")
      #expect(error.input == uri)
      #expect("\(error)".hasPrefix("invalid SPIFFE ID \"\(uri)\": "))
    }
  }

  @Test("a namespace longer than 63 characters is refused")
  func longNamespace() {
    let namespace = String(repeating: "a", count: 64)
    #expect(throws: SpiffeIDError.self) {
      try SpiffeID(trustDomain: "cluster.local", namespace: namespace, serviceAccount: "default")
    }
  }

  @Test("the identity is read from a certificate's URI SANs, ignoring other URIs")
  func fromCertificate() throws {
    let pki = TestPKI.ecdsa
    let leaf = CertificateFactory.issue(
      "", key: .make(.p256PKCS8), by: pki.cluster1, basicConstraints: .notCertificateAuthority, keyUsage: nil,
      subjectAlternativeNames: [
        .uniformResourceIdentifier("https://example.com/"), .uniformResourceIdentifier(workload.uri),
      ])
    #expect(try SpiffeID(certificate: leaf.certificate) == workload)
    do {
      _ = try SpiffeID(certificate: pki.cluster1.certificate)
      Issue.record("a certificate without SANs gave an identity")
    } catch {
      #expect(error.code == .notInCertificate)
    }
  }
}
