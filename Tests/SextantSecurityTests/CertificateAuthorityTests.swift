import Crypto
import Foundation
import SextantBase
import SwiftASN1
import Testing
import X509
import _CryptoExtras

@testable import SextantPKI
@testable import SextantTrust

/// A CA for cluster1 of `format`'s PKI, with its clock fixed at `now`.
func clusterCA(_ format: KeyFormat = .p256PKCS8, now: Date = testNow) throws -> CertificateAuthority {
  let pki = TestPKI.shared(format)
  let material = try CAMaterial(pem: pki.files(for: pki.cluster1), source: "cluster1", now: testNow)
  return CertificateAuthority(material: material, logger: quietLogger, now: { now })
}

/// A CSR as an attacker would write it: its own subject and a SPIFFE SAN for someone else.
func hostileCSR(key: Certificate.PrivateKey) throws -> String {
  let requested = try Certificate.Extensions {
    SubjectAlternativeNames([
      .uniformResourceIdentifier("spiffe://cluster.local/ns/istio-system/sa/istiod"),
      .dnsName("evil.example.com"),
    ])
    Critical(BasicConstraints.isCertificateAuthority(maxPathLength: nil))
  }
  let csr = try CertificateSigningRequest(
    version: .v1,
    subject: try DistinguishedName { CommonName("admin") },
    privateKey: key,
    attributes: CertificateSigningRequest.Attributes([
      try CertificateSigningRequest.Attribute(ExtensionRequest(extensions: requested))
    ]))
  return try csr.serializeAsPEM().pemString
}

/// The code of the error `body` throws, or nil.
func issuanceErrorCode(_ body: () throws(IssuanceError) -> IssuedCertificate) -> IssuanceError.Code? {
  do {
    _ = try body()
    return nil
  } catch {
    return error.code
  }
}

let workload = try! SpiffeID(parsing: "spiffe://cluster.local/ns/default/sa/sleep")

@Suite("Certificate authority")
struct CertificateAuthorityTests {
  @Test(
    "a CSR is signed for the caller's identity only, whatever it asks for",
    arguments: [KeyFormat.p256PKCS8, .rsaPKCS1, .p384SEC1])
  func signsCSRForCallerIdentity(format: KeyFormat) throws {
    let ca = try clusterCA(format)
    let key = Certificate.PrivateKey(P256.Signing.PrivateKey())
    let issued = try ca.issueWorkloadCertificate(
      csrPEM: try hostileCSR(key: key), identity: workload, ttl: .seconds(86_400))
    let leaf = issued.certificate

    #expect(leaf.publicKey == key.publicKey)
    #expect(leaf.subject == DistinguishedName())
    #expect(leaf.issuer == ca.material.signingCertificate.subject)
    let names = try #require(try leaf.extensions.subjectAlternativeNames)
    #expect(Array(names) == [.uniformResourceIdentifier("spiffe://cluster.local/ns/default/sa/sleep")])
    #expect(leaf.extensions[oid: .X509ExtensionID.subjectAlternativeName]?.critical == true)
    #expect(try SpiffeID(certificate: leaf) == workload)
    #expect(try leaf.extensions.basicConstraints == .notCertificateAuthority)
    #expect(try leaf.extensions.keyUsage == KeyUsage(digitalSignature: true, keyEncipherment: true))
    let usages = try #require(try leaf.extensions.extendedKeyUsage)
    #expect(Set(usages.map(\.description)) == Set([ExtendedKeyUsage.Usage.serverAuth, .clientAuth].map(\.description)))
    #expect(
      try leaf.extensions.authorityKeyIdentifier?.keyIdentifier
        == ca.material.signingCertificate.extensions.subjectKeyIdentifier?.keyIdentifier)
    #expect(ca.material.signingCertificate.publicKey.isValidSignature(leaf.signature, for: leaf))

    // Validity: 24h from now, starting a little in the past.
    #expect(leaf.notValidAfter == testNow + day)
    #expect(leaf.notValidBefore < testNow)
    #expect(leaf.notValidBefore >= testNow - 10 * 60)

