import Foundation
import NIOSSL

/// Everything a `KubeClient` needs to reach one API server: URL, trust, credentials.
///
/// Built from a kubeconfig (`Kubeconfig.clientConfig(context:)`), from the pod's service account
/// (`inCluster(environment:fileSystemRoot:)`), or by hand. Holds credentials: `description` leaves them out.
package struct KubeClientConfig: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible {
  /// The API server's base URL, `https://host[:port][/prefix]` without a trailing slash (`http` is accepted for
  /// local test servers; credentials then travel in clear text).
  package var server: String
  /// PEM certificates trusted to sign the server's certificate; nil trusts the system's roots.
  package var caPEM: [UInt8]?
  /// PEM client certificate chain, for mutual TLS (together with `clientKeyPEM`).
  package var clientCertificatePEM: [UInt8]?
  /// PEM private key of `clientCertificatePEM`.
  package var clientKeyPEM: [UInt8]?
  /// A bearer token sent with every request.
  package var token: String?
  /// A file holding the bearer token, re-read at most once a minute (projected service-account tokens rotate);
  /// when set it takes precedence over `token`, which is used while the file cannot be read.
  package var tokenFile: String?
  /// Accept any server certificate (kubeconfig `insecure-skip-tls-verify`). Never combined with `caPEM`.
  package var insecureSkipTLSVerify: Bool
  /// The name the server's certificate is checked against, and sent as SNI, instead of the URL's host
  /// (kubeconfig `tls-server-name`); must be a DNS name. See `KubeClient` for how it is applied.
  package var tlsServerName: String?

  package init(
    server: String,
    caPEM: [UInt8]? = nil,
    clientCertificatePEM: [UInt8]? = nil,
    clientKeyPEM: [UInt8]? = nil,
    token: String? = nil,
    tokenFile: String? = nil,
    insecureSkipTLSVerify: Bool = false,
    tlsServerName: String? = nil
  ) {
    self.server = server
    self.caPEM = caPEM
    self.clientCertificatePEM = clientCertificatePEM
    self.clientKeyPEM = clientKeyPEM
    self.token = token
    self.tokenFile = tokenFile
    self.insecureSkipTLSVerify = insecureSkipTLSVerify
    self.tlsServerName = tlsServerName
  }

  /// Where a pod finds its service account's credentials, relative to the file-system root.
  package static let serviceAccountDirectory = "var/run/secrets/kubernetes.io/serviceaccount"

  /// The configuration of a pod talking to its own cluster, as client-go's `InClusterConfig`.
  ///
  /// The server is `https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT` (an IPv6 host is bracketed); the
  /// token comes from `token` and the CA from `ca.crt` in the service-account directory under `fileSystemRoot`
  /// (tests pass a temporary directory). The token file is also recorded in `tokenFile`, so a rotated token is
  /// picked up.
  ///
  /// - Throws: `KubeconfigError` with code `notInCluster` when either variable is missing or empty,
  ///   `fileUnreadable` when the token or CA cannot be read, `invalidValue` for an empty token or a bad port,
  ///   `invalidPEM` when `ca.crt` holds no certificate.
  package static func inCluster(
    environment: [String: String] = ProcessInfo.processInfo.environment,
    fileSystemRoot: String = "/"
  ) throws(KubeconfigError) -> KubeClientConfig {
    let source = "in-cluster configuration"
    guard let host = environment["KUBERNETES_SERVICE_HOST"], !host.isEmpty,
      let port = environment["KUBERNETES_SERVICE_PORT"], !port.isEmpty
    else {
      throw KubeconfigError(
        code: .notInCluster,
        message: "KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be set (is this running in a pod?)",
        source: source)
    }
    guard let portNumber = Int(port), (1...65535).contains(portNumber) else {
      throw KubeconfigError(
        code: .invalidValue, message: "KUBERNETES_SERVICE_PORT \"\(port)\" is not a port number", source: source)
    }
    let root = fileSystemRoot.hasSuffix("/") ? fileSystemRoot : fileSystemRoot + "/"
    let directory = root + serviceAccountDirectory
    let tokenPath = directory + "/token"
    let caPath = directory + "/ca.crt"
    let tokenBytes = try KubeconfigFiles.read(
      tokenPath, maximumSize: Kubeconfig.maximumReferencedFileSize, source: source, field: nil, line: nil)
    let token = String(decoding: tokenBytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    guard !token.isEmpty else {
      throw KubeconfigError(code: .invalidValue, message: "\(tokenPath) is empty", source: source)
    }
    let ca = try KubeconfigFiles.read(
      caPath, maximumSize: Kubeconfig.maximumReferencedFileSize, source: source, field: nil, line: nil)
    let certificates = try? NIOSSLCertificate.fromPEMBytes(ca)
    guard let certificates, !certificates.isEmpty else {
      throw KubeconfigError(code: .invalidPEM, message: "\(caPath) holds no PEM certificate", source: source)
    }
    return KubeClientConfig(
      server: ServerURL.compose(scheme: "https", host: host, port: portNumber, path: ""), caPEM: ca, token: token,
      tokenFile: tokenPath)
  }

  /// The server and the kinds of credentials present, never their values.
  package var description: String {
    var parts = [server]
    if caPEM != nil { parts.append("custom CA") }
    if insecureSkipTLSVerify { parts.append("insecure-skip-tls-verify") }
    if let tlsServerName { parts.append("tls-server-name \(tlsServerName)") }
    if tokenFile != nil {
      parts.append("token file")
    } else if token != nil {
      parts.append("token")
    }
    if clientCertificatePEM != nil { parts.append("client certificate") }
    return parts.joined(separator: ", ")
  }

  package var debugDescription: String { "KubeClientConfig(\(description))" }
}
