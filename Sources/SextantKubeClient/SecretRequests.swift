import Foundation
import NIOCore
import SextantKube

extension Secret {
  /// A Secret to create: `values` are the raw bytes of each key, base64-encoded here into `data`.
  package init(namespace: String, name: String, type: String? = nil, values: [String: [UInt8]]) {
    self.init(
      metadata: ObjectMeta(name: name, namespace: namespace),
      data: values.mapValues { Data($0).base64EncodedString() }, type: type)
  }
}

/// What is POSTed to create a Secret: apiVersion and kind, name and namespace (labels and annotations when set),
/// type and data.
private struct SecretCreation: Encodable {
  struct Metadata: Encodable {
    var name: String
    var namespace: String
    var labels: [String: String]?
    var annotations: [String: String]?
  }

  var apiVersion = "v1"
  var kind = "Secret"
  var metadata: Metadata
  var type: String?
  var data: [String: String]
}

extension KubeClient {
  /// The path of one Secret: `/api/v1/namespaces/NAMESPACE/secrets/NAME`.
  static func secretPath(namespace: String, name: String) -> String {
    KubeResource.secrets(in: namespace).path + "/" + name
  }

  /// GETs the Secret `namespace/name`; nil when it does not exist (404).
  ///
  /// - Throws: `KubeClientError` for every other failure (classified as in `get`), `decodingFailed` when the answer
  ///   is not a Secret.
  package func secret(namespace: String, name: String) async throws(KubeClientError) -> Secret? {
    let path = Self.secretPath(namespace: namespace, name: name)
    let body: ByteBuffer
    do throws(KubeClientError) {
      body = try await get(path).body
    } catch {
      if error.code == .notFound { return nil }
      throw error
    }
    return try decodeSecret(body, path)
  }

  /// Creates `secret` in its namespace (`metadata.namespace`, required) and returns it as stored.
  ///
  /// - Throws: `KubeClientError`; a Secret of that name that already exists is `status` 409 (`unexpectedStatus`),
  ///   `isConflict` tells.
  package func createSecret(_ secret: Secret) async throws(KubeClientError) -> Secret {
    let namespace = secret.metadata.namespace ?? "default"
    let path = KubeResource.secrets(in: namespace).path
    let creation = SecretCreation(
      metadata: .init(
        name: secret.metadata.name, namespace: namespace, labels: secret.metadata.labels,
        annotations: secret.metadata.annotations),
      type: secret.type, data: secret.data)
    let body: ByteBuffer
    do {
      body = ByteBuffer(bytes: try JSONEncoder().encode(creation))
    } catch {
      throw KubeClientError(
        code: .invalidConfiguration, message: "cannot encode the Secret: \(error)", clusterID: clusterID,
        url: target(path, []).display)
    }
    let answer = try await post(path, body: body).body
    return try decodeSecret(answer, path)
  }

  private func decodeSecret(_ body: ByteBuffer, _ path: String) throws(KubeClientError) -> Secret {
    do {
      return try JSONDecoder().decode(Secret.self, from: Data(body.readableBytesView))
    } catch {
      throw KubeClientError(
        code: .decodingFailed, message: "unexpected response: \(DecodingErrorDescription.describe(error))",
        clusterID: clusterID, url: target(path, []).display)
    }
  }
}

extension KubeClientError {
  /// HTTP 409 Conflict: the object already exists (create) or changed meanwhile (update).
  package var isConflict: Bool { status == 409 }
}

/// Lists and watches the one Secret `namespace/name` (a `metadata.name` field selector): an informer over it sees
/// that Secret appear, change and disappear. Needs `list` and `watch` on Secrets in the namespace.
package struct NamedSecretSource: ListWatchSource {
  package let client: KubeClient
  package let namespace: String
  package let name: String
  package let clusterID: String

  package init(client: KubeClient, namespace: String, name: String, clusterID: String? = nil) {
    self.client = client
    self.namespace = namespace
    self.name = name
    self.clusterID = clusterID ?? client.clusterID
  }

  private var path: String { KubeResource.secrets(in: namespace).path }
  private var query: [(String, String)] { [("fieldSelector", "metadata.name=\(name)")] }

  package var url: String { client.server + path }

  package func list() async throws(KubeClientError) -> ObjectList<Secret> {
    do {
      return try await client.list(path, as: Secret.self, query: query)
    } catch {
      throw renamed(error)
    }
  }

  package func watch(
    resourceVersion: String, timeout: Duration
  ) async throws(KubeClientError) -> AsyncThrowingStream<[WatchEvent<Secret>], any Error> {
    do {
      return try await client.watchBatches(path, query: query, resourceVersion: resourceVersion, timeout: timeout)
    } catch {
      throw renamed(error)
    }
  }

  private func renamed(_ error: KubeClientError) -> KubeClientError {
    var error = error
    error.clusterID = clusterID
    return error
  }
}
