/// The xDS resource types Sextant serves over ADS, with Envoy's v3 type URLs.
public enum XDSType: String, Sendable, Hashable, CaseIterable, Comparable {
  case cluster = "type.googleapis.com/envoy.config.cluster.v3.Cluster"
  case endpoint = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"
  case listener = "type.googleapis.com/envoy.config.listener.v3.Listener"
  case route = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration"

  /// The order istiod pushes in, so Envoy never sees a reference before its target: CDS, EDS, LDS, RDS.
  public static let pushOrder: [XDSType] = [.cluster, .endpoint, .listener, .route]

  /// CDS, EDS, LDS or RDS.
  public var shortName: String {
    switch self {
    case .cluster: "CDS"
    case .endpoint: "EDS"
    case .listener: "LDS"
    case .route: "RDS"
    }
  }

  /// Wildcard types send every resource whatever names were asked for (CDS and LDS); the others are named
  /// subscriptions, where an empty name list means "nothing".
  public var isWildcard: Bool {
    switch self {
    case .cluster, .listener: true
    case .endpoint, .route: false
    }
  }

  public static func < (lhs: XDSType, rhs: XDSType) -> Bool {
    pushOrder.firstIndex(of: lhs)! < pushOrder.firstIndex(of: rhs)!
  }
}
