import Testing

@testable import SextantKubeClient

@Suite("Relist difference")
struct RelistDiffTests {
  @Test("upserts new and changed objects, deletes vanished keys, skips unchanged ones")
  func difference() {
    let old = ["a": 1, "b": 2, "c": 3]
    let new = ["b": 2, "c": 4, "d": 5]
    let diff = RelistDiff.between(old: old, new: new)
    #expect(diff == RelistDiff(upserted: [4, 5], deleted: ["a"]))
    #expect(!diff.isEmpty)
  }

  @Test(
    "applying the difference to the old store gives exactly the new one",
    arguments: [
      ([:], [:]),
      ([:], ["x": 1]),
      (["x": 1], [:]),
      (["x": 1, "y": 2], ["x": 1, "y": 2]),
      (["a": 1, "b": 2, "c": 3, "d": 4], ["b": 20, "d": 4, "e": 5, "f": 6]),
    ] as [([String: Int], [String: Int])])
  func applyGivesNew(old: [String: Int], new: [String: Int]) {
    // Objects carry their key here: (key, value) pairs.
    let oldStore = Dictionary(uniqueKeysWithValues: old.map { ($0.key, Pair(key: $0.key, value: $0.value)) })
    let newStore = Dictionary(uniqueKeysWithValues: new.map { ($0.key, Pair(key: $0.key, value: $0.value)) })
    let diff = RelistDiff.between(old: oldStore, new: newStore)
    var applied = oldStore
    for key in diff.deleted { applied[key] = nil }
    for pair in diff.upserted { applied[pair.key] = pair }
    #expect(applied == newStore)
    #expect(diff.isEmpty == (old == new))
    #expect(diff.upserted.map(\.key) == diff.upserted.map(\.key).sorted())
    // Nothing unchanged is reported again.
    #expect(diff.upserted.allSatisfy { oldStore[$0.key] != $0 })
  }

  private struct Pair: Equatable, Sendable {
    var key: String
    var value: Int
  }
}
