import SextantGeneration
import SextantRegistry

/// Whether a named (EDS or RDS) resource exists in a snapshot, for delta xDS.
///
/// State of the world answers every subscribed name, known or not (an unknown EDS name gets an empty assignment), so
/// the proxy never waits. Delta answers only resources that exist: a name that does not is not sent (Envoy's own
/// does-not-exist handling applies), and one the proxy holds is removed (`removed_resources`) once it stops
/// existing. The rules follow the generators:
/// - EDS `outbound|PORT||HOST` and a gateway's `outbound_.PORT_._.HOST`: the service HOST exists with port PORT
///   (its assignment may have no endpoints: it is still sent).
/// - RDS `PORT`: some service has an HTTP port PORT (the sidecar then has an outbound HTTP listener on it).
/// Wildcard types (CDS, LDS) need no rule: what the generator returns is what exists. Secrets are decided by
/// ``StreamSecrets``.
struct DeltaResourceExistence {
  let snapshot: MeshSnapshot
  private let httpPorts: Set<Int>

  init(snapshot: MeshSnapshot, type: XDSType) {
    self.snapshot = snapshot
    if type == .route {
      httpPorts = Set(snapshot.services.values.flatMap { $0.ports.filter(\.protocol.isHTTP).map(\.port) })
    } else {
      httpPorts = []
    }
  }

  /// Whether `name` of `type` exists (always true for types other than EDS and RDS).
  func exists(_ type: XDSType, _ name: String) -> Bool {
    switch type {
    case .endpoint:
      let parsed = ResourceNames.parseOutboundCluster(name) ?? ResourceNames.parseOutboundSNI(name)
      guard let parsed, parsed.subset.isEmpty, let service = snapshot.services[parsed.host] else { return false }
      return service.port(parsed.port) != nil
    case .route:
      guard let port = Int(name) else { return false }
      return httpPorts.contains(port)
    case .cluster, .listener, .secret:
      return true
    }
  }
}
