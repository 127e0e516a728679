import SextantKube

/// core/v1 Secret, as remote-secret handling reads it: metadata, `type` and the base64 `data`.
///
/// `data` holds the values as the API returns them (base64); `decodedData()` decodes them. The description lists
/// the keys, never the values.
public struct Secret: KubeResourceObject, Codable, CustomStringConvertible, CustomDebugStringConvertible {
  public var metadata: ObjectMeta
  /// Key → base64 value; empty when the Secret has no data.
  public var data: [String: String]
  /// `Opaque`, `kubernetes.io/service-account-token`, ...
  public var type: String?

  public init(metadata: ObjectMeta, data: [String: String] = [:], type: String? = nil) {
    self.metadata = metadata
    self.data = data
    self.type = type
  }

  private enum CodingKeys: String, CodingKey {
    case metadata
    case data
    case type
  }

  public init(from decoder: any Decoder) throws {
    let container = try decoder.container(keyedBy: CodingKeys.self)
    metadata = try container.decode(ObjectMeta.self, forKey: .metadata)
    data = try container.decodeIfPresent([String: String].self, forKey: .data) ?? [:]
    type = try container.decodeIfPresent(String.self, forKey: .type)
  }

  /// The Secret's namespace and name.
  public var name: NamespacedName { NamespacedName(metadata) }

  /// Every value decoded from base64.
  ///
  /// - Throws: `SecretDataError` naming the Secret and the first key (in key order) whose value is not base64.
  public func decodedData() throws(SecretDataError) -> [String: [UInt8]] {
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
  public var description: String {
    "Secret \(name) (keys: \(data.keys.sorted().joined(separator: ", ")))"
  }

  public var debugDescription: String { description }
}

/// A Secret's data cannot be decoded.
public struct SecretDataError: Error, Sendable, Hashable, CustomStringConvertible {
  public enum Code: String, Sendable, Hashable {
    /// A value is not base64.
    case invalidBase64
  }

  public var code: Code
  public var message: String
  /// The Secret.
  public var secret: NamespacedName
  /// The data key whose value failed.
  public var key: String

  public init(code: Code, message: String, secret: NamespacedName, key: String) {
    self.code = code
    self.message = message
    self.secret = secret
    self.key = key
  }

  /// `secret istio-system/istio-remote-secret-cluster2, key cluster2: not valid base64: ...`.
  public var description: String { "secret \(secret), key \(key): \(message)" }
}
