import Yams

import enum SextantKube.GuardedYAML
import struct SextantKube.SourceSyntaxError

/// Walks a kubeconfig's YAML tree into `Kubeconfig` entries, recording field paths, lines and policy violations.
struct KubeconfigReader {
  struct Document {
    var currentContext: String?
    var clusters: [Kubeconfig.Cluster] = []
    var users: [Kubeconfig.User] = []
    var contexts: [Kubeconfig.Context] = []
  }

  let source: String
  let policy: KubeconfigPolicy
  /// Line and column of every field read, by path.
  var lines: [String: Int] = [:]
  var columns: [String: Int] = [:]

  init(source: String, policy: KubeconfigPolicy) {
    self.source = source
    self.policy = policy
  }

  // MARK: - YAML

  /// The single document of `yaml`, or a `syntax` error with the line and column libyaml reports.
  ///
  /// Parsed by `GuardedYAML` (a kubeconfig from a remote secret is untrusted input): deep nesting and alias bombs
  /// are syntax errors too.
  func compose(_ yaml: String) throws(KubeconfigError) -> Node {
    let root: Node?
    do throws(SourceSyntaxError) {
      root = try GuardedYAML.document(in: yaml)
    } catch {
      throw KubeconfigError(
        code: .syntax, message: error.message, source: source, line: error.line, column: error.column)
    }
    guard let root, root.null == nil else {
      throw KubeconfigError(code: .syntax, message: "the kubeconfig is empty", source: source)
    }
    return root
  }

  // MARK: - Document

  mutating func readDocument(_ root: Node) throws(KubeconfigError) -> Document {
    guard let mapping = root.mapping else {
      throw failure(.typeMismatch, "expected a mapping (a kubeconfig), found \(describe(root))", field: nil, node: root)
    }
    var document = Document()
    document.currentContext = try string(mapping, "current-context", field: "current-context")
    if document.currentContext?.isEmpty == true { document.currentContext = nil }

    for entry in try namedEntries(mapping, list: "clusters", body: "cluster") {
      document.clusters.append(try readCluster(name: entry.name, body: entry.body, field: entry.field))
    }
    for entry in try namedEntries(mapping, list: "users", body: "user") {
      document.users.append(try readUser(name: entry.name, body: entry.body, field: entry.field))
    }
    for entry in try namedEntries(mapping, list: "contexts", body: "context") {
      document.contexts.append(
        Kubeconfig.Context(
          name: entry.name,
          cluster: try string(entry.body, "cluster", field: "\(entry.field).cluster") ?? "",
          user: try string(entry.body, "user", field: "\(entry.field).user") ?? "",
          namespace: try string(entry.body, "namespace", field: "\(entry.field).namespace")))
    }
    return document
  }

  private mutating func readCluster(
    name: String, body: Node.Mapping?, field: String
  ) throws(KubeconfigError) -> Kubeconfig.Cluster {
    let certificateAuthority = try string(body, "certificate-authority", field: "\(field).certificate-authority")
    if certificateAuthority != nil {
      try require(
        "certificateAuthority", field: "\(field).certificate-authority", what: "certificate-authority file paths")
    }
    let server = try string(body, "server", field: "\(field).server")
    // Workload tokens are sent to the server for review: plain http or an unchecked server would hand them out.
    if let server, case .success(let url) = ServerURL.parse(server), url.scheme == "http" {
      try require(
        "httpServer", field: "\(field).server",
        refusal: "an http:// server is not allowed in an untrusted kubeconfig: tokens sent to it travel in plain text")
    }
    let insecureSkipTLSVerify =
      try bool(body, "insecure-skip-tls-verify", field: "\(field).insecure-skip-tls-verify") ?? false
    if insecureSkipTLSVerify {
      try require(
        "insecureSkipTLSVerify", field: "\(field).insecure-skip-tls-verify",
        refusal: "insecure-skip-tls-verify is not allowed in an untrusted kubeconfig: the server's certificate would "
          + "not be checked")
    }
    return Kubeconfig.Cluster(
      name: name,
      server: server,
      certificateAuthorityData: try base64(
        body, "certificate-authority-data", field: "\(field).certificate-authority-data"),
      certificateAuthority: certificateAuthority,
      insecureSkipTLSVerify: insecureSkipTLSVerify,
      tlsServerName: try string(body, "tls-server-name", field: "\(field).tls-server-name"),
      proxyURL: try string(body, "proxy-url", field: "\(field).proxy-url"))
  }

