import Foundation
import Logging
import SextantKubeClient
import SextantKubeSecurity
import SextantPKI
import SextantTestSupport
import Synchronization
import Testing

@Suite("KubeCASecrets")
struct KubeCASecretsTests {
  private let now = Date()

  private func secrets(
    _ store: FakeSecrets, retryTimeout: Duration = .seconds(30), sleeps: Collector<Duration> = Collector(),
    logs: LogRecorder = LogRecorder()
  ) -> KubeCASecrets {
    let now = self.now
    return KubeCASecrets(
      client: store, namespace: "istio-system", trustDomain: "example.org", retryTimeout: retryTimeout,
      now: { now }, sleep: { duration in sleeps.append(duration) }, logger: logs.logger)
  }

  private func root() throws -> CAMaterial.PEMFiles {
    try SelfSignedCA.makeMaterialPEM(trustDomain: "example.org", now: now)
  }

  @Test("cacerts is loaded and verified when it exists; istio-ca-secret is not looked at")
  func plugged() async throws {
    let files = try root()
    let store = FakeSecrets([caSecret("istio-system", "cacerts", files)])
    let loaded = try await secrets(store).load()
    #expect(loaded.origin == .plugged)
    #expect(loaded.files == files)
    #expect(loaded.secret == "istio-system/cacerts")
    #expect(loaded.material.source == "secret istio-system/cacerts")
    #expect(loaded.material.rootCertificatePEMs == [files.rootCert])
    #expect(store.calls.withLock { $0 } == ["get istio-system/cacerts"])
  }

  @Test("a broken cacerts is a CAError naming the secret and the key; nothing is created")
  func brokenPlugged() async throws {
    let files = try root()
    var mismatched = files
    mismatched.caKey = try root().caKey
    let store = FakeSecrets([caSecret("istio-system", "cacerts", mismatched)])
    let error = await #expect(throws: CAError.self) { try await secrets(store).load() }
    #expect(error?.code == .keyMismatch)
    #expect(error?.file == "secret istio-system/cacerts, key ca-key.pem")
    #expect(
      error?.description.hasPrefix("secret istio-system/cacerts, key ca-key.pem: the private key does not match")
        == true)
    #expect(store.calls.withLock { $0 } == ["get istio-system/cacerts"])

