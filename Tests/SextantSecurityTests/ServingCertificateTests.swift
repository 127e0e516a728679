import Foundation
import SextantTestSupport
import SwiftASN1
import Testing
import X509

@testable import SextantPKI
@testable import SextantTrust

@Suite("Serving certificate and its rotation")
struct ServingCertificateTests {
  let pki = TestPKI.ecdsa

  func meshCA(_ cluster: Issuer, wallClock: TestWallClock) throws -> MeshCA {
    MeshCA(authority(cluster, wallClock: wallClock))
  }

  func authority(_ cluster: Issuer, wallClock: TestWallClock) -> CertificateAuthority {
    let material = try! CAMaterial(pem: pki.files(for: cluster), source: "test", now: testNow)
    return CertificateAuthority(material: material, logger: quietLogger, now: { wallClock.now() })
  }

  @Test("istiod's names: the four service names, then ISTIOD_CUSTOM_HOST entries, IPs as IP SANs")
  func istiodNames() throws {
    let names = ServingCertificateNames.istiod(
      namespace: "istio-system", domainSuffix: "cluster.local",
      customHosts: ["istiod.example.com", " 10.0.0.7 ", "", "fd00::1", "istiod"])
    #expect(
      names.dnsNames == [
        "istiod", "istiod.istio-system", "istiod.istio-system.svc", "istiod.istio-system.svc.cluster.local",
        "istiod.example.com",
      ])
    #expect(names.ipAddresses == ["10.0.0.7", "fd00::1"])

    let wallClock = TestWallClock()
    let certificate = try ServingCertificate(
      meshCA: try meshCA(pki.cluster1, wallClock: wallClock), names: names, logger: quietLogger)
    let current = certificate.current
    let sans = try #require(try current.issued.certificate.extensions.subjectAlternativeNames)
    #expect(sans.contains(.dnsName("istiod.istio-system.svc")))
    #expect(sans.contains(.dnsName("istiod.example.com")))
    #expect(sans.contains(.ipAddress(ASN1OctetString(contentBytes: [10, 0, 0, 7]))))
    #expect(current.certificateChain.count == current.issued.chain.count)
    #expect(current.issued.certificate.notValidAfter == testNow + 24 * 3600)
  }

  @Test("renews two thirds into the lifetime, not before")
  func renewsAtTwoThirds() throws {
    let wallClock = TestWallClock()
    let meshCA = try meshCA(pki.cluster1, wallClock: wallClock)
    let certificate = try ServingCertificate(
      meshCA: meshCA, names: .istiod(namespace: "istio-system", domainSuffix: "cluster.local"), logger: quietLogger)
    let rotator = ServingCertificateRotator(
      certificate: certificate, meshCA: meshCA, now: { wallClock.now() }, logger: quietLogger)
    let first = certificate.current
    let notBefore = first.issued.certificate.notValidBefore
    let lifetime = first.notAfter.timeIntervalSince(notBefore)
    #expect(first.renewAt == notBefore + lifetime * 2 / 3)

    #expect(rotator.renewIfDue(now: first.renewAt - 1) == .notDue)
    #expect(certificate.current.serial == first.serial)

    wallClock.set(first.renewAt)
    guard case .renewed(let reason) = rotator.renewIfDue(now: first.renewAt) else {
      Issue.record("expected a renewal")
      return
    }
    #expect(reason.contains("two thirds"))
    let second = certificate.current
    #expect(second.serial != first.serial)
    #expect(second.notAfter == first.renewAt + 24 * 3600)
    #expect(rotator.renewIfDue(now: first.renewAt) == .notDue)
  }

  @Test("renews at once when the mesh CA is replaced, through run and MeshCA.changes()")
  func renewsOnCAChange() async throws {
    let wallClock = TestWallClock()
    let meshCA = try meshCA(pki.cluster1, wallClock: wallClock)
    let certificate = try ServingCertificate(
      meshCA: meshCA, names: .istiod(namespace: "istio-system", domainSuffix: "cluster.local"), logger: quietLogger)
    let clock = ManualClock()
    let rotator = ServingCertificateRotator(
      certificate: certificate, meshCA: meshCA, clock: clock, now: { wallClock.now() }, logger: quietLogger)
    let task = Task { try await rotator.run() }
    defer { task.cancel() }
    #expect(await eventually { clock.sleeping == 1 })
    let first = certificate.current

    meshCA.replace(authority(pki.cluster2, wallClock: wallClock))
    #expect(await eventually { certificate.current.caGeneration == 1 })
    let second = certificate.current
    #expect(second.serial != first.serial)
    #expect(second.issued.certificate.issuer == pki.cluster2.certificate.subject)

    // Time passes on the injected clocks: the sleeping loop wakes and renews at two thirds.
    wallClock.set(second.renewAt + 1)
    clock.advance(by: .seconds(16 * 3600 + 1))
    #expect(await eventually { certificate.current.serial != second.serial })
    #expect(certificate.current.caGeneration == 1)
  }

  @Test("a failed renewal keeps the current certificate and reports the error")
  func failedRenewalKeepsCurrent() throws {
    let wallClock = TestWallClock()
    let meshCA = try meshCA(pki.cluster1, wallClock: wallClock)
    let certificate = try ServingCertificate(
      meshCA: meshCA, names: .istiod(namespace: "istio-system", domainSuffix: "cluster.local"), logger: quietLogger)
    let logs = LogRecorder()
    let rotator = ServingCertificateRotator(
      certificate: certificate, meshCA: meshCA, now: { wallClock.now() }, logger: logs.logger)
    let first = certificate.current
    // The signer (valid for two years) has expired by then.
    wallClock.set(testNow + 3 * year)
    guard case .failed(let error) = rotator.renewIfDue(now: wallClock.now()) else {
      Issue.record("expected a failure")
      return
    }
    #expect(error.code == .issuanceFailed)
    #expect(error.issuanceError?.code == .signerNotValid)
    #expect(certificate.current.serial == first.serial)
    #expect(logs.entries.contains { $0.level == .error && $0.metadata["error"] == error.description })
  }

  @Test("an invalid custom host fails the first issuance with the CA's reason")
  func invalidName() {
    let wallClock = TestWallClock()
    #expect {
      _ = try ServingCertificate(
        meshCA: try meshCA(pki.cluster1, wallClock: wallClock),
        names: .istiod(namespace: "istio-system", domainSuffix: "cluster.local", customHosts: ["bad host"]),
        logger: quietLogger)
    } throws: { error in
      guard let error = error as? ServingCertificateError else { return false }
      return error.code == .issuanceFailed && error.issuanceError?.code == .invalidDNSName
        && error.description.contains("bad host")
    }
  }
}
