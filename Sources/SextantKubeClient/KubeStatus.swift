/// meta/v1 Status: what the API server returns with an error, and the object of a watch ERROR event.
package struct KubeStatus: Codable, Sendable, Hashable, CustomStringConvertible {
  /// `Success` or `Failure`.
  package var status: String?
  package var message: String?
  /// A machine-readable reason: `Expired`, `Gone`, `Forbidden`, `NotFound`, ...
  package var reason: String?
  /// The HTTP status code this Status stands for (410 for an expired resourceVersion).
  package var code: Int?

  package init(status: String? = nil, message: String? = nil, reason: String? = nil, code: Int? = nil) {
    self.status = status
    self.message = message
    self.reason = reason
    self.code = code
  }

  /// `410 Expired: too old resource version: 1 (2)`.
  package var description: String {
    var parts: [String] = []
    if let code { parts.append("\(code)") }
    if let reason, !reason.isEmpty { parts.append(reason) }
    let head = parts.joined(separator: " ")
    guard let message, !message.isEmpty else { return head.isEmpty ? "unknown status" : head }
    return head.isEmpty ? message : "\(head): \(message)"
  }
}
