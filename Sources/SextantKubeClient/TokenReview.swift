import Crypto
import Foundation
import NIOCore

/// The `status` of an authentication.k8s.io/v1 TokenReview: what the API server concluded about a bearer token.
///
/// Decoded from the server's answer; the answer also echoes the token (`spec.token`), which is never decoded or
/// kept. For a rejected token the server sets `error` and leaves `authenticated` false (absent).
package struct TokenReviewStatus: Sendable, Hashable, Decodable {
  /// The user a token authenticates as.
  package struct User: Sendable, Hashable, Decodable {
    /// `system:serviceaccount:NAMESPACE:NAME` for a service-account token.
    package var username: String?
    package var uid: String?
    /// `system:serviceaccounts`, `system:serviceaccounts:NAMESPACE`, `system:authenticated` for a service account.
    package var groups: [String]?

    package init(username: String? = nil, uid: String? = nil, groups: [String]? = nil) {
      self.username = username
      self.uid = uid
      self.groups = groups
    }
  }

  /// Whether the token is valid (and, when audiences were asked for, meant for one of them).
  package var authenticated: Bool
  /// Who the token belongs to, when authenticated.
  package var user: User?
  /// The requested audiences the token is valid for (the API server's own audiences when none were requested).
  package var audiences: [String]?
  /// Why the token was not authenticated, as the API server says it: `invalid bearer token`, `[invalid bearer
  /// token, token audiences ["other"] is invalid for the target audiences ["istio-ca"]]`.
  package var error: String?

  package init(authenticated: Bool, user: User? = nil, audiences: [String]? = nil, error: String? = nil) {
    self.authenticated = authenticated
    self.user = user
    self.audiences = audiences
    self.error = error
  }

  private enum CodingKeys: String, CodingKey {
    case authenticated, user, audiences, error
  }

  package init(from decoder: any Decoder) throws {
    let container = try decoder.container(keyedBy: CodingKeys.self)
    authenticated = try container.decodeIfPresent(Bool.self, forKey: .authenticated) ?? false
    user = try container.decodeIfPresent(User.self, forKey: .user)
    audiences = try container.decodeIfPresent([String].self, forKey: .audiences)
    error = try container.decodeIfPresent(String.self, forKey: .error)
  }

  /// Decodes the `status` of a TokenReview answer (the whole JSON object the API server returns).
  package static func decode(answer: some Collection<UInt8>) throws -> TokenReviewStatus {
    try JSONDecoder().decode(Answer.self, from: Data(answer)).status ?? TokenReviewStatus(authenticated: false)
  }

  /// The parts of the answer read: `status` only (never `spec`, which echoes the token).
  private struct Answer: Decodable {
    var status: TokenReviewStatus?
  }
}

/// What is sent: kept private so the token cannot end up in a description or a log.
private struct TokenReviewRequest: Encodable {
  struct Spec: Encodable {
    var token: String
    var audiences: [String]?
  }

  var apiVersion = "authentication.k8s.io/v1"
  var kind = "TokenReview"
  var spec: Spec
}

extension KubeClient {
  /// The collection TokenReviews are created in.
  package static let tokenReviewPath = "/apis/authentication.k8s.io/v1/tokenreviews"

  /// Asks the API server whether `token` is valid: creates an authentication.k8s.io/v1 TokenReview with
  /// `spec.token` and `spec.audiences` (left out when empty: the server's own audiences apply) and returns its
  /// status.
  ///
  /// A rejected token is not an error: the status says `authenticated: false` and why. The token is never logged
  /// and never appears in errors (only the URL and the server's Status message do). Needs RBAC `create` on
  /// `tokenreviews` in `authentication.k8s.io` (istiod's ClusterRole has it).
  ///
  /// - Throws: `KubeClientError` when the request fails (classified as in `get`; 403 without that permission), or
  ///   `decodingFailed` when the answer is not a TokenReview.
  package func reviewToken(_ token: String, audiences: [String]) async throws(KubeClientError) -> TokenReviewStatus {
    let request = TokenReviewRequest(spec: .init(token: token, audiences: audiences.isEmpty ? nil : audiences))
    let body: ByteBuffer
    do {
      body = ByteBuffer(bytes: try JSONEncoder().encode(request))
    } catch {
      throw KubeClientError(
        code: .invalidConfiguration, message: "cannot encode the TokenReview", clusterID: clusterID,
        url: target(Self.tokenReviewPath, []).display)
    }
    let answer = try await post(Self.tokenReviewPath, body: body).body
    do {
      return try TokenReviewStatus.decode(answer: answer.readableBytesView)
    } catch {
      throw KubeClientError(
        code: .decodingFailed,
        message: "unexpected TokenReview answer: \(DecodingErrorDescription.describe(error))", clusterID: clusterID,
        url: target(Self.tokenReviewPath, []).display)
    }
  }

  /// The SHA-256 of `token` in hex: a key for caches and a handle for logs that never reveals the token.
  package static func tokenFingerprint(_ token: String) -> String {
    SHA256.hash(data: Array(token.utf8)).map { byte in
      let hex = String(byte, radix: 16)
      return byte < 0x10 ? "0" + hex : hex
    }.joined()
  }
}
