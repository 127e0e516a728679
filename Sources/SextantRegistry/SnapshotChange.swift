/// What differs between two consecutive mesh snapshots: the unit a push pipeline debounces and merges.
///
/// `services` is true when any merged service was added, removed or changed (ports, VIPs, labels, clusters): config
/// depending on the service set must be rebuilt (a full push). `endpointHostnames` lists the hostnames whose endpoints
/// changed in any cluster, including hostnames that appeared or disappeared; it is filled whether or not `services`
/// is set. `networks` is true when any network's gateways changed: every proxy's endpoints must be sent again, since
/// other networks' endpoints are replaced by gateways. `istioConfig` is true when the accepted Gateways or
/// VirtualServices changed: gateway proxies need new clusters and listeners (a change in rejected objects alone does
/// not set it; the snapshot still carries the new rejected list for the debug endpoints). An empty change (e.g. a cluster only
/// became synced) needs no push.
package struct SnapshotChange: Sendable, Hashable, CustomStringConvertible {
  package var services: Bool
  package var endpointHostnames: Set<String>
  package var networks: Bool
  package var istioConfig: Bool

  package init(
    services: Bool = false, endpointHostnames: Set<String> = [], networks: Bool = false, istioConfig: Bool = false
  ) {
    self.services = services
    self.endpointHostnames = endpointHostnames
    self.networks = networks
    self.istioConfig = istioConfig
  }

  /// No change.
  package static let none = SnapshotChange()

  /// True when nothing changed.
  package var isEmpty: Bool { !services && endpointHostnames.isEmpty && !networks && !istioConfig }

  /// True when only endpoints changed (an incremental EDS push suffices).
  package var isEndpointOnly: Bool { !services && !istioConfig && (!endpointHostnames.isEmpty || networks) }

  /// True when every resource type must be generated again (services or Istio config changed).
  package var isFull: Bool { services || istioConfig }

  /// Folds `other` (a later change) into this one.
  package mutating func merge(_ other: SnapshotChange) {
    services = services || other.services
    endpointHostnames.formUnion(other.endpointHostnames)
    networks = networks || other.networks
    istioConfig = istioConfig || other.istioConfig
  }

  /// This change with `other` folded in.
  package func merging(_ other: SnapshotChange) -> SnapshotChange {
    var copy = self
    copy.merge(other)
    return copy
  }

  package var description: String {
    "SnapshotChange(services: \(services), endpoints: \(endpointHostnames.sorted()), networks: \(networks), "
      + "istioConfig: \(istioConfig))"
  }
}
