import Foundation
import Testing

@testable import SextantKubeClient

@Suite("Kubeconfig")
struct KubeconfigTests {
  static let secretSource = "secret istio-system/istio-remote-secret-cluster2, key cluster2"
  static let token =
    "eyJhbGciOiJSUzI1NiIsImtpZCI6IlNleHRhbnRUZXN0In0.eyJpc3MiOiJrdWJlcm5ldGVzL3NlcnZpY2VhY2NvdW50Iiwic3ViIjoic3lzdGVtOnNlcnZpY2VhY2NvdW50OmlzdGlvLXN5c3RlbTppc3Rpby1yZWFkZXItc2VydmljZS1hY2NvdW50In0.c2lnbmF0dXJl"

  private func parse(
    _ name: String, policy: KubeconfigPolicy = .untrusted(allowing: []), baseDirectory: String? = nil
  ) throws -> Kubeconfig {
    try Kubeconfig.parse(
      yaml: try Fixture.text(name), source: Self.secretSource, policy: policy, baseDirectory: baseDirectory)
  }

  @Test("a kubeconfig as istioctl create-remote-secret writes it gives a token client configuration")
  func remoteSecret() throws {
    let kubeconfig = try parse("kubeconfig-remote-secret.yaml")
    #expect(kubeconfig.currentContext == "cluster2")
    let config = try kubeconfig.clientConfig()
    #expect(config.server == "https://10.0.0.2:6443")
    #expect(config.token == Self.token)
    #expect(config.tokenFile == nil)
    #expect(config.caPEM == (try Fixture.bytes("ca.crt")))
    #expect(config.clientCertificatePEM == nil && config.clientKeyPEM == nil)
    #expect(!config.insecureSkipTLSVerify)
    #expect(config.tlsServerName == nil)
    // Credentials never show in descriptions.
    #expect(!"\(config)".contains(Self.token) && !String(reflecting: config).contains(Self.token))
    #expect(!"\(kubeconfig)".contains(Self.token) && !"\(kubeconfig.users[0])".contains(Self.token))
  }

  @Test("the content hash is the SHA-256 of the text: stable, and different for any edit")
  func contentHash() throws {
    let text = try Fixture.text("kubeconfig-remote-secret.yaml")
    let first = try Kubeconfig.parse(yaml: text, source: "a", policy: .trusted)
    let second = try Kubeconfig.parse(yaml: text, source: "b", policy: .untrusted(allowing: []))
    #expect(first.contentHash == second.contentHash)
    #expect(first.contentHash == Kubeconfig.hash(of: text))
    #expect(first.contentHash.count == 64)
    let edited = try Kubeconfig.parse(yaml: text + "\n", source: "a", policy: .trusted)
    #expect(edited.contentHash != first.contentHash)
  }

  @Test(
    "untrusted kubeconfigs refuse exec, auth providers, token files and file paths, naming source and field",
    arguments: [
      ("kubeconfig-exec.yaml", "users[0].user.exec", 17),
      ("kubeconfig-auth-provider.yaml", "users[0].user.auth-provider", 17),
      ("kubeconfig-token-file.yaml", "users[0].user.tokenFile", 17),
      ("kubeconfig-file-paths.yaml", "clusters[0].cluster.certificate-authority", 7),
    ])
  func untrustedRefuses(file: String, field: String, line: Int) throws {
    let error = #expect(throws: KubeconfigError.self) { try parse(file) }
    #expect(error?.code == .notAllowed)
    #expect(error?.field == field)
    #expect(error?.line == line)
    #expect(error?.source == Self.secretSource)
    #expect(error?.description.hasPrefix("\(Self.secretSource):\(line): \(field): ") == true)
  }

