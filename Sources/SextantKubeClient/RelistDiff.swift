/// What a relist changed: the pure core of an informer's "replace the store, report only the difference".
package struct RelistDiff<Key: Hashable & Comparable & Sendable, Object: Equatable & Sendable>: Sendable {
  /// Objects that are new or differ from the stored version, in key order.
  package var upserted: [Object]
  /// Keys stored before and absent from the new list, in order.
  package var deleted: [Key]

  package init(upserted: [Object] = [], deleted: [Key] = []) {
    self.upserted = upserted
    self.deleted = deleted
  }

  /// Whether the relist changed nothing.
  package var isEmpty: Bool { upserted.isEmpty && deleted.isEmpty }

  /// Compares the stored objects with a fresh list: applying the result to `old` gives exactly `new`, so nothing
  /// stale remains, and unchanged objects are not reported again.
  package static func between(old: [Key: Object], new: [Key: Object]) -> RelistDiff {
    var diff = RelistDiff()
    for key in new.keys.sorted() {
      let object = new[key]!
      if old[key] != object { diff.upserted.append(object) }
    }
    diff.deleted = old.keys.filter { new[$0] == nil }.sorted()
    return diff
  }
}

extension RelistDiff: Equatable {}
