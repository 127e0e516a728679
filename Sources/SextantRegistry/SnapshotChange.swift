/// What differs between two consecutive mesh snapshots: the unit a push pipeline debounces and merges.
///
/// `services` is true when any merged service was added, removed or changed (ports, VIPs, labels, clusters): config
/// depending on the service set must be rebuilt (a full push). `endpointHostnames` lists the hostnames whose endpoints
/// changed in any cluster, including hostnames that appeared or disappeared; it is filled whether or not `services`
/// is set. An empty change (e.g. a cluster only became synced) needs no push.
public struct SnapshotChange: Sendable, Hashable, CustomStringConvertible {
  public var services: Bool
  public var endpointHostnames: Set<String>

  public init(services: Bool = false, endpointHostnames: Set<String> = []) {
    self.services = services
    self.endpointHostnames = endpointHostnames
  }

  /// No change.
  public static let none = SnapshotChange()

  /// True when nothing changed.
  public var isEmpty: Bool { !services && endpointHostnames.isEmpty }

  /// True when only endpoints changed (an incremental EDS push suffices).
  public var isEndpointOnly: Bool { !services && !endpointHostnames.isEmpty }

  /// Folds `other` (a later change) into this one.
  public mutating func merge(_ other: SnapshotChange) {
    services = services || other.services
    endpointHostnames.formUnion(other.endpointHostnames)
  }

  /// This change with `other` folded in.
  public func merging(_ other: SnapshotChange) -> SnapshotChange {
    var copy = self
    copy.merge(other)
    return copy
  }

  public var description: String {
    "SnapshotChange(services: \(services), endpoints: \(endpointHostnames.sorted()))"
  }
}
