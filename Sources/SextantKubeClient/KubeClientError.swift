/// Why a request to an API server failed: the class of failure, the cluster and the URL.
///
/// `description` reads `cluster CLUSTER: URL: MESSAGE`, for example
/// `cluster cluster2: https://10.0.0.2:6443/api/v1/pods?limit=500: HTTP 403 Forbidden: pods is forbidden: User
/// "system:serviceaccount:istio-system:istio-reader" cannot list resource "pods" at the cluster scope`.
/// Messages never contain credentials.
package struct KubeClientError: Error, Sendable, Hashable, CustomStringConvertible {
  /// The class of failure; `isRetryable` tells which ones can pass on their own.
  package enum Code: String, Sendable, Hashable, CaseIterable {
    /// The client configuration is unusable (bad URL, certificates or key NIOSSL cannot load).
    case invalidConfiguration
    /// No connection, or it broke: refused, reset, closed early, DNS failure, host unreachable.
    case connectionFailed
    /// The TLS handshake failed: untrusted or mismatching server certificate, client certificate refused.
    case tlsFailure
    /// No response (head, or whole body for single requests) within the time allowed.
    case timeout
    /// HTTP 401: the credentials were not accepted.
    case unauthorized
    /// HTTP 403: the credentials lack permission (RBAC).
    case forbidden
    /// HTTP 404: the resource or API group is not served.
    case notFound
    /// HTTP 410 Gone, or a watch ERROR event with code 410: the resourceVersion is too old; list again.
    case gone
    /// HTTP 429: the server asks to slow down.
    case tooManyRequests
    /// HTTP 5xx, or a watch ERROR event other than 410.
    case serverError
    /// Any other non-2xx status.
    case unexpectedStatus
    /// The body is not the JSON expected (or a watch line is not a watch event).
    case decodingFailed
    /// The body (or one watch event) is larger than the client accepts.
    case responseTooLarge
    /// The calling task was cancelled, or the client was shut down.
    case cancelled
  }

  /// The class of failure.
  package var code: Code
  /// What happened, without the cluster and URL: `connection refused`, `HTTP 403 Forbidden: ...`.
  package var message: String
  /// The cluster the client talks to.
  package var clusterID: String
  /// The URL requested (the configured server, never a rewritten one), with its query.
  package var url: String
  /// The HTTP status (or watch ERROR event code), when there was one.
  package var status: Int?

  package init(code: Code, message: String, clusterID: String, url: String, status: Int? = nil) {
    self.code = code
    self.message = message
    self.clusterID = clusterID
    self.url = url
    self.status = status
  }

  /// Whether retrying the same request later can succeed without anyone changing the configuration. Authorization
  /// failures count as retryable: RBAC and tokens are fixed from outside while Sextant keeps trying.
  package var isRetryable: Bool {
    switch code {
    case .invalidConfiguration, .cancelled: false
    default: true
    }
  }

  /// `cluster CLUSTER: URL: MESSAGE`.
  package var description: String { "cluster \(clusterID): \(url): \(message)" }

  /// The error for a non-2xx HTTP status, with the API server's `Status.message` when the body held one.
  static func forStatus(_ status: Int, reason: String?, apiMessage: String?, clusterID: String, url: String)
    -> KubeClientError
  {
    let code: Code =
      switch status {
      case 401: .unauthorized
      case 403: .forbidden
      case 404: .notFound
      case 410: .gone
      case 429: .tooManyRequests
      case 500...599: .serverError
      default: .unexpectedStatus
      }
    var message = "HTTP \(status)"
    if let reason, !reason.isEmpty { message += " \(reason)" }
    if let apiMessage, !apiMessage.isEmpty { message += ": \(apiMessage)" }
    return KubeClientError(code: code, message: message, clusterID: clusterID, url: url, status: status)
  }
}
