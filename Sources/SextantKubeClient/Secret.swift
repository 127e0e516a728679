import SextantKube

/// core/v1 Secret, as remote-secret handling reads it: metadata, `type` and the base64 `data`.
///
/// `data` holds the values as the API returns them (base64); `decodedData()` decodes them. The description lists
/// the keys, never the values.
package struct Secret: KubeResourceObject, Codable, CustomStringConvertible, CustomDebugStringConvertible {
  package static let kind = "Secret"

  package var metadata: ObjectMeta
  /// Key → base64 value; empty when the Secret has no data.
  package var data: [String: String]
  /// `Opaque`, `kubernetes.io/service-account-token`, ...
  package var type: String?

  package init(metadata: ObjectMeta, data: [String: String] = [:], type: String? = nil) {
    self.metadata = metadata
    self.data = data
    self.type = type
  }

  private enum CodingKeys: String, CodingKey {
    case metadata
    case data
    case type
  }

  package init(from decoder: any Decoder) throws {
    let container = try decoder.container(keyedBy: CodingKeys.self)
    metadata = try container.decode(ObjectMeta.self, forKey: .metadata)
    data = try container.decodeIfPresent([String: String].self, forKey: .data) ?? [:]
    type = try container.decodeIfPresent(String.self, forKey: .type)
  }

  /// The Secret's namespace and name.
  package var name: NamespacedName { NamespacedName(metadata) }

  /// Every value decoded from base64.
  ///
  /// - Throws: `SecretDataError` naming the Secret and the first key (in key order) whose value is not base64.
  package func decodedData() throws(SecretDataError) -> [String: [UInt8]] {
    var decoded: [String: [UInt8]] = [:]
    for key in data.keys.sorted() {
      switch Base64.decode(data[key]!) {
      case .success(let bytes):
        decoded[key] = bytes
      case .failure(let failure):
        throw SecretDataError(
          code: .invalidBase64, message: "not valid base64: \(failure.reason)", secret: name, key: key)
      }
    }
    return decoded
  }

  /// `Secret istio-system/istio-remote-secret-cluster2 (keys: cluster2)`.
  package var description: String {
    "Secret \(name) (keys: \(data.keys.sorted().joined(separator: ", ")))"
  }

  package var debugDescription: String { description }
}

/// A Secret's data cannot be decoded.
package struct SecretDataError: Error, Sendable, Hashable, CustomStringConvertible {
  package enum Code: String, Sendable, Hashable {
    /// A value is not base64.
    case invalidBase64
  }

  package var code: Code
  package var message: String
  /// The Secret.
  package var secret: NamespacedName
  /// The data key whose value failed.
  package var key: String

  package init(code: Code, message: String, secret: NamespacedName, key: String) {
    self.code = code
    self.message = message
    self.secret = secret
    self.key = key
  }

  /// `secret istio-system/istio-remote-secret-cluster2, key cluster2: not valid base64: ...`.
  package var description: String { "secret \(secret), key \(key): \(message)" }
}
