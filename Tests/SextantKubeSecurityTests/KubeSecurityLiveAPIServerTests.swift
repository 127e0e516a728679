import Foundation
import Logging
import NIOCore
import SextantKubeClient
import SextantKubeSecurity
import SextantPKI
import SextantTestSupport
import Synchronization
import Testing

/// Opt-in checks against a real API server, run with SextantKubeClientTests' `LiveAPIServerTests` (the same
/// `--filter` matches this suite): `SEXTANT_TEST_KUBECONFIG` names a kubeconfig with admin rights. Each test makes
/// its own namespace, so reruns against the same server start afresh.
@Suite(
  "Kube security against a live API server (LiveAPIServerTests)",
  .enabled(if: ProcessInfo.processInfo.environment["SEXTANT_TEST_KUBECONFIG"] != nil),
  .timeLimit(.minutes(1)))
struct KubeSecurityLiveAPIServerTests {
  private var logger: Logger {
    var logger = Logger(label: "live")
    logger.logLevel = .info
    return logger
  }

  private func withClient(_ body: (KubeClient) async throws -> Void) async throws {
    let path = try #require(ProcessInfo.processInfo.environment["SEXTANT_TEST_KUBECONFIG"])
    let client = KubeClient(clusterID: "live", config: try Kubeconfig.load(path: path).clientConfig(), logger: logger)
    do {
      try await body(client)
    } catch {
      await client.shutdown()
      throw error
    }
    await client.shutdown()
  }

  private func post(_ client: KubeClient, _ path: String, _ object: [String: Any]) async throws -> [String: Any] {
    let body = ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: object))
    let answer = try await client.post(path, body: body).body
    return try #require(try JSONSerialization.jsonObject(with: Data(answer.readableBytesView)) as? [String: Any])
  }

  /// A new namespace `PREFIX-RANDOM`.
  private func namespace(_ client: KubeClient, _ prefix: String) async throws -> String {
    let name = "\(prefix)-\(UInt32.random(in: 0...UInt32.max))"
    _ = try await post(client, "/api/v1/namespaces", ["metadata": ["name": name]])
    return name
  }

  @Test("KubeTokenReviewer: a TokenRequest token for istio-ca gives namespace and service account; others fail")
  func tokenReviewer() async throws {
    try await withClient { client in
      let namespace = try await namespace(client, "sextant-live-reviewer")
      _ = try await post(client, "/api/v1/namespaces/\(namespace)/serviceaccounts", ["metadata": ["name": "workload"]])
      func token(_ audiences: [String]) async throws -> String {
        let answer = try await post(
          client, "/api/v1/namespaces/\(namespace)/serviceaccounts/workload/token",
          ["apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": ["audiences": audiences]])
        return try #require((answer["status"] as? [String: Any])?["token"] as? String)
      }
      let reviewer = KubeTokenReviewer(clients: { $0 == "live" ? client : nil }, logger: logger)
      let identity = try await reviewer.review(
        token: try await token(["istio-ca"]), audiences: [KubeTokenReviewer.istioCAAudience], clusterID: "live")
      #expect(identity.namespace == namespace)
      #expect(identity.serviceAccount == "workload")

      let other = await #expect(throws: TokenReviewFailure.self) {
        try await reviewer.review(token: try await token(["other"]), audiences: ["istio-ca"], clusterID: "live")
      }
      #expect(other?.code == .rejected)
      #expect(other?.message.contains("is invalid for the target audiences") == true)

      let unknown = await #expect(throws: TokenReviewFailure.self) {
        try await reviewer.review(token: "x", audiences: ["istio-ca"], clusterID: "elsewhere")
      }
      #expect(unknown?.code == .unknownCluster)
    }
  }

  @Test("KubeCASecrets: istio-ca-secret is created once (also by racing instances) and reused; cacerts wins")
  func caSecrets() async throws {
    try await withClient { client in
      let namespace = try await namespace(client, "sextant-live-ca")
      let logger = logger
      let make: @Sendable () -> KubeCASecrets = {
        KubeCASecrets(client: client, namespace: namespace, trustDomain: "live.example", logger: logger)
      }
      // Two instances starting together: one creates, the other meets the conflict (or the Secret) and reads it.
      async let first = make().load()
      async let second = make().load()
      let (a, b) = try await (first, second)
      #expect(a.files == b.files)
      #expect([a.origin, b.origin].filter { $0 == .selfSigned(created: true) }.count == 1)

      let again = try await make().load()
      #expect(again.origin == .selfSigned(created: false))
      #expect(again.files == a.files)
      let stored = try #require(
        try await client.secret(namespace: namespace, name: KubeCASecrets.selfSignedSecretName))
      #expect(stored.type == "istio.io/ca-root")

      // A cacerts appearing later is seen by the watcher, and by the next start.
      let plugged = try SelfSignedCA.makeMaterialPEM(trustDomain: "live.example")
      let handed = Mutex<[CAMaterial.PEMFiles]>([])
      let seen = Gate()
      let watcher = CacertsWatcher(
        client: client, namespace: namespace, current: a.files, options: KubeSourceOptions(watchTimeout: .seconds(5)),
        logger: logger,
        onChange: { material in
          handed.withLock { $0.append(plugged) }
          #expect(material.rootCertificatePEMs == [plugged.rootCert])
          seen.open()
        })
      let task = Task { await watcher.watch() }
      _ = try await client.createSecret(
        Secret(
          namespace: namespace, name: "cacerts",
          values: [
            "ca-cert.pem": Array(plugged.caCert.utf8), "ca-key.pem": Array(plugged.caKey.utf8),
            "cert-chain.pem": Array(plugged.certChain.utf8), "root-cert.pem": Array(plugged.rootCert.utf8),
          ]))
      await seen.wait()
      task.cancel()
      await task.value
      #expect(handed.withLock { $0.count } == 1)
      let restarted = try await make().load()
      #expect(restarted.origin == .plugged)
      #expect(restarted.files == plugged)
    }
  }
}
