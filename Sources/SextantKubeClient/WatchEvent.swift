import Foundation

/// One event of a watch stream, as the API server sends it (one JSON object per line).
package enum WatchEvent<Object: Sendable>: Sendable {
  case added(Object)
  case modified(Object)
  /// The object as it was last, before deletion.
  case deleted(Object)
  /// A progress marker (with `allowWatchBookmarks=true`): nothing changed up to this resourceVersion. Resuming the
  /// watch from it is cheaper and safer than from the last object's.
  case bookmark(resourceVersion: String)
  /// The server ended the watch with an error; code 410 (`Expired`/`Gone`) means the resourceVersion is too old and
  /// the collection must be listed again.
  case error(KubeStatus)

  /// The type as the API server spells it: `ADDED`, `MODIFIED`, `DELETED`, `BOOKMARK`, `ERROR`.
  package var type: String {
    switch self {
    case .added: "ADDED"
    case .modified: "MODIFIED"
    case .deleted: "DELETED"
    case .bookmark: "BOOKMARK"
    case .error: "ERROR"
    }
  }
}

extension WatchEvent: Equatable where Object: Equatable {}
extension WatchEvent: Hashable where Object: Hashable {}

extension WatchEvent where Object: Decodable {
  /// Decodes one line of a watch stream.
  ///
  /// BOOKMARK objects carry only `metadata.resourceVersion` (they are not valid objects of the watched kind) and
  /// ERROR objects are a `Status`, so each type decodes its own shape.
  ///
  /// - Throws: `DecodingError` when the line is not a watch event of a known type or its object does not decode.
  package static func decode(line: some Collection<UInt8>, using decoder: JSONDecoder = JSONDecoder()) throws -> Self {
    try decoder.decode(WatchEventEnvelope<Object>.self, from: Data(line)).event
  }
}

/// The JSON shape of a watch event: `{"type": "...", "object": {...}}`.
struct WatchEventEnvelope<Object: Decodable & Sendable>: Decodable {
  var event: WatchEvent<Object>

  private enum CodingKeys: String, CodingKey {
    case type
    case object
  }

  private struct BookmarkObject: Decodable {
    struct Metadata: Decodable {
      var resourceVersion: String?
    }
    var metadata: Metadata?
  }

  init(from decoder: any Decoder) throws {
    let container = try decoder.container(keyedBy: CodingKeys.self)
    let type = try container.decode(String.self, forKey: .type)
    switch type {
    case "ADDED": event = .added(try Self.checked(container.decode(Object.self, forKey: .object), in: container))
    case "MODIFIED": event = .modified(try Self.checked(container.decode(Object.self, forKey: .object), in: container))
    // Only a deleted object's key is used: it is removed whatever its other values.
    case "DELETED": event = .deleted(try container.decode(Object.self, forKey: .object))
    case "BOOKMARK":
      let object = try container.decode(BookmarkObject.self, forKey: .object)
      guard let version = object.metadata?.resourceVersion, !version.isEmpty else {
        throw DecodingError.dataCorruptedError(
          forKey: .object, in: container, debugDescription: "BOOKMARK event without metadata.resourceVersion")
      }
      event = .bookmark(resourceVersion: version)
    case "ERROR": event = .error(try container.decode(KubeStatus.self, forKey: .object))
    default:
      throw DecodingError.dataCorruptedError(
        forKey: .type, in: container, debugDescription: "unknown watch event type \"\(type.prefix(40))\"")
    }
  }

  /// `object` unless the API server's validation would reject it (see `KubeResourceObject.validationProblem`):
  /// then it does not decode, with a message naming its kind, namespace and name, and the field.
  private static func checked(
    _ object: Object, in container: KeyedDecodingContainer<CodingKeys>
  ) throws -> Object {
    guard let resource = object as? any KubeResourceObject, let problem = resource.validationProblem else {
      return object
    }
    let metadata = resource.metadata
    let name = metadata.namespace.flatMap { $0.isEmpty ? nil : "\($0)/\(metadata.name)" } ?? metadata.name
    throw DecodingError.dataCorruptedError(
      forKey: .object, in: container, debugDescription: "\(type(of: resource).kind) \(name): \(problem)")
  }
}
