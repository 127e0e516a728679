import GRPCCore
import IstioAPI
import Logging
import Metrics
import SextantPKI

/// Istio's certificate service (`istio.v1.auth.IstioCertificateService/CreateCertificate`), as istio-agent calls it.
///
/// Each call is authenticated with `Authenticator` (client certificate, else bearer token) and the CSR is signed for
/// the caller's identity only: the identity the CSR asks for is ignored, as istiod does. The TTL is the request's
/// `validity_duration` in seconds: 0 means `defaultTTL`, negative or above `maximumTTL` is INVALID_ARGUMENT. The
/// response's `cert_chain` is the leaf, cert-chain.pem's certificates, then the roots (istio-agent takes the last
/// element as the root). Status codes: UNAUTHENTICATED / UNAVAILABLE from authentication, INVALID_ARGUMENT for a bad
/// TTL or a CSR the CA refuses (with the `IssuanceError` text), INTERNAL when the CA itself cannot sign (its signer
/// expired; logged at error level).
///
/// Metrics (istiod's names): `citadel_server_csr_count` per call, `citadel_server_authentication_failure_count`,
/// `citadel_server_csr_parsing_err_count` (malformed CSR, bad proof of possession, unsupported key),
/// `citadel_server_csr_sign_err_count` (other issuance failures), `citadel_server_success_cert_issuance_count`.
package struct IstioCertificateServer: Istio_V1_Auth_IstioCertificateService.ServiceProtocol {
  /// The TTL of a workload certificate when the request asks for none (Istio's default, 24 hours).
  package static let defaultTTL: Duration = .seconds(24 * 3600)

  /// The TTL used when a request's `validity_duration` is 0.
  package let defaultTTL: Duration
  /// The longest TTL a request may ask for.
  package let maximumTTL: Duration

  private let meshCA: MeshCA
  private let authenticator: Authenticator
  private let logger: Logger

  /// A certificate service issuing with `meshCA` for callers `authenticator` identifies.
  ///
  /// - Parameters:
  ///   - logger: Receives issued certificates (info), refused requests (warning) and CA failures (error).
  package init(
    meshCA: MeshCA, authenticator: Authenticator, defaultTTL: Duration = IstioCertificateServer.defaultTTL,
    maximumTTL: Duration = CertificateAuthority.maximumWorkloadTTL, logger: Logger
  ) {
    self.meshCA = meshCA
    self.authenticator = authenticator
    self.defaultTTL = defaultTTL
    self.maximumTTL = maximumTTL
    self.logger = logger
  }

  package func createCertificate(
    request: ServerRequest<Istio_V1_Auth_IstioCertificateRequest>, context: ServerContext
  ) async throws -> ServerResponse<Istio_V1_Auth_IstioCertificateResponse> {
    let response = try await createCertificate(
      request.message, metadata: request.metadata, remotePeer: context.remotePeer)
    return ServerResponse(message: response)
  }

  /// Authenticates the caller on `remotePeer` sending `metadata` and signs `request.csr` for its identity.
  package func createCertificate(
    _ request: Istio_V1_Auth_IstioCertificateRequest, metadata: Metadata, remotePeer: String
  ) async throws(RPCError) -> Istio_V1_Auth_IstioCertificateResponse {
    Counter(label: "citadel_server_csr_count").increment()
    let caller: CallerIdentity
    do {
      caller = try await authenticator.authenticate(remotePeer: remotePeer, metadata: metadata)
    } catch {
      Counter(label: "citadel_server_authentication_failure_count").increment()
      logger.warning(
        "refused a certificate request: the caller is not authenticated",
        metadata: ["peer": "\(remotePeer)", "reason": "\(error.message)", "code": "\(error.code.rawValue)"])
      throw error.rpcError
    }
    let ttl: Duration
    do {
      ttl = try Self.ttl(validitySeconds: request.validityDuration, defaultTTL: defaultTTL, maximumTTL: maximumTTL)
    } catch {
      logger.warning(
        "refused a certificate request: bad TTL",
        metadata: ["peer": "\(remotePeer)", "identity": "\(caller.spiffe.uri)", "reason": "\(error.message)"])
      throw error
    }
    let issued: IssuedCertificate
    do {
      issued = try meshCA.authority.issueWorkloadCertificate(csrPEM: request.csr, identity: caller.spiffe, ttl: ttl)
    } catch {
      switch error.code {
      case .invalidCSR, .csrSignatureInvalid, .unsupportedKey:
        Counter(label: "citadel_server_csr_parsing_err_count").increment()
      default:
        Counter(label: "citadel_server_csr_sign_err_count").increment()
      }
      switch error.code {
      case .signerNotValid, .signingFailed:
        logger.error(
          "cannot sign a certificate request",
          metadata: ["peer": "\(remotePeer)", "identity": "\(caller.spiffe.uri)", "error": "\(error.description)"])
        throw RPCError(code: .internalError, message: error.description)
      default:
        logger.warning(
          "refused a certificate request",
          metadata: ["peer": "\(remotePeer)", "identity": "\(caller.spiffe.uri)", "error": "\(error.description)"])
        throw RPCError(code: .invalidArgument, message: error.description)
      }
    }
    Counter(label: "citadel_server_success_cert_issuance_count").increment()
    logger.info(
      "issued a workload certificate",
      metadata: [
        "identity": "\(caller.spiffe.uri)", "serial": "\(issued.certificate.serialNumber)",
        "authenticatedBy": "\(caller.description)", "peer": "\(remotePeer)",
        "notAfter": "\(CertificateChecks.timestamp(issued.certificate.notValidAfter))",
      ])
    var response = Istio_V1_Auth_IstioCertificateResponse()
    response.certChain = issued.istioResponseCertChain
    return response
  }

  /// The TTL for a request's `validity_duration` of `validitySeconds`: 0 → `defaultTTL`.
  ///
  /// - Throws: INVALID_ARGUMENT for a negative value or one above `maximumTTL`, naming both.
  package static func ttl(
    validitySeconds: Int64, defaultTTL: Duration, maximumTTL: Duration
  ) throws(RPCError) -> Duration {
    if validitySeconds == 0 { return defaultTTL }
    guard validitySeconds > 0 else {
      throw RPCError(
        code: .invalidArgument, message: "the requested validity_duration \(validitySeconds)s is negative")
    }
    let requested = Duration.seconds(validitySeconds)
    guard requested <= maximumTTL else {
      throw RPCError(
        code: .invalidArgument,
        message: "the requested validity_duration \(validitySeconds)s is greater than the maximum allowed TTL "
          + "\(maximumTTL.components.seconds)s")
    }
    return requested
  }
}
