import Crypto
import Foundation
import NIOSSL
import SextantBase

/// A parsed kubeconfig: clusters, users and contexts, checked against a `KubeconfigPolicy`.
///
/// Only what a control plane needs is read: per cluster `server`, `certificate-authority-data`,
/// `certificate-authority`, `insecure-skip-tls-verify`, `tls-server-name` (and `proxy-url`, to refuse it); per user
/// `token`, `tokenFile`, `client-certificate-data`, `client-key-data`, `client-certificate`, `client-key` (and
/// `exec`, `auth-provider`, `username`/`password`, `as*`, to refuse them); per context `cluster`, `user`,
/// `namespace`; and `current-context`. Unknown fields are ignored, as kubectl does.
///
/// `parse` checks the structure of every entry and applies the policy to every user and cluster, not only the ones
/// the current context uses (as istiod does: a remote secret that asks for an exec plugin anywhere is refused), and
/// decodes every `*-data` field. `clientConfig(context:)` then resolves one context: it reads the files a trusted (or
/// allowing) policy permits, checks PEM data, and refuses what Sextant does not implement (code `unsupported`).
///
/// Values are immutable and hold credentials: `description` never prints them.
package struct Kubeconfig: Sendable, Hashable, CustomStringConvertible {
  /// The largest kubeconfig accepted: 4 MiB (a Secret holds at most 1 MiB).
  package static let maximumSize = 4 << 20
  /// The largest file (certificate, key, token) a kubeconfig may point at: 1 MiB.
  package static let maximumReferencedFileSize = 1 << 20

  /// One `clusters[]` entry.
  package struct Cluster: Sendable, Hashable {
    package var name: String
    package var server: String?
    package var certificateAuthorityData: [UInt8]?
    /// A file path (`certificate-authority`).
    package var certificateAuthority: String?
    package var insecureSkipTLSVerify: Bool
    package var tlsServerName: String?
    /// Present only to be refused: Sextant does not connect through proxies.
    package var proxyURL: String?
  }

  /// One `users[]` entry. Its description leaves out every credential.
  package struct User: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible {
    package var name: String
    package var token: String?
    /// A file path (`tokenFile`).
    package var tokenFile: String?
    package var clientCertificateData: [UInt8]?
    package var clientKeyData: [UInt8]?
    /// A file path (`client-certificate`).
    package var clientCertificate: String?
    /// A file path (`client-key`).
    package var clientKey: String?
    /// Basic authentication (refused by `clientConfig`: API servers dropped it in 1.19).
    package var username: String?
    package var password: String?
    /// Whether an `exec` credential plugin is configured (refused by `clientConfig`).
    package var usesExec: Bool
    /// The `auth-provider` name, when one is configured (refused by `clientConfig`).
    package var authProvider: String?
    /// Whether any impersonation field (`as`, `as-groups`, `as-uid`, `as-user-extra`) is set (refused).
    package var impersonates: Bool

    package var description: String {
      var parts: [String] = []
      if token != nil { parts.append("token") }
      if tokenFile != nil { parts.append("tokenFile") }
      if clientCertificateData != nil || clientCertificate != nil { parts.append("client certificate") }
      if usesExec { parts.append("exec") }
      if let authProvider { parts.append("auth-provider \(authProvider)") }
      return "user \(name) (\(parts.isEmpty ? "anonymous" : parts.joined(separator: ", ")))"
    }

    package var debugDescription: String { description }
  }

  /// One `contexts[]` entry.
  package struct Context: Sendable, Hashable {
    package var name: String
    package var cluster: String
    /// Empty for anonymous access.
    package var user: String
    package var namespace: String?
  }

  /// Where the text came from, as the caller named it (used in every error).
  package let source: String
  /// The policy the kubeconfig was checked against; `clientConfig` applies it again when reading files.
  package let policy: KubeconfigPolicy
  /// The directory relative file paths are resolved against (the kubeconfig file's own directory), if any.
  package let baseDirectory: String?
  /// `current-context`, if set and not empty.
  package let currentContext: String?
  package let clusters: [Cluster]
  package let users: [User]
  package let contexts: [Context]
  /// SHA-256 of the raw text, as 64 hex digits: equal text, equal hash. A remote-secret controller compares it to
  /// tell a changed kubeconfig from an unchanged one (istiod does the same with SHA-256).
  package let contentHash: String
  /// The line of every field read, by field path (`clusters[0].cluster.server`), for errors raised after parsing.
  let lines: [String: Int]

  /// Parses `yaml` and checks it against `policy`; see the type's documentation.
  ///
  /// - Parameters:
  ///   - source: Names the kubeconfig in errors (`/etc/sextant/kubeconfig`, or
  ///     `secret istio-system/istio-remote-secret-cluster2, key cluster2`).
  ///   - baseDirectory: Relative file paths are resolved against it (kubectl resolves them against the kubeconfig
  ///     file's directory); nil resolves them against the working directory.
  /// - Throws: `KubeconfigError` for malformed YAML (with line and column), a wrong structure, bad base64, a
  ///   duplicate name, or a field the policy refuses (naming the field, e.g. `users[0].user.exec`).
  package static func parse(
    yaml: String,
    source: String,
    policy: KubeconfigPolicy,
    baseDirectory: String? = nil
  ) throws(KubeconfigError) -> Kubeconfig {
    guard yaml.utf8.count <= maximumSize else {
      throw KubeconfigError(
        code: .tooLarge, message: "larger than \(maximumSize) bytes (\(yaml.utf8.count) bytes)", source: source)
    }
    var reader = KubeconfigReader(source: source, policy: policy)
    let root = try reader.compose(yaml)
    let document = try reader.readDocument(root)
    return Kubeconfig(
      source: source, policy: policy, baseDirectory: baseDirectory, currentContext: document.currentContext,
      clusters: document.clusters, users: document.users, contexts: document.contexts,
      contentHash: hash(of: yaml), lines: reader.lines)
  }

  /// The content hash `parse` would record for `text` (SHA-256, 64 hex digits), without parsing: a controller can
  /// tell whether a remote secret's kubeconfig changed even when it does not parse.
  package static func hash(of text: String) -> String {
    SHA256.hash(data: Array(text.utf8)).map { byte in
      let hex = String(byte, radix: 16)
      return byte < 0x10 ? "0" + hex : hex
    }.joined()
  }

  /// Reads the kubeconfig file at `path` and parses it; relative paths inside it are resolved against its directory.
  ///
  /// - Throws: `KubeconfigError` with code `fileUnreadable` when the file cannot be read, or any error of `parse`.
  package static func load(path: String, policy: KubeconfigPolicy = .trusted) throws(KubeconfigError) -> Kubeconfig {
    let bytes = try KubeconfigFiles.read(
      path, maximumSize: maximumSize, source: path, field: nil, line: nil)
    guard let text = String(validating: bytes, as: UTF8.self) else {
      throw KubeconfigError(code: .syntax, message: "not UTF-8 text", source: path)
    }
    let directory = (path as NSString).deletingLastPathComponent
    return try parse(yaml: text, source: path, policy: policy, baseDirectory: directory.isEmpty ? "." : directory)
  }

  /// Resolves `context` (or `current-context` when nil) into what a `KubeClient` needs.
  ///
  /// Reads the files the kubeconfig points at (only those the policy allows; `parse` already refused the others),
  /// checks that certificates and keys are PEM, and refuses what Sextant does not implement: exec plugins, auth
  /// providers, basic auth, impersonation, proxies, an IP address as `tls-server-name`.
  ///
  /// - Throws: `KubeconfigError`: `noCurrentContext`, `unknownContext`, `unknownCluster`, `unknownUser`,
  ///   `missingField` (no `server`), `invalidValue`, `invalidPEM`, `fileUnreadable`, `unsupported`, each naming the
  ///   field.
  package func clientConfig(context: String? = nil) throws(KubeconfigError) -> KubeClientConfig {
    let available = contexts.map(\.name).sorted().joined(separator: ", ")
    guard let contextName = context ?? currentContext, !contextName.isEmpty else {
      throw failure(
        .noCurrentContext,
        "current-context is not set and no context was asked for (contexts: \(available.isEmpty ? "none" : available))",
        field: "current-context")
    }
    guard let contextIndex = contexts.firstIndex(where: { $0.name == contextName }) else {
      throw failure(
        .unknownContext,
        "context \"\(contextName)\" does not exist (contexts: \(available.isEmpty ? "none" : available))",
        field: context == nil ? "current-context" : nil)
    }
    let selected = contexts[contextIndex]
    let contextField = "contexts[\(contextIndex)].context"
    guard !selected.cluster.isEmpty else {
      throw failure(.missingField, "context \"\(contextName)\" names no cluster", field: "\(contextField).cluster")
    }
    guard let clusterIndex = clusters.firstIndex(where: { $0.name == selected.cluster }) else {
      throw failure(
        .unknownCluster, "cluster \"\(selected.cluster)\" does not exist", field: "\(contextField).cluster")
    }
    var config = try clusterConfig(clusters[clusterIndex], field: "clusters[\(clusterIndex)].cluster")
    if !selected.user.isEmpty {
      guard let userIndex = users.firstIndex(where: { $0.name == selected.user }) else {
        throw failure(.unknownUser, "user \"\(selected.user)\" does not exist", field: "\(contextField).user")
      }
      try applyUser(users[userIndex], field: "users[\(userIndex)].user", to: &config)
    }
    return config
  }

  package var description: String {
    "kubeconfig \(source) (\(clusters.count) clusters, \(users.count) users, current-context "
      + "\(currentContext.map { "\"\($0)\"" } ?? "unset"), sha256 \(contentHash.prefix(12)))"
  }

  // MARK: - Resolution

  private func clusterConfig(_ cluster: Cluster, field: String) throws(KubeconfigError) -> KubeClientConfig {
    guard let server = cluster.server, !server.isEmpty else {
      throw failure(.missingField, "cluster \"\(cluster.name)\" has no server", field: "\(field).server")
    }
    let normalizedServer: String
    switch ServerURL.parse(server) {
    case .success(let url): normalizedServer = url.normalized
    case .failure(let invalid): throw failure(.invalidValue, invalid.reason, field: "\(field).server")
    }
    if cluster.proxyURL != nil {
      throw failure(.unsupported, "connecting through a proxy is not supported", field: "\(field).proxy-url")
    }
    var caPEM: [UInt8]?
    if let data = cluster.certificateAuthorityData {
      caPEM = data
      try checkCertificates(data, field: "\(field).certificate-authority-data")
    } else if let path = cluster.certificateAuthority {
      let bytes = try readFile(path, field: "\(field).certificate-authority", option: "certificateAuthority")
      try checkCertificates(bytes, field: "\(field).certificate-authority")
      caPEM = bytes
    }
    if cluster.insecureSkipTLSVerify && caPEM != nil {
      throw failure(
        .invalidValue,
        "insecure-skip-tls-verify cannot be combined with a certificate authority (kubectl refuses it too)",
        field: "\(field).insecure-skip-tls-verify")
    }
    if let name = cluster.tlsServerName, IPAddress(host: name) != nil {
      throw failure(
        .unsupported, "an IP address as tls-server-name is not supported (it must be a DNS name)",
        field: "\(field).tls-server-name")
    }
    return KubeClientConfig(
      server: normalizedServer, caPEM: caPEM, insecureSkipTLSVerify: cluster.insecureSkipTLSVerify,
      tlsServerName: cluster.tlsServerName.flatMap { $0.isEmpty ? nil : $0 })
  }

  private func applyUser(_ user: User, field: String, to config: inout KubeClientConfig) throws(KubeconfigError) {
    if user.usesExec {
      throw failure(
        .unsupported, "exec credential plugins are not supported by Sextant; use a token or a client certificate",
        field: "\(field).exec")
    }
    if let provider = user.authProvider {
      throw failure(
        .unsupported,
        "auth provider \"\(provider)\" is not supported by Sextant; use a token or a client certificate",
        field: "\(field).auth-provider")
    }
    if user.username != nil || user.password != nil {
      throw failure(
        .unsupported, "basic authentication is not supported (API servers removed it in 1.19)",
        field: "\(field).\(user.username != nil ? "username" : "password")")
    }
    if user.impersonates {
      throw failure(.unsupported, "impersonation is not supported", field: "\(field).as")
    }
    if let token = user.token, !token.isEmpty {
      config.token = token
    }
    if let path = user.tokenFile, !path.isEmpty {
      let bytes = try readFile(path, field: "\(field).tokenFile", option: "tokenFile")
      let token = String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
      guard !token.isEmpty else {
        throw failure(.invalidValue, "token file \(path) is empty", field: "\(field).tokenFile")
      }
      config.token = token
      config.tokenFile = resolve(path)
    }
    var certificate: (bytes: [UInt8], field: String)?
    if let data = user.clientCertificateData {
      certificate = (data, "\(field).client-certificate-data")
    } else if let path = user.clientCertificate {
      let name = "\(field).client-certificate"
      certificate = (try readFile(path, field: name, option: "clientCertificate"), name)
    }
    var key: (bytes: [UInt8], field: String)?
    if let data = user.clientKeyData {
      key = (data, "\(field).client-key-data")
    } else if let path = user.clientKey {
      let name = "\(field).client-key"
      key = (try readFile(path, field: name, option: "clientKey"), name)
    }
    switch (certificate, key) {
    case (nil, nil):
      break
    case (let certificate?, nil):
      throw failure(.invalidValue, "a client certificate needs a client key", field: certificate.field)
    case (nil, let key?):
      throw failure(.invalidValue, "a client key needs a client certificate", field: key.field)
    case (let certificate?, let key?):
      try checkCertificates(certificate.bytes, field: certificate.field)
      do {
        _ = try NIOSSLPrivateKey(bytes: key.bytes, format: .pem)
      } catch {
        throw failure(.invalidPEM, "not a PEM private key (\(error))", field: key.field)
      }
      config.clientCertificatePEM = certificate.bytes
      config.clientKeyPEM = key.bytes
    }
  }

  private func checkCertificates(_ bytes: [UInt8], field: String) throws(KubeconfigError) {
    let certificates: [NIOSSLCertificate]
    do {
      certificates = try NIOSSLCertificate.fromPEMBytes(bytes)
    } catch {
      throw failure(.invalidPEM, "not PEM certificates (\(error))", field: field)
    }
    guard !certificates.isEmpty else {
      throw failure(.invalidPEM, "holds no PEM certificate", field: field)
    }
  }

  private func readFile(_ path: String, field: String, option: String) throws(KubeconfigError) -> [UInt8] {
    // `parse` refused fields the policy does not allow; this guards kubeconfigs built by other means.
    guard policy.allows(option) else {
      throw failure(.notAllowed, "file paths are not allowed in an untrusted kubeconfig", field: field)
    }
    return try KubeconfigFiles.read(
      resolve(path), maximumSize: Self.maximumReferencedFileSize, source: source, field: field, line: lines[field])
  }

  private func resolve(_ path: String) -> String {
    guard !path.hasPrefix("/"), let baseDirectory else { return path }
    return baseDirectory.hasSuffix("/") ? baseDirectory + path : baseDirectory + "/" + path
  }

  private func failure(_ code: KubeconfigError.Code, _ message: String, field: String?) -> KubeconfigError {
    KubeconfigError(code: code, message: message, source: source, field: field, line: field.flatMap { lines[$0] })
  }
}

/// Reads the files kubeconfigs and the in-cluster configuration point at.
enum KubeconfigFiles {
  static func read(
    _ path: String, maximumSize: Int, source: String, field: String?, line: Int?
  ) throws(KubeconfigError) -> [UInt8] {
    let data: Data
    do {
      let handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: path))
      defer { try? handle.close() }
      data = try handle.read(upToCount: maximumSize + 1) ?? Data()
    } catch {
      let reason = (error as NSError).localizedDescription
      throw KubeconfigError(
        code: .fileUnreadable, message: "cannot read \(path): \(reason)", source: source, field: field, line: line)
    }
    guard data.count <= maximumSize else {
      throw KubeconfigError(
        code: .fileUnreadable, message: "\(path) is larger than \(maximumSize) bytes", source: source, field: field,
        line: line)
    }
    return [UInt8](data)
  }
}
