import Crypto
import Foundation
import SwiftASN1
import Testing
import X509

@testable import SextantPKI
@testable import SextantTrust

/// The error `body` throws, or nil.
func peerError(_ body: () throws(PeerVerificationError) -> SpiffeID) -> PeerVerificationError? {
  do {
    _ = try body()
    return nil
  } catch {
    return error
  }
}

@Suite("Peer certificate verification")
struct PeerCertificateVerifierTests {
  @Test(
    "an issued leaf verifies against the root and yields its identity", arguments: [KeyFormat.p256PKCS8, .rsaPKCS1])
  func issuedLeafVerifies(format: KeyFormat) throws {
    let ca = try clusterCA(format)
    let pki = TestPKI.shared(format)
    let issued = try ca.issueWorkloadCertificate(identity: workload, ttl: .seconds(86_400))
    let roots = [pki.root.certificate]

    #expect(try PeerCertificateVerifier.verify(chain: issued.chain, roots: roots, now: testNow) == workload)
    // Without the root at the end, and with the intermediates in another order, too.
    #expect(
      try PeerCertificateVerifier.verify(chain: Array(issued.chain.prefix(2)), roots: roots, now: testNow) == workload)
    #expect(
      try PeerCertificateVerifier.verify(
        chain: [issued.chain[0], issued.chain[2], issued.chain[1]], roots: roots, now: testNow) == workload)
    // As PEM (what istio-agent receives) and as DER (what a TLS stack hands over).
    #expect(
      try PeerCertificateVerifier.verify(
        chainPEM: issued.certificateChainPEM, rootsPEM: ca.material.rootCertificatesPEM, now: testNow) == workload)
    let der = try issued.chain.map { certificate -> [UInt8] in
      var serializer = DER.Serializer()
      try serializer.serialize(certificate)
      return serializer.serializedBytes
    }
    #expect(try PeerCertificateVerifier.verify(chainDER: der, roots: roots, now: testNow) == workload)
  }

  @Test("a leaf of another cluster with the same root verifies (the multi-cluster case)")
  func otherCluster() throws {
    let pki = TestPKI.ecdsa
    let material = try CAMaterial(pem: pki.files(for: pki.cluster2), source: "cluster2", now: testNow)
    let ca = CertificateAuthority(material: material, logger: quietLogger, now: { testNow })
    let identity = try SpiffeID(parsing: "spiffe://cluster.local/ns/sample/sa/helloworld")
    let issued = try ca.issueWorkloadCertificate(identity: identity, ttl: .seconds(3600))
    let cluster1 = try CAMaterial(pem: pki.files(for: pki.cluster1), source: "cluster1", now: testNow)
    #expect(
      try PeerCertificateVerifier.verify(chain: issued.chain, roots: cluster1.rootCertificates, now: testNow)
        == identity)
  }

  @Test("a leaf from an unrelated root is refused with unknown authority")
  func unrelatedRoot() throws {
    let pki = TestPKI.ecdsa
    // Another root with the same name, and an intermediate under it.
    let foreignCA = CertificateFactory.issue("Intermediate CA cluster1", key: .make(.p256PKCS8), by: pki.otherRoot)
    let material = try CAMaterial(
      pem: .init(
        caCert: foreignCA.pem, caKey: foreignCA.key.pem(.p256PKCS8), certChain: foreignCA.pem + pki.otherRoot.pem,
        rootCert: pki.otherRoot.pem),
      source: "foreign", now: testNow)
    let foreign = CertificateAuthority(material: material, logger: quietLogger, now: { testNow })
    let issued = try foreign.issueWorkloadCertificate(identity: workload, ttl: .seconds(3600))

    let error = try #require(
      peerError { () throws(PeerVerificationError) in
        try PeerCertificateVerifier.verify(chain: issued.chain, roots: [pki.root.certificate], now: testNow)
      })
    #expect(error.code == .unknownAuthority)
    #expect("\(error)".contains("unknown authority"))

    // A self-signed root's leaf, unrelated by name too.
    let selfSigned = try withTemporaryDirectory { directory in
      try SelfSignedCA.loadOrCreate(
        directory: directory.path, trustDomain: "cluster.local", now: testNow, logger: quietLogger)
    }
    let other = CertificateAuthority(material: selfSigned, logger: quietLogger, now: { testNow })
    let otherLeaf = try other.issueWorkloadCertificate(identity: workload, ttl: .seconds(3600))
    let second = try #require(
      peerError { () throws(PeerVerificationError) in
        try PeerCertificateVerifier.verify(chain: otherLeaf.chain, roots: [pki.root.certificate], now: testNow)
      })
    #expect(second.code == .unknownAuthority)
    #expect(second.certificate == "chain[1]")
  }

  @Test("a missing intermediate is an unknown authority")
  func missingIntermediate() throws {
    let ca = try clusterCA()
    let issued = try ca.issueWorkloadCertificate(identity: workload, ttl: .seconds(3600))
    let error = try #require(
      peerError { () throws(PeerVerificationError) in
        try PeerCertificateVerifier.verify(chain: [issued.certificate], roots: issued.roots, now: testNow)
      })
    #expect(error.code == .unknownAuthority)
    #expect(error.certificate == "chain[0]")
  }

  @Test("an expired or not yet valid leaf is refused")
  func validity() throws {
    let ca = try clusterCA()
    let issued = try ca.issueWorkloadCertificate(identity: workload, ttl: .seconds(3600))
    let expired = try #require(
      peerError { () throws(PeerVerificationError) in
        try PeerCertificateVerifier.verify(chain: issued.chain, roots: issued.roots, now: testNow + 2 * 3600)
      })
    #expect(expired.code == .expired)
    #expect(expired.certificate == "chain[0]")
    #expect("\(expired)".contains("expired"))

    let early = try #require(
      peerError { () throws(PeerVerificationError) in
        try PeerCertificateVerifier.verify(chain: issued.chain, roots: issued.roots, now: testNow - 3600)
      })
    #expect(early.code == .notYetValid)
  }

  @Test("an expired intermediate is refused, naming it")
  func expiredIntermediate() throws {
    let pki = TestPKI.ecdsa
    let shortLived = CertificateFactory.issue(
      "Short CA", key: pki.cluster1.key, by: pki.root, notAfter: testNow + day)
    let leaf = CertificateFactory.issue(
      "", key: .make(.p256PKCS8), by: shortLived, notAfter: testNow + 10 * day,
      basicConstraints: .notCertificateAuthority, keyUsage: KeyUsage(digitalSignature: true),
      subjectAlternativeNames: [.uniformResourceIdentifier(workload.uri)])
    #expect(
      try PeerCertificateVerifier.verify(
        chain: [leaf.certificate, shortLived.certificate], roots: [pki.root.certificate], now: testNow) == workload)
    let error = try #require(
      peerError { () throws(PeerVerificationError) in
        try PeerCertificateVerifier.verify(
          chain: [leaf.certificate, shortLived.certificate], roots: [pki.root.certificate], now: testNow + 2 * day)
      })
    #expect(error.code == .expired)
    #expect(error.certificate == "chain[1]")
  }

  @Test("a certificate without a SPIFFE URI SAN is refused")
  func noSpiffeID() throws {
    let ca = try clusterCA()
    let serving = try ca.issueServingCertificate(
      dnsNames: ["istiod.istio-system.svc"], ipAddresses: [], ttl: .seconds(60))
    let error = try #require(
      peerError { () throws(PeerVerificationError) in
        try PeerCertificateVerifier.verify(chain: serving.chain, roots: serving.roots, now: testNow)
      })
    #expect(error.code == .noSpiffeID)
    #expect("\(error)".contains("no SPIFFE URI SAN"))
  }

  @Test("two SPIFFE URIs, a CA as the peer, an issuer that is not a CA, and pathLen are refused")
  func structuralChecks() throws {
    let pki = TestPKI.ecdsa
    let issuer = pki.cluster1
    let twoIDs = CertificateFactory.issue(
      "", key: .make(.p256PKCS8), by: issuer, basicConstraints: .notCertificateAuthority, keyUsage: nil,
      subjectAlternativeNames: [
        .uniformResourceIdentifier(workload.uri),
        .uniformResourceIdentifier("spiffe://cluster.local/ns/default/sa/other"),
      ])
    let chain = [twoIDs.certificate, issuer.certificate]
    #expect(
      peerError { () throws(PeerVerificationError) in
        try PeerCertificateVerifier.verify(chain: chain, roots: [pki.root.certificate], now: testNow)
      }?.code == .invalidSpiffeID)

    #expect(
      peerError { () throws(PeerVerificationError) in
        try PeerCertificateVerifier.verify(chain: [issuer.certificate], roots: [pki.root.certificate], now: testNow)
      }?.code == .leafIsCA)

    // A leaf signed by another leaf.
    let fakeCA = CertificateFactory.issue(
      "Fake CA", key: .make(.p256PKCS8), by: issuer, basicConstraints: .notCertificateAuthority)
    let underFake = CertificateFactory.issue(
      "", key: .make(.p256PKCS8), by: fakeCA, basicConstraints: nil, keyUsage: nil,
      subjectAlternativeNames: [.uniformResourceIdentifier(workload.uri)])
    let notCA = peerError { () throws(PeerVerificationError) in
      try PeerCertificateVerifier.verify(
        chain: [underFake.certificate, fakeCA.certificate, issuer.certificate], roots: [pki.root.certificate],
        now: testNow)
    }
    #expect(notCA?.code == .notACA)
    #expect(notCA?.certificate == "chain[1]")

    // pathLen 0 on cluster1's issuer position: root → limited (pathLen 0) → sub CA → leaf.
    let limited = CertificateFactory.issue(
      "Limited CA", key: .make(.p256PKCS8), by: pki.root, basicConstraints: .isCertificateAuthority(maxPathLength: 0))
    let sub = CertificateFactory.issue("Sub CA", key: .make(.p256PKCS8), by: limited)
    let leaf = CertificateFactory.issue(
      "", key: .make(.p256PKCS8), by: sub, basicConstraints: nil, keyUsage: nil,
      subjectAlternativeNames: [.uniformResourceIdentifier(workload.uri)])
    let tooLong = peerError { () throws(PeerVerificationError) in
      try PeerCertificateVerifier.verify(
        chain: [leaf.certificate, sub.certificate, limited.certificate], roots: [pki.root.certificate], now: testNow)
    }
    #expect(tooLong?.code == .notACA)
    #expect(tooLong?.certificate == "chain[2]")
  }

  @Test("empty chains, no roots and garbage input are refused")
  func badInput() {
    #expect(
      peerError { () throws(PeerVerificationError) in
        try PeerCertificateVerifier.verify(chain: [], roots: [TestPKI.ecdsa.root.certificate], now: testNow)
      }?.code == .emptyChain)
    #expect(
      peerError { () throws(PeerVerificationError) in
        try PeerCertificateVerifier.verify(chain: [TestPKI.ecdsa.cluster1.certificate], roots: [], now: testNow)
      }?.code == .noRoots)
    #expect(
      peerError { () throws(PeerVerificationError) in
        try PeerCertificateVerifier.verify(chainPEM: "garbage", rootsPEM: TestPKI.ecdsa.root.pem, now: testNow)
      }?.code == .invalidCertificate)
    #expect(
      peerError { () throws(PeerVerificationError) in
        try PeerCertificateVerifier.verify(chainDER: [[0x30, 0x03, 0x02, 0x01, 0x01]], roots: [], now: testNow)
      }?.code == .invalidCertificate)
  }
}