  private mutating func readUser(
    name: String, body: Node.Mapping?, field: String
  ) throws(KubeconfigError) -> Kubeconfig.User {
    var user = Kubeconfig.User(
      name: name, usesExec: false, impersonates: false)
    user.token = try string(body, "token", field: "\(field).token")
    user.tokenFile = try string(body, "tokenFile", field: "\(field).tokenFile")
    if user.tokenFile != nil {
      try require("tokenFile", field: "\(field).tokenFile", what: "token files")
    }
    user.clientCertificateData = try base64(body, "client-certificate-data", field: "\(field).client-certificate-data")
    user.clientKeyData = try base64(body, "client-key-data", field: "\(field).client-key-data")
    user.clientCertificate = try string(body, "client-certificate", field: "\(field).client-certificate")
    if user.clientCertificate != nil {
      try require("clientCertificate", field: "\(field).client-certificate", what: "client-certificate file paths")
    }
    user.clientKey = try string(body, "client-key", field: "\(field).client-key")
    if user.clientKey != nil {
      try require("clientKey", field: "\(field).client-key", what: "client-key file paths")
    }
    user.username = try string(body, "username", field: "\(field).username")
    user.password = try string(body, "password", field: "\(field).password")

    if let (keyNode, value) = lookup(body, "exec"), let exec = present(value) {
      let execField = "\(field).exec"
      record(execField, keyNode)
      guard exec.mapping != nil else {
        throw failure(.typeMismatch, "expected a mapping, found \(describe(exec))", field: execField, node: exec)
      }
      try require("exec", field: execField, what: "exec credential plugins")
      user.usesExec = true
    }
    if let (keyNode, value) = lookup(body, "auth-provider"), let provider = present(value) {
      let providerField = "\(field).auth-provider"
      record(providerField, keyNode)
      guard let providerMapping = provider.mapping else {
        throw failure(
          .typeMismatch, "expected a mapping, found \(describe(provider))", field: providerField, node: provider)
      }
      let providerName = try string(providerMapping, "name", field: "\(providerField).name") ?? ""
      guard policy.allowsAuthProvider(named: providerName) else {
        throw failure(
          .notAllowed,
          "auth provider \"\(providerName)\" is not allowed in an untrusted kubeconfig (allowed only when the "
            + "insecure kubeconfig options name \"\(providerName)\" or \"auth-provider\")",
          field: providerField, node: keyNode)
      }
      user.authProvider = providerName
    }
    for key in ["as", "as-uid", "as-groups", "as-user-extra"] {
      if let (keyNode, value) = lookup(body, key), present(value) != nil {
        record("\(field).\(key)", keyNode)
        user.impersonates = true
      }
    }
    return user
  }

  /// The `list` entries: each a mapping with a unique, non-empty `name` and an optional `body` mapping.
  private mutating func namedEntries(
    _ root: Node.Mapping, list: String, body bodyKey: String
  ) throws(KubeconfigError) -> [(name: String, body: Node.Mapping?, field: String)] {
    guard let (keyNode, value) = lookup(root, list), let node = present(value) else { return [] }
    record(list, keyNode)
    guard let sequence = node.sequence else {
      throw failure(.typeMismatch, "expected a list, found \(describe(node))", field: list, node: node)
    }
    var entries: [(name: String, body: Node.Mapping?, field: String)] = []
    var seen: [String: Int] = [:]
    for (index, element) in sequence.enumerated() {
      let entryField = "\(list)[\(index)]"
      record(entryField, element)
      guard let entry = element.mapping else {
        throw failure(.typeMismatch, "expected a mapping, found \(describe(element))", field: entryField, node: element)
      }
      guard let name = try string(entry, "name", field: "\(entryField).name"), !name.isEmpty else {
        throw failure(.missingField, "every entry needs a name", field: "\(entryField).name", node: element)
      }
      if let previous = seen[name] {
        throw failure(
          .invalidValue, "duplicate name \"\(name)\" (also \(list)[\(previous)])", field: "\(entryField).name",
          node: lookup(entry, "name")?.key)
      }
      seen[name] = index
      let bodyField = "\(entryField).\(bodyKey)"
      var body: Node.Mapping?
      if let (keyNode, value) = lookup(entry, bodyKey), let bodyNode = present(value) {
        record(bodyField, keyNode)
        guard let mapping = bodyNode.mapping else {
          throw failure(
            .typeMismatch, "expected a mapping, found \(describe(bodyNode))", field: bodyField, node: bodyNode)
        }
        body = mapping
      }
      entries.append((name, body, bodyField))
    }
    return entries
  }

