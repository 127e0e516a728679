import EnvoyAPI
import Foundation
import GRPCCore
import Logging
import SextantGeneration
import SextantPKI

/// One ADS stream's SDS: the secrets it may have, the workload certificate it was issued and the root it was sent.
///
/// Shared by the state-of-the-world and the delta session, so both follow one rule: `ROOTCA` (the mesh roots) to
/// anyone, `default` (a certificate Sextant issues, with a key it generates) only to an authenticated caller for its
/// own identity; a certificate is reissued when the mesh CA changed or two thirds of its lifetime passed, after the
/// stream's credential was checked again. Secrets are per stream and never cached.
struct StreamSecrets {
  /// The mesh CA; nil: the server answers no SDS.
  let secrets: WorkloadSecrets?
  /// The authenticated caller; nil on an unauthenticated (plaintext) stream.
  let identity: CallerIdentity?
  /// Checks the stream's credential again (before a certificate is reissued).
  let reauthenticate: (@Sendable () async throws -> CallerIdentity)?
  /// The `default` certificate last issued, if any.
  private(set) var certificate: StreamCertificate?
  /// The CA generation the last `ROOTCA` was built from.
  private(set) var sentRootGeneration: UInt64?
  private var warnedUnauthenticated = false

  init(
    secrets: WorkloadSecrets?, identity: CallerIdentity?,
    reauthenticate: (@Sendable () async throws -> CallerIdentity)?
  ) {
    self.secrets = secrets
    self.identity = identity
    self.reauthenticate = reauthenticate
  }

  /// The requested secrets this stream may have: `ROOTCA` always, `default` for an authenticated caller only.
  /// Unknown names and `default` on an unauthenticated stream are left out.
  mutating func resources(names: [String], logger: Logger) throws(XDSError) -> [SerializedResource] {
    guard let secrets else { return [] }
    var result: [SerializedResource] = []
    for name in names {
      switch name {
      case MutualTLS.rootSecret:
        let generation = secrets.meshCA.generation
        let roots = secrets.meshCA.authority.material.rootCertificatesPEM
        result.append(SerializedResource(name: name, resource: try EnvoyBuild.any(SecretGenerator.root(roots))))
        sentRootGeneration = generation
      case MutualTLS.workloadSecret:
        guard let identity else {
          if !warnedUnauthenticated {
            warnedUnauthenticated = true
            logger.warning(
              "SDS 'default' needs an authenticated stream (the secure gRPC port with a client certificate or token); not sent"
            )
          }
          continue
        }
        let now = Date()
        let current: StreamCertificate
        if let certificate, !certificate.isDue(now: now, generation: secrets.meshCA.generation) {
          current = certificate
        } else {
          current = try StreamCertificate.issue(for: identity, secrets: secrets, now: now)
          certificate = current
          logger.info(
            "issued workload certificate over SDS",
            metadata: [
              "identity": "\(identity.spiffe.uri)",
              "notAfter": "\(current.issued.certificate.notValidAfter)",
            ])
        }
        result.append(
          SerializedResource(name: name, resource: try EnvoyBuild.any(SecretGenerator.workload(current.issued))))
      default:
        logger.debug("ignoring a request for an unknown secret", metadata: ["secret": "\(name)"])
      }
    }
    return result
  }

  /// Ends the stream (UNAUTHENTICATED) when a certificate is about to be reissued and the credential the stream
  /// opened with no longer proves the same identity.
  func recheckCredentialBeforeReissue(names: [String], logger: Logger) async throws {
    guard let secrets, let identity, let certificate, let reauthenticate, names.contains(MutualTLS.workloadSecret),
      certificate.isDue(now: Date(), generation: secrets.meshCA.generation)
    else { return }
    let current: CallerIdentity
    do {
      current = try await reauthenticate()
    } catch {
      XDSMetrics.authenticationFailed()
      logger.warning("the stream's credential no longer authenticates; ending it", metadata: ["error": "\(error)"])
      throw (error as? RPCError) ?? RPCError(code: .unauthenticated, message: "\(error)")
    }
    guard current.spiffe == identity.spiffe else {
      throw RPCError(
        code: .unauthenticated,
        message: "the stream's credential now proves \(current.spiffe.uri), not \(identity.spiffe.uri); reconnect")
    }
  }

  /// Whether secrets among `names` are out of date: the root's CA generation changed, or the workload certificate is
  /// due (or was never issued) on an authenticated stream.
  func needsRefresh(names: Set<String>) -> Bool {
    guard let secrets else { return false }
    let generation = secrets.meshCA.generation
    let rootStale = names.contains(MutualTLS.rootSecret) && sentRootGeneration != generation
    let certificateDue =
      names.contains(MutualTLS.workloadSecret) && identity != nil
      && (certificate?.isDue(now: Date(), generation: generation) ?? true)
    return rootStale || certificateDue
  }
}
