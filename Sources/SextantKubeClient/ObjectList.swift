/// The items of a collection listed at one resourceVersion (all pages of a paginated list).
package struct ObjectList<Object: Sendable>: Sendable {
  /// The items that decoded, in the server's order.
  package var items: [Object]
  /// The list's `metadata.resourceVersion`: where a watch continues from.
  package var resourceVersion: String
  /// Items that did not decode into `Object` and were left out (a server returning something Sextant's model
  /// rejects); the caller logs them.
  package var skipped: [SkippedItem]

  package init(items: [Object], resourceVersion: String, skipped: [SkippedItem] = []) {
    self.items = items
    self.resourceVersion = resourceVersion
    self.skipped = skipped
  }
}

extension ObjectList: Equatable where Object: Equatable {}

/// A list item left out because it did not decode.
package struct SkippedItem: Sendable, Hashable, CustomStringConvertible {
  /// `metadata.namespace` and `metadata.name`, when they could be read.
  package var namespace: String?
  package var name: String?
  /// The item's position in the whole list (all pages, from 0), when known: what identifies an item whose name
  /// cannot be read.
  package var index: Int?
  /// Why it did not decode (field path and problem, never the value).
  package var reason: String

  package init(namespace: String?, name: String?, index: Int? = nil, reason: String) {
    self.namespace = namespace
    self.name = name
    self.index = index
    self.reason = reason
  }

  /// `sample/bad (item 3): spec.ports[0].port: expected Int`; `item 3: metadata.name: required field is missing`.
  package var description: String {
    let object = [namespace, name].compactMap { $0 }.joined(separator: "/")
    let position = index.map { "item \($0)" }
    let label =
      switch (object.isEmpty, position) {
      case (false, let position?): "\(object) (\(position))"
      case (false, nil): object
      case (true, let position?): position
      case (true, nil): "unnamed item"
      }
    return "\(label): \(reason)"
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
  /// What can still be read of an item that did not decode: each field on its own, so a name of the wrong type
  /// does not hide the namespace.
  private struct PartialObject: Decodable {
    struct Metadata: Decodable {
      var name: String?
      var namespace: String?

      private enum CodingKeys: String, CodingKey {
        case name
        case namespace
      }

      init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        name = try? container.decodeIfPresent(String.self, forKey: .name)
        namespace = try? container.decodeIfPresent(String.self, forKey: .namespace)
      }
    }
    var metadata: Metadata?

    private enum CodingKeys: String, CodingKey {
      case metadata
    }

    init(from decoder: any Decoder) throws {
      metadata = try? decoder.container(keyedBy: CodingKeys.self).decodeIfPresent(Metadata.self, forKey: .metadata)
    }
  }

  var value: Result<Object, SkippedItem>

  /// Decodes one element of `items`; a failure, or a value the API server's validation would reject (a port
  /// outside 1-65535, see `KubeResourceObject.validationProblem`), is recorded with the element's index in its page.
  init(from decoder: any Decoder) throws {
    do {
      let object = try Object(from: decoder)
      if let problem = (object as? any KubeResourceObject)?.validationProblem { throw problem }
      value = .success(object)
    } catch {
      let partial = try? PartialObject(from: decoder)
      value = .failure(
        SkippedItem(
          namespace: partial?.metadata?.namespace, name: partial?.metadata?.name,
          index: decoder.codingPath.last?.intValue,
          reason: DecodingErrorDescription.describe(error, droppingPrefix: decoder.codingPath.count)))
    }
  }
}

extension SkippedItem: Error {}
