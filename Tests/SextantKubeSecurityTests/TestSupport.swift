import Foundation
import Logging
import SextantKubeClient
import SextantKubeSecurity
import SextantPKI
import SextantTestSupport
import Synchronization

func kubeError(_ code: KubeClientError.Code, status: Int? = nil, cluster: String = "cluster1") -> KubeClientError {
  KubeClientError(
    code: code, message: status.map { "HTTP \($0)" } ?? "connection refused", clusterID: cluster,
    url: "https://10.0.0.2:6443/api/v1/namespaces/istio-system/secrets", status: status)
}

/// A Secret decoded from the API's JSON shape, with `data` given as already-base64 strings.
func secretJSON(_ namespace: String, _ name: String, data: [String: String], type: String? = nil) throws -> Secret {
  var object: [String: Any] = ["metadata": ["name": name, "namespace": namespace], "data": data]
  if let type { object["type"] = type }
  return try JSONDecoder().decode(Secret.self, from: JSONSerialization.data(withJSONObject: object))
}

/// A CA Secret with the four PEM files as keys.
func caSecret(_ namespace: String, _ name: String, _ files: CAMaterial.PEMFiles, type: String? = nil) -> Secret {
  Secret(
    namespace: namespace, name: name, type: type,
    values: [
      "ca-cert.pem": Array(files.caCert.utf8), "ca-key.pem": Array(files.caKey.utf8),
      "cert-chain.pem": Array(files.certChain.utf8), "root-cert.pem": Array(files.rootCert.utf8),
    ])
}

/// Secrets in memory, as `CASecretClient`: a script of failures first, then the store; `onCreate` can change the
/// store before a create is answered (another instance winning the race).
final class FakeSecrets: CASecretClient, Sendable {
  let clusterID = "cluster1"
  let stored = Mutex<[String: Secret]>([:])
  let failures = Mutex<[KubeClientError]>([])
  let calls = Mutex<[String]>([])
  let beforeCreate = Mutex<(@Sendable (FakeSecrets) -> Void)?>(nil)

  init(_ secrets: [Secret] = []) {
    stored.withLock { stored in
      for secret in secrets { stored[secret.metadata.name] = secret }
    }
  }

  func secret(namespace: String, name: String) async throws(KubeClientError) -> Secret? {
    calls.withLock { $0.append("get \(namespace)/\(name)") }
    if let failure = failures.withLock({ $0.isEmpty ? nil : $0.removeFirst() }) { throw failure }
    return stored.withLock { $0[name] }
  }

  func createSecret(_ secret: Secret) async throws(KubeClientError) -> Secret {
    calls.withLock { $0.append("create \(secret.metadata.namespace ?? "")/\(secret.metadata.name)") }
    if let failure = failures.withLock({ $0.isEmpty ? nil : $0.removeFirst() }) { throw failure }
    if let hook = beforeCreate.withLock({ $0 }) { hook(self) }
    return try stored.withLock { stored throws(KubeClientError) in
      if stored[secret.metadata.name] != nil { throw kubeError(.unexpectedStatus, status: 409) }
      stored[secret.metadata.name] = secret
      return secret
    }
  }
}

/// A list-watch source that plays a script: one list, then watches that each deliver some batches and end; once
/// used up, `finished` opens and calls wait until cancelled.
final class ScriptedSecretSource: ListWatchSource {
  let clusterID = "cluster1"
  let url = "https://test.invalid/api/v1/namespaces/istio-system/secrets"
  private let listed: ObjectList<Secret>
  private let watches: Mutex<[[[WatchEvent<Secret>]]]>
  let finished = Gate()

  init(list: [Secret], watches: [[[WatchEvent<Secret>]]]) {
    listed = ObjectList(items: list, resourceVersion: "1")
    self.watches = Mutex(watches)
  }

  func list() async throws(KubeClientError) -> ObjectList<Secret> { listed }

  func watch(
    resourceVersion: String, timeout: Duration
  ) async throws(KubeClientError) -> AsyncThrowingStream<[WatchEvent<Secret>], any Error> {
    guard let batches = watches.withLock({ $0.isEmpty ? nil : $0.removeFirst() }) else {
      finished.open()
      await suspendUntilCancelled()
      throw KubeClientError(code: .cancelled, message: "cancelled", clusterID: clusterID, url: url)
    }
    return AsyncThrowingStream { continuation in
      for batch in batches { continuation.yield(batch) }
      continuation.finish()
    }
  }
}
