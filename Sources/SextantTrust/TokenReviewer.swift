import SextantPKI

/// Checks a Kubernetes service-account token (a TokenReview against a cluster's API server).
///
/// The control plane's implementation (`ClusterTokenReviewer`, SextantControlPlane) asks SextantKubeSecurity's
/// `KubeTokenReviewer`; `Authenticator` calls one for callers without a client certificate. Implementations throw
/// `AuthenticationError` with code `unauthenticated` for a token the API server rejects (or one without the
/// audience), `unavailable` when the API server cannot be asked, and `unauthenticated` for an unknown `clusterID`.
package protocol TokenReviewer: Sendable {
  /// The service account `token` belongs to, as the API server of `clusterID` says; `audiences` must include one of
  /// the token's audiences (Istio's CA uses `istio-ca`).
  func review(token: String, audiences: [String], clusterID: String) async throws(AuthenticationError)
    -> ReviewedServiceAccount
}

/// A service account a `TokenReviewer` vouched for.
package struct ReviewedServiceAccount: Sendable, Hashable {
  /// The service account's namespace.
  package var namespace: String
  /// The service account's name.
  package var serviceAccount: String

  package init(namespace: String, serviceAccount: String) {
    self.namespace = namespace
    self.serviceAccount = serviceAccount
  }
}
