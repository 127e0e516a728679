import EnvoyAPI
import Foundation
import SextantPKI
import SwiftProtobuf

/// What the ADS server needs to answer SDS: the mesh CA and how long workload certificates live.
package struct WorkloadSecrets: Sendable {
  package let meshCA: MeshCA
  /// Lifetime of the `default` certificates Sextant issues (istiod's DEFAULT_WORKLOAD_CERT_TTL, 24h).
  package let ttl: Duration
  /// How often a stream checks whether its `default` certificate is due for renewal.
  package let renewalCheckInterval: Duration

  package init(meshCA: MeshCA, ttl: Duration = .seconds(86_400), renewalCheckInterval: Duration = .seconds(30)) {
    self.meshCA = meshCA
    self.ttl = ttl
    self.renewalCheckInterval = renewalCheckInterval
  }
}

/// Builds SDS `Secret` resources: `default` (the proxy's certificate chain and key) and `ROOTCA` (the mesh roots).
package enum SecretGenerator {
  /// The `default` secret for an issued workload certificate (which must carry its generated key).
  package static func workload(_ issued: IssuedCertificate) throws(XDSError)
    -> Envoy_Extensions_TransportSockets_Tls_V3_Secret
  {
    guard let keyPEM = issued.privateKeyPEM else {
      throw XDSError(
        .generation, "the workload certificate has no private key", context: "secret \(MutualTLS.workloadSecret)")
    }
    var chain = Envoy_Config_Core_V3_DataSource()
    chain.inlineBytes = Data(issued.certificateChainPEM.utf8)
    var key = Envoy_Config_Core_V3_DataSource()
    key.inlineBytes = Data(keyPEM.utf8)
    var certificate = Envoy_Extensions_TransportSockets_Tls_V3_TlsCertificate()
    certificate.certificateChain = chain
    certificate.privateKey = key
    var secret = Envoy_Extensions_TransportSockets_Tls_V3_Secret()
    secret.name = MutualTLS.workloadSecret
    secret.tlsCertificate = certificate
    return secret
  }

  /// The `ROOTCA` secret: a validation context trusting `rootsPEM`.
  package static func root(_ rootsPEM: String) -> Envoy_Extensions_TransportSockets_Tls_V3_Secret {
    var trusted = Envoy_Config_Core_V3_DataSource()
    trusted.inlineBytes = Data(rootsPEM.utf8)
    var validation = Envoy_Extensions_TransportSockets_Tls_V3_CertificateValidationContext()
    validation.trustedCa = trusted
    var secret = Envoy_Extensions_TransportSockets_Tls_V3_Secret()
    secret.name = MutualTLS.rootSecret
    secret.validationContext = validation
    return secret
  }
}

/// A stream's workload certificate: issued on first request of `default`, reissued when the CA changed or two
/// thirds of its lifetime passed.
package struct StreamCertificate {
  package var issued: IssuedCertificate
  package var generation: UInt64
  package var renewAt: Date

  /// Whether it should be replaced at `now` with the CA at `generation`.
  package func isDue(now: Date, generation current: UInt64) -> Bool {
    current != generation || now >= renewAt
  }

  package static func issue(for identity: CallerIdentity, secrets: WorkloadSecrets, now: Date) throws(XDSError)
    -> StreamCertificate
  {
    let generation = secrets.meshCA.generation
    let issued: IssuedCertificate
    do {
      issued = try secrets.meshCA.authority.issueWorkloadCertificate(identity: identity.spiffe, ttl: secrets.ttl)
    } catch {
      throw XDSError(
        .generation, "cannot issue the workload certificate: \(error)", context: "identity \(identity.spiffe.uri)")
    }
    let notBefore = issued.certificate.notValidBefore
    let notAfter = issued.certificate.notValidAfter
    let lifetime = notAfter.timeIntervalSince(max(notBefore, now))
    return StreamCertificate(issued: issued, generation: generation, renewAt: now.addingTimeInterval(lifetime * 2 / 3))
  }
}
