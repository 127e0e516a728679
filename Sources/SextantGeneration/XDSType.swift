/// The xDS resource types Sextant serves over ADS, with Envoy's v3 type URLs.
package enum XDSType: String, Sendable, Hashable, CaseIterable, Comparable {
  case cluster = "type.googleapis.com/envoy.config.cluster.v3.Cluster"
  case endpoint = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"
  case listener = "type.googleapis.com/envoy.config.listener.v3.Listener"
  case route = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration"
  /// SDS on the ADS stream: the proxy's workload certificate (`default`) and the mesh root (`ROOTCA`).
  case secret = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret"

  /// The order istiod pushes in, so Envoy never sees a reference before its target: CDS, EDS, LDS, RDS.
  ///
  /// Secrets are not in it: they do not depend on the registry, and are pushed when the CA or the certificate
  /// changes (see `AdsServer`).
  package static let pushOrder: [XDSType] = [.cluster, .endpoint, .listener, .route]

  /// CDS, EDS, LDS, RDS or SDS.
  package var shortName: String {
    switch self {
    case .cluster: "CDS"
    case .endpoint: "EDS"
    case .listener: "LDS"
    case .route: "RDS"
    case .secret: "SDS"
    }
  }

  /// Wildcard types send every resource whatever names were asked for (CDS and LDS); the others are named
  /// subscriptions, where an empty name list means "nothing".
  package var isWildcard: Bool {
    switch self {
    case .cluster, .listener: true
    case .endpoint, .route, .secret: false
    }
  }

  private var rank: Int {
    switch self {
    case .cluster: 0
    case .endpoint: 1
    case .listener: 2
    case .route: 3
    case .secret: 4
    }
  }

  package static func < (lhs: XDSType, rhs: XDSType) -> Bool { lhs.rank < rhs.rank }
}
