/// Istio networking objects (networking.istio.io v1alpha3, v1beta1 and v1: one shape for all three) as sources hand
/// them over: metadata plus the spec as an untyped tree.
///
/// The spec is not decoded into types here. The API server accepts any spec for these custom resources, so a typed
/// decoder would have to fail a whole list (or a whole file) for one bad field; instead `SextantRegistry` checks each
/// object on its own and rejects only that object, with a message naming the field.

/// A JSON value: what a custom resource's spec is before it is checked.
package enum ConfigValue: Codable, Sendable, Hashable {
  case null
  case bool(Bool)
  case number(Double)
  case string(String)
  case array([ConfigValue])
  case object([String: ConfigValue])

  package init(from decoder: any Decoder) throws {
    let container = try decoder.singleValueContainer()
    if container.decodeNil() {
      self = .null
    } else if let value = try? container.decode(Bool.self) {
      self = .bool(value)
    } else if let value = try? container.decode(Double.self) {
      self = .number(value)
    } else if let value = try? container.decode(String.self) {
      self = .string(value)
    } else if let value = try? container.decode([ConfigValue].self) {
      self = .array(value)
    } else {
      self = .object(try container.decode([String: ConfigValue].self))
    }
  }

  package func encode(to encoder: any Encoder) throws {
    var container = encoder.singleValueContainer()
    switch self {
    case .null: try container.encodeNil()
    case .bool(let value): try container.encode(value)
    case .number(let value): try container.encode(value)
    case .string(let value): try container.encode(value)
    case .array(let value): try container.encode(value)
    case .object(let value): try container.encode(value)
    }
  }

  /// The member `key` of an object (nil for other values or a missing key).
  package subscript(key: String) -> ConfigValue? {
    if case .object(let members) = self { members[key] } else { nil }
  }

  /// How the value reads in an error message: `string "x"`, `number 3`, `an object`.
  package var summary: String {
    switch self {
    case .null: "null"
    case .bool(let value): "boolean \(value)"
    case .number(let value):
      value.rounded() == value && abs(value) < 1e15 ? "number \(Int(value))" : "number \(value)"
    case .string(let value): "string \"\(value)\""
    case .array: "a list"
    case .object: "an object"
    }
  }
}

/// networking.istio.io Gateway: which proxies (by label `selector`) serve which `servers`.
package struct IstioGateway: Codable, Sendable, Hashable {
  package var metadata: ObjectMeta
  /// The spec as written; nil when the object has none.
  package var spec: ConfigValue?

  package init(metadata: ObjectMeta, spec: ConfigValue? = nil) {
    self.metadata = metadata
    self.spec = spec
  }
}

/// networking.istio.io VirtualService: routing rules for hosts, here read for its `tls` routes on gateways.
package struct IstioVirtualService: Codable, Sendable, Hashable {
  package var metadata: ObjectMeta
  /// The spec as written; nil when the object has none.
  package var spec: ConfigValue?

  package init(metadata: ObjectMeta, spec: ConfigValue? = nil) {
    self.metadata = metadata
    self.spec = spec
  }
}

/// The API group and versions of Istio's networking objects.
package enum IstioAPI {
  package static let networkingGroup = "networking.istio.io"
  /// `apiVersion` values read, newest first (all three share one schema).
  package static let networkingVersions = [
    "networking.istio.io/v1", "networking.istio.io/v1beta1", "networking.istio.io/v1alpha3",
  ]
}