    // The chain as Istio returns it: leaf, then cert-chain.pem; the roots apart.
    let pki = TestPKI.shared(format)
    #expect(issued.chain == [leaf, pki.cluster1.certificate, pki.root.certificate])
    #expect(issued.roots == [pki.root.certificate])
    #expect(issued.privateKey == nil && issued.privateKeyPEM == nil)
    #expect(issued.chainPEM.count == 3 && issued.chainPEM.allSatisfy { $0.hasSuffix("-----END CERTIFICATE-----\n") })
    #expect(issued.istioResponseCertChain == issued.chainPEM + [pki.root.pem])
    #expect(try PEMDecoding.certificates(issued.certificateChainPEM, label: "chain") == issued.chain)
  }

  @Test("the TTL is capped at 90 days; zero and negative TTLs are refused")
  func ttl() throws {
    let ca = try clusterCA()
    let year = try ca.issueWorkloadCertificate(identity: workload, ttl: .seconds(365 * 86_400))
    #expect(year.certificate.notValidAfter == testNow + 90 * day)
    let ninety = try ca.issueWorkloadCertificate(identity: workload, ttl: CertificateAuthority.maximumWorkloadTTL)
    #expect(ninety.certificate.notValidAfter == testNow + 90 * day)
    let hour = try ca.issueWorkloadCertificate(identity: workload, ttl: .seconds(3600))
    #expect(hour.certificate.notValidAfter == testNow + 3600)

    for bad in [Duration.zero, .seconds(-1)] {
      #expect(
        issuanceErrorCode { () throws(IssuanceError) in try ca.issueWorkloadCertificate(identity: workload, ttl: bad) }
          == .invalidTTL)
    }
  }

  @Test("a certificate never outlives the signer's chain")
  func clampedToChain() throws {
    // cluster1 expires 2 years after testNow; issue 30 days before that with a 90-day TTL.
    let late = testNow + 2 * year - 30 * day
    let ca = try clusterCA(now: late)
    let issued = try ca.issueWorkloadCertificate(identity: workload, ttl: .seconds(90 * 86_400))
    #expect(issued.certificate.notValidAfter == TestPKI.ecdsa.cluster1.certificate.notValidAfter)
  }

  @Test("an expired signer issues nothing")
  func expiredSigner() throws {
    let ca = try clusterCA(now: testNow + 3 * year)
    #expect(
      issuanceErrorCode { () throws(IssuanceError) in
        try ca.issueWorkloadCertificate(identity: workload, ttl: .seconds(3600))
      } == .signerNotValid)
  }

  @Test("serial numbers are random: two certificates for the same identity differ")
  func serials() throws {
    let ca = try clusterCA()
    let first = try ca.issueWorkloadCertificate(identity: workload, ttl: .seconds(3600))
    let second = try ca.issueWorkloadCertificate(identity: workload, ttl: .seconds(3600))
    #expect(first.certificate.serialNumber != second.certificate.serialNumber)
    #expect(first.certificate.serialNumber.bytes.count >= 16)
  }

  @Test("a generated workload key belongs to its certificate and is PKCS#8 PEM")
  func generatedKey() throws {
    let ca = try clusterCA()
    let issued = try ca.issueWorkloadCertificate(identity: workload, ttl: .seconds(3600))
    let key = try #require(issued.privateKey)
    #expect(key.publicKey == issued.certificate.publicKey)
    let pem = try #require(issued.privateKeyPEM)
    #expect(pem.hasPrefix("-----BEGIN PRIVATE KEY-----"))
    #expect(try Certificate.PrivateKey(pemEncoded: pem) == key)
    #expect(P256.Signing.PublicKey(issued.certificate.publicKey) != nil)
  }

  @Test("CSRs: garbage, a bad self-signature and unsupported keys are refused with their code")
  func badCSRs() throws {
    let ca = try clusterCA()
    func code(_ pem: String) -> IssuanceError.Code? {
      do {
        _ = try ca.issueWorkloadCertificate(csrPEM: pem, identity: workload, ttl: .seconds(3600))
        return nil
      } catch {
        return error.code
      }
    }
    #expect(code("not a CSR") == .invalidCSR)
    #expect(code(TestPKI.ecdsa.root.pem) == .invalidCSR)
    #expect(code("-----BEGIN CERTIFICATE REQUEST-----\naGVsbG8=\n-----END CERTIFICATE REQUEST-----\n") == .invalidCSR)

    // A CSR whose signature was made by another key than the one it carries.
    let key = Certificate.PrivateKey(P256.Signing.PrivateKey())
    let other = Certificate.PrivateKey(P256.Signing.PrivateKey())
    let signed = try CertificateSigningRequest(
      version: .v1, subject: DistinguishedName(), privateKey: other, attributes: .init())
    let forged = try CertificateSigningRequest(
      version: .v1, subject: DistinguishedName(), publicKey: key.publicKey, attributes: .init(),
      signatureAlgorithm: signed.signatureAlgorithm, signature: signed.signature)
    #expect(code(try forged.serializeAsPEM().pemString) == .csrSignatureInvalid)

    let ed25519 = Certificate.PrivateKey(Curve25519.Signing.PrivateKey())
    let edCSR = try CertificateSigningRequest(
      version: .v1, subject: DistinguishedName(), privateKey: ed25519, attributes: .init())
    #expect(code(try edCSR.serializeAsPEM().pemString) == .unsupportedKey)

    // "NEW CERTIFICATE REQUEST" (older openssl) is accepted.
    let valid = try hostileCSR(key: key)
    #expect(code(valid.replacingOccurrences(of: "CERTIFICATE REQUEST", with: "NEW CERTIFICATE REQUEST")) == nil)
  }

  @Test("an RSA CSR is signed too")
  func rsaCSR() throws {
    let ca = try clusterCA()
    let key = TestPKI.rsa.cluster2.key.certificateKey
    let issued = try ca.issueWorkloadCertificate(
      csrPEM: try hostileCSR(key: key), identity: workload, ttl: .seconds(60))
    #expect(issued.certificate.publicKey == key.publicKey)
  }

  @Test("a serving certificate has exactly the DNS and IP SANs asked for, and its own key")
  func servingCertificate() throws {
    let ca = try clusterCA()
    let dnsNames = ["istiod.istio-system.svc", "istiod.istio-system.svc.cluster.local", "istiod-remote.example.com"]
    let issued = try ca.issueServingCertificate(
      dnsNames: dnsNames + ["istiod.istio-system.svc"], ipAddresses: ["10.0.0.1", "fd00::1"], ttl: .seconds(86_400))
    let names = try #require(try issued.certificate.extensions.subjectAlternativeNames)
    #expect(
      Array(names)
        == dnsNames.map(GeneralName.dnsName) + [
          .ipAddress(ASN1OctetString(contentBytes: [10, 0, 0, 1])),
          .ipAddress(ASN1OctetString(contentBytes: [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1])),
        ])
    let usages = try #require(try issued.certificate.extensions.extendedKeyUsage)
    #expect(Array(usages).map(\.description) == [ExtendedKeyUsage.Usage.serverAuth.description])
    #expect(issued.privateKey?.publicKey == issued.certificate.publicKey)
    #expect(issued.certificate.notValidAfter == testNow + day)
    #expect(issued.chain.dropFirst().elementsEqual(ca.material.certificateChain))

    #expect(
      issuanceErrorCode { () throws(IssuanceError) in
        try ca.issueServingCertificate(dnsNames: ["istiod"], ipAddresses: ["10.0.0.256"], ttl: .seconds(60))
      } == .invalidIPAddress)
    #expect(
      issuanceErrorCode { () throws(IssuanceError) in
        try ca.issueServingCertificate(dnsNames: ["bad name"], ipAddresses: [], ttl: .seconds(60))
      } == .invalidDNSName)
    #expect(
      issuanceErrorCode { () throws(IssuanceError) in
        try ca.issueServingCertificate(dnsNames: [], ipAddresses: [], ttl: .seconds(60))
      } == .noNames)
  }

  @Test("a self-signed CA issues certificates whose chain is the leaf and the root")
  func selfSignedIssues() throws {
    try withTemporaryDirectory { directory in
      let material = try SelfSignedCA.loadOrCreate(
        directory: directory.path, trustDomain: "cluster.local", now: testNow, logger: quietLogger)
      let ca = CertificateAuthority(material: material, logger: quietLogger, now: { testNow })
      let issued = try ca.issueWorkloadCertificate(identity: workload, ttl: .seconds(3600))
      #expect(issued.chain == [issued.certificate] + material.rootCertificates)
      let identity = try PeerCertificateVerifier.verify(
        chain: issued.chain, roots: material.rootCertificates, now: testNow)
      #expect(identity == workload)
    }
  }
}

