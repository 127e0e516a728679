import SextantKubeClient

// Mesh trust backed by Kubernetes: CA material in the system namespace's Secrets (`cacerts`, `istio-ca-secret`)
// and service-account tokens checked with TokenReview against the cluster a caller names.

/// What `KubeTokenReviewer` needs of a cluster's API client: one TokenReview. `KubeClient` is one; tests use fakes.
package protocol TokenReviewClient: Sendable {
  /// Names the cluster in errors.
  var clusterID: String { get }
  /// Creates a TokenReview for `token` and returns its status (see `KubeClient.reviewToken`).
  func reviewToken(_ token: String, audiences: [String]) async throws(KubeClientError) -> TokenReviewStatus
}

/// What `KubeCASecrets` needs of the primary cluster's API client: read one Secret, create one. `KubeClient` is one;
/// tests use fakes.
package protocol CASecretClient: Sendable {
  /// Names the cluster in errors.
  var clusterID: String { get }
  /// The Secret `namespace/name`, nil when it does not exist.
  func secret(namespace: String, name: String) async throws(KubeClientError) -> Secret?
  /// Creates `secret`; an existing one of the same name fails with `KubeClientError.isConflict`.
  func createSecret(_ secret: Secret) async throws(KubeClientError) -> Secret
}

extension KubeClient: TokenReviewClient, CASecretClient {}
