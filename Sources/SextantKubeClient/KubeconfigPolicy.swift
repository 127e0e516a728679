/// What a kubeconfig may do beyond inline data: the trust placed in whoever wrote it.
///
/// A kubeconfig given by the administrator (a flag, a mounted file) is `.trusted`: file paths
/// (`certificate-authority`, `client-certificate`, `client-key`, `tokenFile`) are read, and `http://` servers and
/// `insecure-skip-tls-verify` are accepted. A kubeconfig from a remote secret is `.untrusted`: anyone who can write
/// a Secret in the system namespace could otherwise make the control plane read its files, run programs or send
/// workload tokens where they can be read, so those fields are refused unless the allow set names them, as istiod's
/// `PILOT_INSECURE_MULTICLUSTER_KUBECONFIG_OPTIONS` does.
///
/// Allow-set names (istiod's, plus three Sextant additions):
/// - `exec`, `tokenFile`, `clientKey`, `clientCertificate`: as istiod.
/// - an auth provider's name (`gcp`, `azure`, `openstack`), as istiod, or `auth-provider` for any provider; `oidc`
///   passes the policy without being named, as in istiod.
/// - `certificateAuthority` (Sextant): a `certificate-authority` file path. istiod reads that file unconditionally;
///   Sextant refuses it unless allowed, since reading an arbitrary local file on a secret author's say-so is the
///   same exposure as the other paths.
/// - `httpServer` (Sextant): a cluster `server` with an `http://` URL, and `insecureSkipTLSVerify` (Sextant):
///   `insecure-skip-tls-verify: true`. istiod accepts both; Sextant refuses them unless allowed, since workload
///   tokens are sent to that server for review (TokenReview) and would travel in plain text, or to a server whose
///   identity is not checked.
///
/// Passing the policy is not support: exec plugins and auth providers are refused by every policy with code
/// `unsupported` (Sextant cannot run them), so allowing them only changes which error a kubeconfig gets.
package enum KubeconfigPolicy: Sendable, Hashable {
  /// Written by the administrator: file paths are read.
  case trusted
  /// From a remote secret: exec, auth providers, token files, file paths, `http://` servers and
  /// `insecure-skip-tls-verify` are refused unless named in `allowing`.
  case untrusted(allowing: Set<String>)

  /// The allow-set names understood, for documentation and validation of the environment variable.
  package static let knownOptions: Set<String> = [
    "exec", "tokenFile", "clientKey", "clientCertificate", "certificateAuthority", "auth-provider", "gcp", "azure",
    "openstack", "httpServer", "insecureSkipTLSVerify",
  ]

  /// The policy for remote secrets from istiod's `PILOT_INSECURE_MULTICLUSTER_KUBECONFIG_OPTIONS` value: a comma
  /// separated list of allow-set names; blanks around names and empty entries are ignored.
  package static func untrusted(insecureOptions: String) -> KubeconfigPolicy {
    let names = insecureOptions.split(separator: ",").map { name in
      String(name.drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed())
    }
    return .untrusted(allowing: Set(names.filter { !$0.isEmpty }))
  }

  /// Whether the policy lets a kubeconfig use `option` (an allow-set name).
  package func allows(_ option: String) -> Bool {
    switch self {
    case .trusted: true
    case .untrusted(let allowed): allowed.contains(option)
    }
  }

  /// Whether the policy lets a kubeconfig use the auth provider called `name`.
  func allowsAuthProvider(named name: String) -> Bool {
    switch self {
    case .trusted: true
    case .untrusted(let allowed): name == "oidc" || allowed.contains(name) || allowed.contains("auth-provider")
    }
  }
}