@Suite("IP addresses for SANs")
struct IPAddressTests {
  @Test(
    "valid addresses give network-order bytes",
    arguments: [
      ("10.0.0.1", [10, 0, 0, 1]),
      ("0.0.0.0", [0, 0, 0, 0]),
      ("255.255.255.255", [255, 255, 255, 255]),
      ("::1", [UInt8](repeating: 0, count: 15) + [1]),
      ("::", [UInt8](repeating: 0, count: 16)),
      ("fd00::", [0xfd] + [UInt8](repeating: 0, count: 15)),
      ("2001:db8:0:0:1:0:0:1", [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1]),
      ("::ffff:10.0.0.1", [UInt8](repeating: 0, count: 10) + [0xff, 0xff, 10, 0, 0, 1]),
    ] as [(String, [UInt8])])
  func valid(text: String, bytes: [UInt8]) {
    #expect(IPAddress(text)?.bytes == bytes)
  }

  @Test(
    "malformed addresses are refused",
    arguments: [
      "", "10.0.0", "10.0.0.1.2", "10.0.0.256", "010.0.0.1", "1.2.3.-4", "a.b.c.d", ":::", "1::2::3", "12345::",
      "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7", "fe80::1%eth0", "[::1]", "10.0.0.0/8", "1:2:3:4:5:6:7::8",
      "istiod.istio-system.svc",
    ])
  func invalid(text: String) {
    #expect(IPAddress(text)?.bytes == nil)
  }
}