  @Test("allowed file paths are read relative to the base directory")
  func allowedFilePaths() throws {
    let directory = try Fixture.directory
    // Each allowance moves the refusal to the next field.
    let partly = #expect(throws: KubeconfigError.self) {
      try parse("kubeconfig-file-paths.yaml", policy: .untrusted(allowing: ["certificateAuthority"]))
    }
    #expect(partly?.field == "users[0].user.client-certificate")
    let kubeconfig = try parse(
      "kubeconfig-file-paths.yaml",
      policy: .untrusted(allowing: ["certificateAuthority", "clientCertificate", "clientKey"]),
      baseDirectory: directory)
    let config = try kubeconfig.clientConfig()
    #expect(config.caPEM == (try Fixture.bytes("ca.crt")))
    #expect(config.clientCertificatePEM == (try Fixture.bytes("client.crt")))
    #expect(config.clientKeyPEM == (try Fixture.bytes("client.key")))
    #expect(config.token == nil)
  }

  @Test("a trusted kubeconfig file reads its paths relative to its own directory")
  func trustedLoad() throws {
    let config = try Kubeconfig.load(path: try Fixture.path("kubeconfig-file-paths.yaml")).clientConfig()
    #expect(config.caPEM == (try Fixture.bytes("ca.crt")))
    #expect(config.clientKeyPEM == (try Fixture.bytes("client.key")))
  }

  @Test("an allowed token file is read, trimmed, and recorded for re-reading")
  func allowedTokenFile() throws {
    let directory = try Fixture.directory
    let config = try parse(
      "kubeconfig-token-file.yaml", policy: .untrusted(allowing: ["tokenFile"]), baseDirectory: directory
    ).clientConfig()
    #expect(config.token == Self.token)
    #expect(config.tokenFile == directory + "/token")
  }

  @Test("a missing file is an error naming the field and the path")
  func missingFile() throws {
    let kubeconfig = try parse(
      "kubeconfig-token-file.yaml", policy: .trusted, baseDirectory: "/nonexistent-sextant-test")
    let error = #expect(throws: KubeconfigError.self) { try kubeconfig.clientConfig() }
    #expect(error?.code == .fileUnreadable)
    #expect(error?.field == "users[0].user.tokenFile")
    #expect(error?.message.contains("/nonexistent-sextant-test/token") == true)
  }

  @Test(
    "exec and auth providers pass an allowing policy but are not supported",
    arguments: [
      ("kubeconfig-exec.yaml", KubeconfigPolicy.untrusted(allowing: ["exec"]), "users[0].user.exec"),
      ("kubeconfig-exec.yaml", KubeconfigPolicy.trusted, "users[0].user.exec"),
      ("kubeconfig-auth-provider.yaml", KubeconfigPolicy.untrusted(allowing: ["gcp"]), "users[0].user.auth-provider"),
      (
        "kubeconfig-auth-provider.yaml", KubeconfigPolicy.untrusted(allowing: ["auth-provider"]),
        "users[0].user.auth-provider"
      ),
      ("kubeconfig-auth-provider.yaml", KubeconfigPolicy.trusted, "users[0].user.auth-provider"),
    ])
  func unsupported(file: String, policy: KubeconfigPolicy, field: String) throws {
    let kubeconfig = try parse(file, policy: policy)
    let error = #expect(throws: KubeconfigError.self) { try kubeconfig.clientConfig() }
    #expect(error?.code == .unsupported)
    #expect(error?.field == field)
    #expect(error?.message.contains("not supported") == true)
  }

  @Test("malformed YAML is a syntax error with its line")
  func malformed() throws {
    let error = #expect(throws: KubeconfigError.self) { try parse("kubeconfig-malformed.yaml") }
    #expect(error?.code == .syntax)
    #expect(error?.line == 7)
    #expect(error?.description.hasPrefix("\(Self.secretSource):7: ") == true)
  }

  @Test("an unknown current-context is reported with the contexts that exist")
  func unknownCurrentContext() throws {
    let kubeconfig = try parse("kubeconfig-unknown-context.yaml")
    let error = #expect(throws: KubeconfigError.self) { try kubeconfig.clientConfig() }
    #expect(error?.code == .unknownContext)
    #expect(error?.field == "current-context")
    #expect(error?.line == 12)
    #expect(error?.message == "context \"cluster3\" does not exist (contexts: cluster2)")
    // An explicit context still works.
    #expect(try kubeconfig.clientConfig(context: "cluster2").server == "https://10.0.0.2:6443")
  }

  @Test("structural problems name the field")
  func structuralErrors() throws {
    func failure(_ yaml: String, context: String? = nil) -> KubeconfigError? {
      #expect(throws: KubeconfigError.self) {
        try Kubeconfig.parse(yaml: yaml, source: "test", policy: .trusted).clientConfig(context: context)
      }
    }
    let noCurrent = failure("clusters: []\ncontexts:\n- name: a\n  context: {cluster: c}\n")
    #expect(noCurrent?.code == .noCurrentContext)
    #expect(noCurrent?.message.contains("contexts: a") == true)

    let noServer = failure(
      "clusters:\n- name: c\n  cluster:\n    insecure-skip-tls-verify: true\ncontexts:\n- name: a\n  context: {cluster: c}\n"
        + "current-context: a\n")
    #expect(noServer?.code == .missingField)
    #expect(noServer?.field == "clusters[0].cluster.server")

    let badBase64 = failure(
      "clusters:\n- name: c\n  cluster:\n    server: https://x\n    certificate-authority-data: not*base64\n")
    #expect(badBase64?.code == .invalidBase64)
    #expect(badBase64?.field == "clusters[0].cluster.certificate-authority-data")
    #expect(badBase64?.line == 5)
    #expect(badBase64?.message.contains("offset 3") == true)

    let badPEM = failure(
      "clusters:\n- name: c\n  cluster:\n    server: https://x\n    certificate-authority-data: aGVsbG8=\n"
        + "contexts:\n- name: a\n  context: {cluster: c}\ncurrent-context: a\n")
    #expect(badPEM?.code == .invalidPEM)
    #expect(badPEM?.field == "clusters[0].cluster.certificate-authority-data")

    let duplicate = failure(
      "clusters:\n- name: c\n  cluster: {server: https://x}\n- name: c\n  cluster: {server: https://y}\n")
    #expect(duplicate?.code == .invalidValue)
    #expect(duplicate?.field == "clusters[1].name")

    let notAList = failure("clusters: yes\n")
    #expect(notAList?.code == .typeMismatch)
    #expect(notAList?.field == "clusters")

    let notABool = failure("clusters:\n- name: c\n  cluster: {server: https://x, insecure-skip-tls-verify: \"true\"}\n")
    #expect(notABool?.code == .typeMismatch)
    #expect(notABool?.field == "clusters[0].cluster.insecure-skip-tls-verify")

    let unknownUser = failure(
      "clusters:\n- name: c\n  cluster: {server: https://x}\ncontexts:\n- name: a\n  context: {cluster: c, user: u}\n",
      context: "a")
    #expect(unknownUser?.code == .unknownUser)
    #expect(unknownUser?.field == "contexts[0].context.user")

    let unknownCluster = failure("contexts:\n- name: a\n  context: {cluster: nope}\n", context: "a")
    #expect(unknownCluster?.code == .unknownCluster)

    let badScheme = failure(
      "clusters:\n- name: c\n  cluster: {server: ftp://x}\ncontexts:\n- name: a\n  context: {cluster: c}\n",
      context: "a")
    #expect(badScheme?.code == .invalidValue)
    #expect(badScheme?.field == "clusters[0].cluster.server")

    let empty = failure("")
    #expect(empty?.code == .syntax)
  }

  @Test("insecure-skip-tls-verify, tls-server-name and client certificates")
  func tlsOptions() throws {
    let certificate = try Fixture.bytes("client.crt")
    let key = try Fixture.bytes("client.key")
    let ca = try Fixture.bytes("ca.crt")
    func encoded(_ bytes: [UInt8]) -> String { Data(bytes).base64EncodedString() }
    let yaml = """
      clusters:
      - name: c
        cluster:
          server: https://10.0.0.2:6443/
          insecure-skip-tls-verify: true
      - name: named
        cluster:
          server: https://10.0.0.2:6443
          certificate-authority-data: \(encoded(ca))
          tls-server-name: kubernetes.default.svc
      users:
      - name: cert
        user:
          client-certificate-data: \(encoded(certificate))
          client-key-data: \(encoded(key))
      - name: half
        user:
          client-certificate-data: \(encoded(certificate))
      contexts:
      - {name: insecure, context: {cluster: c, user: cert}}
      - {name: named, context: {cluster: named}}
      - {name: half, context: {cluster: named, user: half}}
      """
    let kubeconfig = try Kubeconfig.parse(
      yaml: yaml, source: "test", policy: .untrusted(allowing: ["insecureSkipTLSVerify"]))
    let insecure = try kubeconfig.clientConfig(context: "insecure")
    #expect(insecure.server == "https://10.0.0.2:6443")
    #expect(insecure.insecureSkipTLSVerify)
    #expect(insecure.caPEM == nil)
    #expect(insecure.clientCertificatePEM == certificate)
    #expect(insecure.clientKeyPEM == key)
    let named = try kubeconfig.clientConfig(context: "named")
    #expect(named.tlsServerName == "kubernetes.default.svc")
    #expect(named.token == nil && named.clientCertificatePEM == nil)
    let half = #expect(throws: KubeconfigError.self) { try kubeconfig.clientConfig(context: "half") }
    #expect(half?.code == .invalidValue)
    #expect(half?.field == "users[1].user.client-certificate-data")

    let both = #expect(throws: KubeconfigError.self) {
      try Kubeconfig.parse(
        yaml: yaml.replacingOccurrences(
          of: "insecure-skip-tls-verify: true",
          with: "insecure-skip-tls-verify: true\n    certificate-authority-data: \(encoded(ca))"),
        source: "test", policy: .trusted
      ).clientConfig(context: "insecure")
    }
    #expect(both?.code == .invalidValue)
    #expect(both?.field == "clusters[0].cluster.insecure-skip-tls-verify")
  }

  @Test(
    "an untrusted kubeconfig may use an http:// server or insecure-skip-tls-verify only when the options name them",
    arguments: [
      (
        "server: http://10.0.0.2:6443", "httpServer", "clusters[1].cluster.server",
        "an http:// server is not allowed in an untrusted kubeconfig: tokens sent to it travel in plain text "
          + "(allowed only when the insecure kubeconfig options name \"httpServer\")"
      ),
      (
        "server: HTTP://10.0.0.2", "httpServer", "clusters[1].cluster.server",
        "an http:// server is not allowed in an untrusted kubeconfig: tokens sent to it travel in plain text "
          + "(allowed only when the insecure kubeconfig options name \"httpServer\")"
      ),
      (
        "server: https://10.0.0.2:6443\n    insecure-skip-tls-verify: true", "insecureSkipTLSVerify",
        "clusters[1].cluster.insecure-skip-tls-verify",
        "insecure-skip-tls-verify is not allowed in an untrusted kubeconfig: the server's certificate would not be "
          + "checked (allowed only when the insecure kubeconfig options name \"insecureSkipTLSVerify\")"
      ),
    ])
  func insecureTransport(cluster: String, option: String, field: String, message: String) throws {
    // The policy applies to every cluster, not only the current context's.
    let yaml = """
      clusters:
      - name: good
        cluster: {server: "https://10.0.0.3:6443"}
      - name: c
        cluster:
          \(cluster)
      contexts:
      - {name: good, context: {cluster: good}}
      current-context: good
      """
    let refused = #expect(throws: KubeconfigError.self) {
      try Kubeconfig.parse(yaml: yaml, source: Self.secretSource, policy: .untrusted(allowing: []))
    }
    #expect(refused?.code == .notAllowed)
    #expect(refused?.field == field)
    #expect(refused?.description == "\(Self.secretSource):\(field.hasSuffix("server") ? 6 : 7): \(field): \(message)")
    // The other option does not allow it.
    let other = option == "httpServer" ? "insecureSkipTLSVerify" : "httpServer"
    #expect(throws: KubeconfigError.self) {
      try Kubeconfig.parse(yaml: yaml, source: Self.secretSource, policy: .untrusted(insecureOptions: other))
    }
    for policy in [KubeconfigPolicy.untrusted(insecureOptions: "exec, \(option)"), .trusted] {
      let allowed = try Kubeconfig.parse(yaml: yaml, source: Self.secretSource, policy: policy)
      #expect(allowed.clusters.count == 2)
    }
    #expect(KubeconfigPolicy.knownOptions.contains(option))
  }

  @Test("the policy reads istiod's PILOT_INSECURE_MULTICLUSTER_KUBECONFIG_OPTIONS format")
  func policyFromEnvironment() {
    #expect(KubeconfigPolicy.untrusted(insecureOptions: "") == .untrusted(allowing: []))
    #expect(
      KubeconfigPolicy.untrusted(insecureOptions: "exec, tokenFile,,clientKey ")
        == .untrusted(allowing: ["exec", "tokenFile", "clientKey"]))
    let policy = KubeconfigPolicy.untrusted(allowing: ["gcp"])
    #expect(policy.allowsAuthProvider(named: "gcp"))
    #expect(policy.allowsAuthProvider(named: "oidc"))
    #expect(!policy.allowsAuthProvider(named: "azure"))
    #expect(!policy.allows("exec"))
    #expect(KubeconfigPolicy.trusted.allows("exec"))
  }
}