/// `certificate` as DER, as a TLS stack hands it over.
func derBytes(_ certificate: Certificate) throws -> [UInt8] {
  var serializer = DER.Serializer()
  try serializer.serialize(certificate)
  return serializer.serializedBytes
}

@Suite("Peer certificate verification: chain limits")
struct PeerChainLimitTests {
  /// A workload leaf issued by `issuer`, with `extraNames` as further SANs.
  private func leaf(by issuer: Issuer, extraNames: [GeneralName] = []) -> Issuer {
    CertificateFactory.issue(
      "", key: .make(.p256PKCS8), by: issuer, basicConstraints: .notCertificateAuthority,
      keyUsage: KeyUsage(digitalSignature: true),
      subjectAlternativeNames: [.uniformResourceIdentifier(workload.uri)] + extraNames)
  }

  @Test("a chain of 50 certificates is refused as too long, before any signature is checked")
  func fiftyCertificates() throws {
    let pki = TestPKI.ecdsa
    let peer = leaf(by: pki.cluster1)
    // 48 decoys named like the peer's issuer, each with another key, then the real issuer: building the path by
    // trying every same-named certificate's signature at every step costs O(n^2) verifications.
    let decoys = (0..<48).map { _ in
      CertificateFactory.issue("Intermediate CA cluster1", key: .make(.p256PKCS8), by: pki.root).certificate
    }
    let chain = [peer.certificate] + decoys + [pki.cluster1.certificate]
    #expect(chain.count == 50)

    let error = try #require(
      peerError { () throws(PeerVerificationError) in
        try PeerCertificateVerifier.verify(chain: chain, roots: [pki.root.certificate], now: testNow)
      })
    #expect(error.code == .chainTooLong)
    #expect(error.message.contains("50 certificates"))
    #expect(error.message.contains("at most \(PeerCertificateVerifier.maximumChainCertificates)"))
    #expect("\(error)".hasPrefix("peer certificate chain: chain too long: "))

