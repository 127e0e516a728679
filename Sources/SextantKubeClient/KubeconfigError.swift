/// Why a kubeconfig (or the in-cluster configuration) cannot be turned into a client configuration, and where.
///
/// `description` reads `SOURCE:LINE: FIELD: MESSAGE`, for example
/// `secret istio-system/istio-remote-secret-cluster2, key cluster2:14: users[0].user.exec: exec credential plugins are
/// not allowed in remote kubeconfigs (allow with PILOT_INSECURE_MULTICLUSTER_KUBECONFIG_OPTIONS=exec)`; parts that are
/// unknown are left out. Messages never contain credentials.
package struct KubeconfigError: Error, Sendable, Hashable, CustomStringConvertible {
  /// The kind of failure, stable for metrics and tests.
  package enum Code: String, Sendable, Hashable, CaseIterable {
    /// The text is not well-formed YAML (or is empty, or holds several documents).
    case syntax
    /// The text is larger than a kubeconfig may be.
    case tooLarge
    /// A required field is missing or empty (`clusters[0].cluster.server`, an entry's `name`).
    case missingField
    /// A field has the wrong type (a mapping where a string is expected, a string where a boolean is expected).
    case typeMismatch
    /// A field has a value that cannot work (a server URL that is not http(s), a duplicate name, a certificate
    /// without its key, a CA together with `insecure-skip-tls-verify`).
    case invalidValue
    /// A `*-data` field is not valid base64.
    case invalidBase64
    /// A certificate or key is not valid PEM.
    case invalidPEM
    /// The policy refuses the field: an untrusted (remote secret) kubeconfig uses exec, an auth provider, a token
    /// file, another file path, an `http://` server or `insecure-skip-tls-verify` that the allow set does not name.
    case notAllowed
    /// Sextant does not implement the field (exec plugins, auth providers, basic auth, impersonation, proxies).
    case unsupported
    /// No context was asked for and `current-context` is not set.
    case noCurrentContext
    /// The context asked for (or `current-context`) does not exist.
    case unknownContext
    /// A context names a cluster that does not exist.
    case unknownCluster
    /// A context names a user that does not exist.
    case unknownUser
    /// A file the kubeconfig (or the in-cluster configuration) points at cannot be read.
    case fileUnreadable
    /// The in-cluster configuration was asked for outside a pod (`KUBERNETES_SERVICE_HOST`/`PORT` unset).
    case notInCluster
  }

  /// The kind of failure.
  package var code: Code
  /// The reason, without the location.
  package var message: String
  /// Where the kubeconfig came from, as the caller named it: a path, or
  /// `secret istio-system/istio-remote-secret-cluster2, key cluster2`.
  package var source: String
  /// The offending field (`users[0].user.exec`), when the error is about one.
  package var field: String?
  /// The 1-based line of the offending node, when known.
  package var line: Int?
  /// The 1-based column of the offending node, when known.
  package var column: Int?

  package init(
    code: Code,
    message: String,
    source: String,
    field: String? = nil,
    line: Int? = nil,
    column: Int? = nil
  ) {
    self.code = code
    self.message = message
    self.source = source
    self.field = field
    self.line = line
    self.column = column
  }

  /// `SOURCE:LINE: FIELD: MESSAGE`, omitting the parts that are unknown.
  package var description: String {
    var text = source
    if let line { text += ":\(line)" }
    text += ": "
    if let field, !field.isEmpty { text += "\(field): " }
    return text + message
  }
}