    var garbled = files
    garbled.rootCert = "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n"
    let garbledError = await #expect(throws: CAError.self) {
      try await secrets(FakeSecrets([caSecret("istio-system", "cacerts", garbled)])).load()
    }
    #expect(garbledError?.file == "secret istio-system/cacerts, key root-cert.pem")
  }

  @Test("a cacerts without a key, or with a value that is not base64, is refused naming the key")
  func missingKey() async throws {
    let files = try root()
    let base64 = { (text: String) in Data(text.utf8).base64EncodedString() }
    let missing = try secretJSON(
      "istio-system", "cacerts",
      data: [
        "ca-cert.pem": base64(files.caCert), "ca-key.pem": base64(files.caKey), "root-cert.pem": base64(files.rootCert),
      ])
    let error = await #expect(throws: CAError.self) { try await secrets(FakeSecrets([missing])).load() }
    #expect(error?.code == .missingFile)
    #expect(
      error?.description
        == "secret istio-system/cacerts, key cert-chain.pem: is missing from the Secret (its keys: ca-cert.pem, ca-key.pem, root-cert.pem)"
    )
    let notBase64 = try secretJSON("istio-system", "cacerts", data: ["ca-cert.pem": "%%%"])
    let base64Error = await #expect(throws: CAError.self) { try await secrets(FakeSecrets([notBase64])).load() }
    #expect(base64Error?.code == .unreadable)
    #expect(base64Error?.file == "secret istio-system/cacerts, key ca-cert.pem")
  }

  @Test("without cacerts or istio-ca-secret, a new root is created, stored with Istio's keys, and reused next time")
  func createsThenReuses() async throws {
    let store = FakeSecrets()
    let first = try await secrets(store).load()
    #expect(first.origin == .selfSigned(created: true))
    #expect(first.secret == "istio-system/istio-ca-secret")
    #expect(
      store.calls.withLock { $0 } == [
        "get istio-system/cacerts", "get istio-system/istio-ca-secret", "create istio-system/istio-ca-secret",
      ])
    let stored = try #require(store.stored.withLock { $0["istio-ca-secret"] })
    #expect(stored.type == "istio.io/ca-root")
    #expect(stored.metadata.namespace == "istio-system")
    let data = try stored.decodedData()
    #expect(data.keys.sorted() == ["ca-cert.pem", "ca-key.pem", "cert-chain.pem", "root-cert.pem"])
    #expect(data["ca-cert.pem"] == Array(first.files.caCert.utf8))
    #expect(data["root-cert.pem"] == data["ca-cert.pem"])
    #expect(first.material.rootCertificatePEMs == [first.files.caCert])

    let second = try await secrets(store).load()
    #expect(second.origin == .selfSigned(created: false))
    #expect(second.files == first.files)
    #expect(store.calls.withLock { $0.filter { $0.hasPrefix("create") }.count } == 1)
  }

  @Test("an istio-ca-secret as istiod writes it (cert-chain.pem and root-cert.pem empty) is reused")
  func istioLayout() async throws {
    let files = try root()
    let base64 = { (text: String) in Data(text.utf8).base64EncodedString() }
    let istiod = try secretJSON(
      "istio-system", "istio-ca-secret",
      data: [
        "ca-cert.pem": base64(files.caCert), "ca-key.pem": base64(files.caKey), "cert-chain.pem": "",
        "key.pem": "", "root-cert.pem": "",
      ], type: "istio.io/ca-root")
    let loaded = try await secrets(FakeSecrets([istiod])).load()
    #expect(loaded.origin == .selfSigned(created: false))
    #expect(loaded.files == files)
  }

  @Test("a broken istio-ca-secret is an error, never replaced")
  func brokenSelfSigned() async throws {
    var files = try root()
    files.caKey = try root().caKey
    let store = FakeSecrets([caSecret("istio-system", "istio-ca-secret", files)])
    let error = await #expect(throws: CAError.self) { try await secrets(store).load() }
    #expect(error?.file == "secret istio-system/istio-ca-secret, key ca-key.pem")
    #expect(store.calls.withLock { $0.contains { $0.hasPrefix("create") } } == false)
  }

  @Test("when another instance creates istio-ca-secret first (409), its root is read and used")
  func conflict() async throws {
    let winner = try root()
    let store = FakeSecrets()
    store.beforeCreate.withLock {
      $0 = { store in
        store.stored.withLock { $0["istio-ca-secret"] = caSecret("istio-system", "istio-ca-secret", winner) }
      }
    }
    let logs = LogRecorder()
    let loaded = try await secrets(store, logs: logs).load()
    #expect(loaded.origin == .selfSigned(created: false))
    #expect(loaded.files == winner)
    #expect(
      store.calls.withLock { $0 } == [
        "get istio-system/cacerts", "get istio-system/istio-ca-secret", "create istio-system/istio-ca-secret",
        "get istio-system/istio-ca-secret",
      ])
    #expect(logs.messages(atLeast: .info).contains("another instance stored a self-signed root first; using that one"))
  }

  @Test("API failures are retried with backoff, then reported as a CAError naming the secret and the cluster")
  func retries() async throws {
    let files = try root()
    let store = FakeSecrets([caSecret("istio-system", "cacerts", files)])
    store.failures.withLock { $0 = [kubeError(.connectionFailed), kubeError(.serverError, status: 503)] }
    let sleeps = Collector<Duration>()
    let loaded = try await secrets(store, sleeps: sleeps).load()
    #expect(loaded.origin == .plugged)
    #expect(sleeps.values.count == 2)

    let down = FakeSecrets()
    down.failures.withLock { $0 = Array(repeating: kubeError(.connectionFailed), count: 1000) }
    let waited = Collector<Duration>()
    let error = await #expect(throws: CAError.self) {
      try await secrets(down, retryTimeout: .seconds(3), sleeps: waited).load()
    }
    #expect(error?.code == .unreadable)
    #expect(
      error?.description
        == "secret istio-system/cacerts: cannot be read: cluster cluster1: "
        + "https://10.0.0.2:6443/api/v1/namespaces/istio-system/secrets: connection refused")
    #expect(waited.values.reduce(.zero, +) == .seconds(3))

    let createError = await #expect(throws: CAError.self) {
      try await KubeCASecrets(
        client: FailingCreate(FakeSecrets()), trustDomain: "example.org", retryTimeout: .zero, now: { Date() },
        sleep: { _ in }, logger: LogRecorder().logger
      ).load()
    }
    #expect(createError?.code == .writeFailed)
    #expect(
      createError?.description.hasPrefix("secret istio-system/istio-ca-secret: cannot create the Secret: ") == true)
  }

  @Test("an invalid trust domain cannot make a root")
  func invalidTrustDomain() async {
    let error = await #expect(throws: CAError.self) {
      try await KubeCASecrets(client: FakeSecrets(), trustDomain: "bad domain/", logger: LogRecorder().logger).load()
    }
    #expect(error?.code == .invalidTrustDomain)
  }
}

/// Reads through to a store, but every create is forbidden.
private struct FailingCreate: CASecretClient {
  let store: FakeSecrets
  var clusterID: String { store.clusterID }

  init(_ store: FakeSecrets) { self.store = store }

  func secret(namespace: String, name: String) async throws(KubeClientError) -> Secret? {
    try await store.secret(namespace: namespace, name: name)
  }

  func createSecret(_ secret: Secret) async throws(KubeClientError) -> Secret {
    throw kubeError(.forbidden, status: 403)
  }
}
