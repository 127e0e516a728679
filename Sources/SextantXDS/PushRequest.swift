import SextantGeneration
import SextantRegistry

/// A registry change ready to push: the newest snapshot and everything that changed since the last push.
package struct PushRequest: Sendable {
  package var snapshot: MeshSnapshot
  package var change: SnapshotChange

  package init(snapshot: MeshSnapshot, change: SnapshotChange) {
    self.snapshot = snapshot
    self.change = change
  }

  /// Folds another request into this one: the newer of the two snapshots (by version, so a request that arrives
  /// late never takes a proxy back to older config), the union of changes.
  package mutating func merge(_ other: PushRequest) {
    if other.snapshot.version >= snapshot.version { snapshot = other.snapshot }
    change.merge(other.change)
  }
}