    let der = try chain.map(derBytes)
    let fromDER = peerError { () throws(PeerVerificationError) in
      try PeerCertificateVerifier.verify(chainDER: der, roots: [pki.root.certificate], now: testNow)
    }
    #expect(fromDER?.code == .chainTooLong)
  }

  @Test("a chain over 64 KiB is refused as too long, even with two certificates")
  func oversizedChain() throws {
    let pki = TestPKI.ecdsa
    let names = (0..<4000).map { GeneralName.dnsName("host-\($0).padding.example.com") }
    let peer = leaf(by: pki.cluster1, extraNames: names)
    let der = [try derBytes(peer.certificate), try derBytes(pki.cluster1.certificate)]
    #expect(der.map(\.count).reduce(0, +) > PeerCertificateVerifier.maximumChainBytes)
    let error = try #require(
      peerError { () throws(PeerVerificationError) in
        try PeerCertificateVerifier.verify(chainDER: der, roots: [pki.root.certificate], now: testNow)
      })
    #expect(error.code == .chainTooLong)
    #expect(error.message.contains("at most \(PeerCertificateVerifier.maximumChainBytes) bytes"))
  }

  @Test("chains within the limits still verify: leaf, intermediate and root; the longest allowed")
  func withinLimits() throws {
    let pki = TestPKI.ecdsa
    let peer = leaf(by: pki.cluster1)
    let three = [peer.certificate, pki.cluster1.certificate, pki.root.certificate]
    #expect(try PeerCertificateVerifier.verify(chain: three, roots: [pki.root.certificate], now: testNow) == workload)
    #expect(
      try PeerCertificateVerifier.verify(
        chainDER: try three.map(derBytes), roots: [pki.root.certificate], now: testNow) == workload)

    // root → 6 intermediates → leaf, plus the root: 8 certificates, the limit.
    var issuer = pki.root
    var intermediates: [Certificate] = []
    for level in 0..<6 {
      issuer = CertificateFactory.issue("Level \(level) CA", key: .make(.p256PKCS8), by: issuer)
      intermediates.append(issuer.certificate)
    }
    let deep = leaf(by: issuer)
    let longest = [deep.certificate] + intermediates.reversed() + [pki.root.certificate]
    #expect(longest.count == PeerCertificateVerifier.maximumChainCertificates)
    #expect(try PeerCertificateVerifier.verify(chain: longest, roots: [pki.root.certificate], now: testNow) == workload)
    // In any order, with the root left out.
    let shuffled = [deep.certificate] + intermediates.shuffled()
    #expect(
      try PeerCertificateVerifier.verify(chain: shuffled, roots: [pki.root.certificate], now: testNow) == workload)
  }

  @Test("decoys with the issuer's name but another key do not hide the real issuer")
  func sameNamedDecoys() throws {
    let pki = TestPKI.ecdsa
    let peer = leaf(by: pki.cluster1)
    let decoys = (0..<3).map { _ in
      CertificateFactory.issue("Intermediate CA cluster1", key: .make(.p256PKCS8), by: pki.root).certificate
    }
    let chain = [peer.certificate] + decoys + [pki.cluster1.certificate]
    #expect(try PeerCertificateVerifier.verify(chain: chain, roots: [pki.root.certificate], now: testNow) == workload)
    // Without the real issuer, the decoys' name is reported.
    let error = peerError { () throws(PeerVerificationError) in
      try PeerCertificateVerifier.verify(
        chain: [peer.certificate] + decoys, roots: [pki.root.certificate], now: testNow)
    }
    #expect(error?.code == .unknownAuthority)
    #expect(error?.message.contains("verifies its signature") == true)
  }
}
