/// The items of a collection listed at one resourceVersion (all pages of a paginated list).
public struct ObjectList<Object: Sendable>: Sendable {
  /// The items that decoded, in the server's order.
  public var items: [Object]
  /// The list's `metadata.resourceVersion`: where a watch continues from.
  public var resourceVersion: String
  /// Items that did not decode into `Object` and were left out (a server returning something Sextant's model
  /// rejects); the caller logs them.
  public var skipped: [SkippedItem]

  public init(items: [Object], resourceVersion: String, skipped: [SkippedItem] = []) {
    self.items = items
    self.resourceVersion = resourceVersion
    self.skipped = skipped
  }
}

extension ObjectList: Equatable where Object: Equatable {}

/// A list item left out because it did not decode.
public struct SkippedItem: Sendable, Hashable, CustomStringConvertible {
  /// `metadata.namespace` and `metadata.name`, when they could be read.
  public var namespace: String?
  public var name: String?
  /// Why it did not decode (field path and problem, never the value).
  public var reason: String

  public init(namespace: String?, name: String?, reason: String) {
    self.namespace = namespace
    self.name = name
    self.reason = reason
  }

  public var description: String {
    let object = [namespace, name].compactMap { $0 }.joined(separator: "/")
    return "\(object.isEmpty ? "unnamed item" : object): \(reason)"
  }
}

/// The JSON shape of one list page: `metadata.resourceVersion`, `metadata.continue` and `items`.
struct ListPage<Object: Decodable & Sendable>: Decodable {
  struct Metadata: Decodable {
    var resourceVersion: String?
    var `continue`: String?
  }

  var metadata: Metadata?
  var items: [LenientItem<Object>]?
}

/// One list item: the decoded object, or why it did not decode.
struct LenientItem<Object: Decodable & Sendable>: Decodable {
  private struct PartialObject: Decodable {
    struct Metadata: Decodable {
      var name: String?
      var namespace: String?
    }
    var metadata: Metadata?
  }

  var value: Result<Object, SkippedItem>

  init(from decoder: any Decoder) throws {
    do {
      value = .success(try Object(from: decoder))
    } catch {
      let partial = try? PartialObject(from: decoder)
      value = .failure(
        SkippedItem(
          namespace: partial?.metadata?.namespace, name: partial?.metadata?.name,
          reason: DecodingErrorDescription.describe(error, droppingPrefix: decoder.codingPath.count)))
    }
  }
}

extension SkippedItem: Error {}
