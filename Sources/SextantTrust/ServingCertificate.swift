import Foundation
import Logging
import NIOSSL
import SextantBase
import SextantPKI
import Synchronization

/// The DNS names and IP addresses the control plane's serving certificate (secure gRPC port 15012) carries.
package struct ServingCertificateNames: Sendable, Hashable, CustomStringConvertible {
  /// DNS SANs, in order, without duplicates.
  package var dnsNames: [String]
  /// IP SANs (IPv4 or IPv6 text), in order, without duplicates.
  package var ipAddresses: [String]

  /// The names as given; duplicates are dropped, the first occurrence's position kept.
  package init(dnsNames: [String], ipAddresses: [String] = []) {
    self.dnsNames = Self.unique(dnsNames)
    self.ipAddresses = Self.unique(ipAddresses)
  }

  /// istiod's names: `SERVICE`, `SERVICE.NS`, `SERVICE.NS.svc`, `SERVICE.NS.svc.SUFFIX`, then `customHosts`.
  ///
  /// `customHosts` is ISTIOD_CUSTOM_HOST already split at commas; entries are trimmed, empty ones dropped, and those
  /// that are IPv4 or IPv6 addresses become IP SANs (the rest DNS SANs, checked when the certificate is issued).
  package static func istiod(
    namespace: String, domainSuffix: String, customHosts: [String] = [], serviceName: String = "istiod"
  ) -> ServingCertificateNames {
    var dnsNames = [
      serviceName, "\(serviceName).\(namespace)", "\(serviceName).\(namespace).svc",
      "\(serviceName).\(namespace).svc.\(domainSuffix)",
    ]
    var ipAddresses: [String] = []
    for host in customHosts {
      let host = host.trimmingCharacters(in: .whitespaces)
      guard !host.isEmpty else { continue }
      if IPAddress(host) != nil {
        ipAddresses.append(host)
      } else {
        dnsNames.append(host)
      }
    }
    return ServingCertificateNames(dnsNames: dnsNames, ipAddresses: ipAddresses)
  }

  /// Every name, DNS names first, comma-separated.
  package var description: String { (dnsNames + ipAddresses).joined(separator: ", ") }

  private static func unique(_ names: [String]) -> [String] {
    var seen: Set<String> = []
    return names.filter { seen.insert($0).inserted }
  }
}

/// The control plane's current TLS serving certificate: issued by the mesh CA, replaced by `renew()`.
///
/// Created with a first certificate (the initializer issues it, so a server can start with it); TLS listeners read
/// `current` per handshake, so a renewal applies to new connections without a restart (open connections keep the
/// certificate they negotiated). `ServingCertificateRotator` decides when to renew. Thread-safe; renewals are
/// serialized, readers never wait for one.
package final class ServingCertificate: Sendable {
  /// How long a serving certificate is valid unless told otherwise (24 hours).
  package static let defaultTTL: Duration = .seconds(24 * 3600)

  /// One issued serving certificate, with everything a TLS server needs, converted once at issuance.
  package struct Snapshot: Sendable {
    /// The certificate as the CA issued it (leaf, chain, roots, key).
    package let issued: IssuedCertificate
    /// The leaf followed by cert-chain.pem's certificates, for `TLSConfiguration.certificateChain`.
    package let certificateChain: [NIOSSLCertificate]
    /// The leaf's private key.
    package let privateKey: NIOSSLPrivateKey
    /// `MeshCA.generation` of the CA that issued it.
    package let caGeneration: UInt64
    /// When it should be renewed: two thirds into its validity period (notBefore to notAfter).
    package let renewAt: Date

    /// The leaf's notAfter.
    package var notAfter: Date { issued.certificate.notValidAfter }
    /// The leaf's serial number, as hex text.
    package var serial: String { "\(issued.certificate.serialNumber)" }
    /// The chain as NIOSSL certificate sources, for `NIOSSLContextConfigurationOverride`.
    package var certificateSources: [NIOSSLCertificateSource] { certificateChain.map { .certificate($0) } }
  }

  /// The names every certificate carries.
  package let names: ServingCertificateNames
  /// The lifetime asked of the CA for every certificate (the CA shortens it when its own chain expires sooner).
  package let ttl: Duration

  private let meshCA: MeshCA
  private let logger: Logger
  private let snapshot: Mutex<Snapshot>
  private let renewal = Mutex(())

  /// Issues the first certificate for `names` with the current mesh CA.
  ///
  /// - Throws: `ServingCertificateError` when the CA refuses (an invalid name, an expired signer) or the result
  ///   cannot be converted for NIOSSL; there is then nothing to serve with.
  package init(
    meshCA: MeshCA, names: ServingCertificateNames, ttl: Duration = ServingCertificate.defaultTTL, logger: Logger
  ) throws(ServingCertificateError) {
    self.meshCA = meshCA
    self.names = names
    self.ttl = ttl
    self.logger = logger
    let first = try Self.issue(meshCA: meshCA, names: names, ttl: ttl)
    snapshot = Mutex(first)
    logger.info(
      "issued the serving certificate",
      metadata: [
        "names": "\(names)", "serial": "\(first.serial)",
        "notAfter": "\(CertificateChecks.timestamp(first.notAfter))", "caGeneration": "\(first.caGeneration)",
      ])
  }

  /// The certificate to present now.
  package var current: Snapshot { snapshot.withLock { $0 } }

  /// Issues a new certificate with the current mesh CA and makes it `current`; on failure `current` stays.
  ///
  /// `reason` is logged with the new certificate.
  @discardableResult
  package func renew(reason: String) throws(ServingCertificateError) -> Snapshot {
    try renewal.withLock { _ throws(ServingCertificateError) -> Snapshot in
      let next = try Self.issue(meshCA: meshCA, names: names, ttl: ttl)
      snapshot.withLock { $0 = next }
      logger.info(
        "renewed the serving certificate",
        metadata: [
          "reason": "\(reason)", "serial": "\(next.serial)",
          "notAfter": "\(CertificateChecks.timestamp(next.notAfter))", "caGeneration": "\(next.caGeneration)",
        ])
      return next
    }
  }

  private static func issue(
    meshCA: MeshCA, names: ServingCertificateNames, ttl: Duration
  ) throws(ServingCertificateError) -> Snapshot {
    // Read the generation first: if the CA is replaced meanwhile, the snapshot looks outdated and is renewed again.
    let generation = meshCA.generation
    let issued: IssuedCertificate
    do {
      issued = try meshCA.authority.issueServingCertificate(
        dnsNames: names.dnsNames, ipAddresses: names.ipAddresses, ttl: ttl)
    } catch {
      throw ServingCertificateError(
        .issuanceFailed, names: names.description, error.description, issuanceError: error)
    }
    let chain: [NIOSSLCertificate]
    let key: NIOSSLPrivateKey
    do {
      chain = try issued.chainPEM.map { try NIOSSLCertificate(bytes: Array($0.utf8), format: .pem) }
      key = try NIOSSLPrivateKey(bytes: Array((issued.privateKeyPEM ?? "").utf8), format: .pem)
    } catch {
      throw ServingCertificateError(
        .notConvertible, names: names.description, "cannot load the issued certificate into NIOSSL: \(error)")
    }
    let notBefore = issued.certificate.notValidBefore
    let lifetime = issued.certificate.notValidAfter.timeIntervalSince(notBefore)
    return Snapshot(
      issued: issued, certificateChain: chain, privateKey: key, caGeneration: generation,
      renewAt: notBefore.addingTimeInterval(lifetime * 2 / 3))
  }
}