  // MARK: - Scalars

  private mutating func string(
    _ mapping: Node.Mapping?, _ key: String, field: String
  ) throws(KubeconfigError) -> String? {
    guard let (keyNode, value) = lookup(mapping, key), let node = present(value) else { return nil }
    record(field, keyNode)
    guard let scalar = node.scalar else {
      throw failure(.typeMismatch, "expected a string, found \(describe(node))", field: field, node: node)
    }
    return scalar.string
  }

  private mutating func bool(
    _ mapping: Node.Mapping?, _ key: String, field: String
  ) throws(KubeconfigError) -> Bool? {
    guard let (keyNode, value) = lookup(mapping, key), let node = present(value) else { return nil }
    record(field, keyNode)
    guard let value = node.bool else {
      throw failure(.typeMismatch, "expected true or false, found \(describe(node))", field: field, node: node)
    }
    return value
  }

  private mutating func base64(
    _ mapping: Node.Mapping?, _ key: String, field: String
  ) throws(KubeconfigError) -> [UInt8]? {
    guard let text = try string(mapping, key, field: field) else { return nil }
    switch Base64.decode(text) {
    case .success(let bytes):
      return bytes
    case .failure(let failure):
      throw self.failure(
        .invalidBase64, "not valid base64: \(failure.reason)", field: field, node: lookup(mapping, key)?.key)
    }
  }

  // MARK: - Helpers

  /// Throws `notAllowed` unless the policy allows `option`; `what` (plural) names what is refused.
  private func require(_ option: String, field: String, what: String) throws(KubeconfigError) {
    try require(option, field: field, refusal: "\(what) are not allowed in an untrusted kubeconfig")
  }

  /// Throws `notAllowed` unless the policy allows `option`, with `refusal` and the option that would allow it.
  private func require(_ option: String, field: String, refusal: String) throws(KubeconfigError) {
    guard !policy.allows(option) else { return }
    throw KubeconfigError(
      code: .notAllowed,
      message: "\(refusal) (allowed only when the insecure kubeconfig options name \"\(option)\")",
      source: source, field: field, line: lines[field], column: columns[field])
  }

  /// The value of `key` in `mapping` with the key's node (whose line errors point at), or nil when absent.
  private func lookup(_ mapping: Node.Mapping?, _ key: String) -> (key: Node, value: Node)? {
    guard let mapping else { return nil }
    for pair in mapping where pair.key.scalar?.string == key { return (pair.key, pair.value) }
    return nil
  }

  /// The node unless it is absent or a YAML null.
  private func present(_ node: Node?) -> Node? {
    guard let node, node.null == nil else { return nil }
    return node
  }

  private mutating func record(_ field: String, _ node: Node) {
    guard let mark = node.mark else { return }
    lines[field] = mark.line
    columns[field] = mark.column
  }

  private func describe(_ node: Node) -> String {
    switch node {
    case .mapping: "a mapping"
    case .sequence: "a list"
    case .scalar: "a scalar"  // never the value: it may be a credential
    case .alias: "an alias"
    }
  }

  private func failure(
    _ code: KubeconfigError.Code, _ message: String, field: String?, node: Node?
  ) -> KubeconfigError {
    KubeconfigError(
      code: code, message: message, source: source, field: field, line: node?.mark?.line,
      column: node?.mark?.column)
  }
}
