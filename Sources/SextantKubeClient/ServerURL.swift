import Foundation

/// An API server URL taken apart: what `KubeClient` connects to and how it names it.
package struct ServerURL: Sendable, Hashable {
  /// `https` or `http`.
  package var scheme: String
  /// The host without IPv6 brackets.
  package var host: String
  package var port: Int?
  /// The path prefix (empty, or `/k8s/clusters/c-1` behind a proxying front end), without a trailing slash.
  package var path: String

  /// Why a text is not a usable server URL.
  package struct Invalid: Error, Sendable, Hashable {
    package var reason: String

    package init(_ reason: String) {
      self.reason = reason
    }
  }

  /// `scheme://host[:port][path]` with IPv6 hosts bracketed and no trailing slash.
  package var normalized: String { Self.compose(scheme: scheme, host: host, port: port, path: path) }

  /// The port connected to: the explicit one, else the scheme's default.
  package var effectivePort: Int { port ?? (scheme == "https" ? 443 : 80) }

  /// Parses `text`, or explains why it is not an http(s) URL without query, fragment or credentials.
  package static func parse(_ text: String) -> Result<ServerURL, Invalid> {
    guard let components = URLComponents(string: text), let scheme = components.scheme?.lowercased() else {
      return .failure(Invalid("\"\(text)\" is not a URL"))
    }
    guard scheme == "https" || scheme == "http" else {
      return .failure(Invalid("\"\(text)\" is not an https (or http) URL"))
    }
    var host = components.percentEncodedHost ?? ""
    if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
    guard !host.isEmpty else { return .failure(Invalid("\"\(text)\" has no host")) }
    guard components.user == nil && components.password == nil else {
      return .failure(Invalid("the server URL must not contain credentials"))
    }
    guard components.query == nil && components.fragment == nil else {
      return .failure(Invalid("\"\(text)\" must not have a query or fragment"))
    }
    if let port = components.port, !(1...65535).contains(port) {
      return .failure(Invalid("\"\(text)\" has an invalid port"))
    }
    var path = components.percentEncodedPath
    while path.hasSuffix("/") { path.removeLast() }
    return .success(ServerURL(scheme: scheme, host: host, port: components.port, path: path))
  }

  package static func compose(scheme: String, host: String, port: Int?, path: String) -> String {
    let shownHost = host.contains(":") ? "[\(host)]" : host
    return "\(scheme)://\(shownHost)\(port.map { ":\($0)" } ?? "")\(path)"
  }
}