@Suite("CSR key checks")
struct CSRKeyCheckTests {
  /// An RSA public key of exactly `bits` bits (a random odd modulus: no private key is needed to carry it in a CSR).
  private func rsaPublicKey(bits: Int) throws -> Certificate.PublicKey {
    var modulus = (0..<(bits / 8)).map { _ in UInt8.random(in: 0...255) }
    modulus[0] |= 0x80
    modulus[modulus.count - 1] |= 0x01
    return Certificate.PublicKey(try _RSA.Signing.PublicKey(n: modulus, e: [0x01, 0x00, 0x01]))
  }

  /// A CSR carrying `publicKey` with a signature made by another key, so its signature never verifies.
  private func csrWithCorruptSignature(_ publicKey: Certificate.PublicKey) throws -> String {
    let signed = try CertificateSigningRequest(
      version: .v1, subject: DistinguishedName(), privateKey: TestPKI.rsa.cluster2.key.certificateKey,
      attributes: .init())
    let forged = try CertificateSigningRequest(
      version: .v1, subject: DistinguishedName(), publicKey: publicKey, attributes: .init(),
      signatureAlgorithm: signed.signatureAlgorithm, signature: signed.signature)
    return try forged.serializeAsPEM().pemString
  }

  private func error(_ csrPEM: String) throws -> IssuanceError? {
    let ca = try clusterCA()
    do {
      _ = try ca.issueWorkloadCertificate(csrPEM: csrPEM, identity: workload, ttl: .seconds(3600))
      return nil
    } catch {
      return error
    }
  }

  @Test("an RSA 8192 CSR is refused for its key size before its (corrupt) signature is checked")
  func rsa8192KeySizeFirst() throws {
    let refused = try #require(try error(csrWithCorruptSignature(rsaPublicKey(bits: 8192))))
    #expect(refused.code == .unsupportedKey)
    #expect(refused.message == "the CSR's key: RSA keys may have at most 4096 bits (this one has 8192)")
  }

  @Test("RSA sizes: 2048 and 4096 bits pass the key check (then the corrupt signature fails), 4104 does not")
  func rsaBounds() throws {
    #expect(try error(csrWithCorruptSignature(rsaPublicKey(bits: 4096)))?.code == .csrSignatureInvalid)
    #expect(try error(csrWithCorruptSignature(rsaPublicKey(bits: 2048)))?.code == .csrSignatureInvalid)
    #expect(try error(csrWithCorruptSignature(rsaPublicKey(bits: 4104)))?.code == .unsupportedKey)
  }

  @Test("an Ed25519 CSR with a corrupt signature is refused for its key type")
  func keyTypeFirst() throws {
    let ed25519 = Certificate.PrivateKey(Curve25519.Signing.PrivateKey())
    let signed = try CertificateSigningRequest(
      version: .v1, subject: DistinguishedName(), privateKey: ed25519, attributes: .init())
    let other = try CertificateSigningRequest(
      version: .v1, subject: DistinguishedName(),
      privateKey: Certificate.PrivateKey(Curve25519.Signing.PrivateKey()), attributes: .init())
    let forged = try CertificateSigningRequest(
      version: .v1, subject: DistinguishedName(), publicKey: signed.publicKey, attributes: .init(),
      signatureAlgorithm: other.signatureAlgorithm, signature: other.signature)
    #expect(try error(forged.serializeAsPEM().pemString)?.code == .unsupportedKey)
  }

  @Test(
    "P-256, P-384 and RSA 2048 CSRs are still signed",
    arguments: [KeyFormat.p256PKCS8, .p384PKCS8, .rsaPKCS1])
  func acceptedKeys(format: KeyFormat) throws {
    let key = TestPKI.shared(format).cluster2.key.certificateKey
    let ca = try clusterCA()
    let issued = try ca.issueWorkloadCertificate(
      csrPEM: try hostileCSR(key: key), identity: workload, ttl: .seconds(60))
    #expect(issued.certificate.publicKey == key.publicKey)
  }
}
