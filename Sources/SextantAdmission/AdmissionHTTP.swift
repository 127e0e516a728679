/// One HTTP request to the admission webhook, as the listener hands it over (TLS done, body read within its limit).
package struct AdmissionHTTPRequest: Sendable, Hashable {
  /// `GET`, `POST`, ...
  package var method: String
  /// The request path without the query, for example `/inject/cluster/c1/net/n1` or `/validate`.
  package var path: String
  /// The Content-Type header, nil when absent.
  package var contentType: String?
  /// The body, complete.
  package var body: [UInt8]

  package init(method: String = "POST", path: String, contentType: String? = "application/json", body: [UInt8]) {
    self.method = method
    self.path = path
    self.contentType = contentType
    self.body = body
  }
}

/// The webhook's answer to one `AdmissionHTTPRequest`.
package struct AdmissionHTTPResponse: Sendable, Hashable {
  /// The HTTP status code: 200 for every AdmissionReview answered (allowed or denied), 4xx for a request that is not one.
  package var status: Int
  package var contentType: String
  package var body: [UInt8]

  package init(status: Int, contentType: String, body: [UInt8]) {
    self.status = status
    self.contentType = contentType
    self.body = body
  }

  /// A plain-text answer (errors, `/ready`); a newline is added.
  package static func text(_ status: Int, _ message: String) -> AdmissionHTTPResponse {
    AdmissionHTTPResponse(status: status, contentType: "text/plain; charset=utf-8", body: Array((message + "\n").utf8))
  }
}

/// What answers the webhook's requests: the listener (SextantWebhook) calls it for every request it accepted.
///
/// Implementations never throw and never trap on input: every problem with a request becomes a response.
package protocol AdmissionService: Sendable {
  /// The response to `request`.
  func respond(to request: AdmissionHTTPRequest) async -> AdmissionHTTPResponse
}
