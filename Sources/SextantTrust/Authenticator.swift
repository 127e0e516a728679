import GRPCCore
import SextantPKI

/// Decides who is calling on the secure port: a verified client certificate, else a reviewed bearer token.
///
/// Order, as istiod's CA server authenticates: the identity `SecureGRPCListener` recorded in `PeerIdentities` for
/// the call's remote peer wins (`.clientCertificate`); otherwise the `authorization: Bearer TOKEN` metadata is
/// reviewed by the `TokenReviewer` with audiences `["istio-ca"]` in the cluster named by the `clusterid` metadata
/// (the primary cluster when absent), and the service account becomes
/// `spiffe://MESH_TRUST_DOMAIN/ns/NAMESPACE/sa/SERVICE_ACCOUNT` (`.token(clusterID:)`). Without either, or with a
/// token but no reviewer (no Kubernetes), the call is unauthenticated with a message saying what was missing.
package struct Authenticator: Sendable {
  /// The audiences a token must have: Istio's CA audience.
  package static let tokenAudiences = ["istio-ca"]
  /// The metadata key naming the cluster whose API server reviews the token (istio-agent sends `ClusterID`).
  package static let clusterIDMetadataKey = "clusterid"
  /// The metadata key carrying the bearer token.
  package static let authorizationMetadataKey = "authorization"

  /// The trust domain of identities derived from tokens.
  package let meshTrustDomain: String
  /// The cluster that reviews tokens when the call names none.
  package let primaryClusterID: String

  private let peerIdentities: PeerIdentities
  private let tokenReviewer: (any TokenReviewer)?

  /// An authenticator using the client-certificate identities in `peerIdentities` and, for token callers,
  /// `tokenReviewer` (nil when there is no Kubernetes API server to ask).
  package init(
    peerIdentities: PeerIdentities, tokenReviewer: (any TokenReviewer)?, meshTrustDomain: String,
    primaryClusterID: String
  ) {
    self.peerIdentities = peerIdentities
    self.tokenReviewer = tokenReviewer
    self.meshTrustDomain = meshTrustDomain
    self.primaryClusterID = primaryClusterID
  }

  /// The identity of the caller on the connection `remotePeer` (`ServerContext.remotePeer`) sending `metadata`.
  ///
  /// - Throws: `AuthenticationError`: `unauthenticated` when there is no credential, the token is malformed or
  ///   rejected, or tokens cannot be reviewed; `unavailable` when the reviewer could not reach its API server.
  package func authenticate(
    remotePeer: String, metadata: Metadata
  ) async throws(AuthenticationError) -> CallerIdentity {
    if let identity = peerIdentities.identity(forRemotePeer: remotePeer) {
      return CallerIdentity(spiffe: identity, method: .clientCertificate)
    }
    guard let token = try Self.bearerToken(in: metadata, remotePeer: remotePeer) else {
      throw AuthenticationError(
        .unauthenticated, "no client certificate and no 'authorization: Bearer' token", remotePeer: remotePeer)
    }
    guard let tokenReviewer else {
      throw AuthenticationError(
        .unauthenticated,
        "a bearer token was sent but tokens cannot be reviewed (no Kubernetes API server is configured); "
          + "authenticate with a client certificate from the mesh CA",
        remotePeer: remotePeer)
    }
    let clusterID =
      metadata[stringValues: Self.clusterIDMetadataKey].first(where: { !$0.isEmpty }) ?? primaryClusterID
    let reviewed: ReviewedServiceAccount
    do {
      reviewed = try await tokenReviewer.review(token: token, audiences: Self.tokenAudiences, clusterID: clusterID)
    } catch {
      var error = error
      if error.remotePeer.isEmpty { error.remotePeer = remotePeer }
      throw error
    }
    let spiffe: SpiffeID
    do {
      spiffe = try SpiffeID(
        trustDomain: meshTrustDomain, namespace: reviewed.namespace, serviceAccount: reviewed.serviceAccount)
    } catch {
      throw AuthenticationError(
        .unauthenticated,
        "the token's service account \(reviewed.namespace)/\(reviewed.serviceAccount) (cluster \(clusterID)) "
          + "is not a valid identity: \(error.message)",
        remotePeer: remotePeer)
    }
    return CallerIdentity(spiffe: spiffe, method: .token(clusterID: clusterID))
  }

  /// Checks that `identity` may act for a proxy in `nodeNamespace` (the namespace in its node ID or metadata).
  ///
  /// - Throws: `AuthenticationError` `permissionDenied` naming both namespaces when they differ.
  package static func authorize(_ identity: CallerIdentity, nodeNamespace: String) throws(AuthenticationError) {
    guard identity.namespace == nodeNamespace else {
      throw AuthenticationError(
        .permissionDenied,
        "identity \(identity.spiffe.uri) (namespace \(identity.namespace)) may not act for a proxy in namespace "
          + "\(nodeNamespace)")
    }
  }

  /// The token of the first `authorization` value, nil when there is none.
  ///
  /// - Throws: `unauthenticated` when the value is not `Bearer TOKEN` (scheme case-insensitive) or the token is empty.
  static func bearerToken(in metadata: Metadata, remotePeer: String) throws(AuthenticationError) -> String? {
    guard let value = metadata[stringValues: authorizationMetadataKey].first(where: { _ in true }) else {
      return nil
    }
    let scheme = "bearer "
    guard value.count >= scheme.count, value.prefix(scheme.count).lowercased() == scheme else {
      throw AuthenticationError(
        .unauthenticated, "the 'authorization' metadata is not of the form 'Bearer TOKEN'", remotePeer: remotePeer)
    }
    var token = value.dropFirst(scheme.count)
    while token.first == " " { token = token.dropFirst() }
    while token.last == " " { token = token.dropLast() }
    guard !token.isEmpty else {
      throw AuthenticationError(
        .unauthenticated, "the 'authorization: Bearer' token is empty", remotePeer: remotePeer)
    }
    return String(token)
  }
}
