/// Services of the registry: cluster IDs, service ports with their protocols, and merged mesh services.

/// The name a cluster is known by (the remote-secret key or the directory name; istiod's CLUSTER_ID).
package typealias ClusterID = String

/// The protocol a service port speaks, decided as istiod does (see `ServiceProtocol.init(port:)`).
package enum ServiceProtocol: String, Sendable, Hashable, CaseIterable {
  case http = "HTTP"
  case http2 = "HTTP2"
  case grpc = "GRPC"
  case grpcWeb = "GRPC-Web"
  case https = "HTTPS"
  case tls = "TLS"
  case tcp = "TCP"
  case udp = "UDP"
  case mongo = "Mongo"
  case redis = "Redis"
  case mysql = "MySQL"

  /// True for protocols Envoy handles with an HTTP connection manager.
  package var isHTTP: Bool {
    switch self {
    case .http, .http2, .grpc, .grpcWeb: true
    default: false
    }
  }

  /// True when upstream connections should use HTTP/2 (istiod's `IsHTTP2`: gRPC-Web is carried upstream as gRPC).
  package var isHTTP2: Bool {
    switch self {
    case .http2, .grpc, .grpcWeb: true
    default: false
    }
  }
}

/// One port of a mesh service.
package struct MeshPort: Sendable, Hashable, Comparable {
  /// The port's name in the Service (may be empty for a single unnamed port).
  package var name: String
  /// The service port number.
  package var port: Int
  package var `protocol`: ServiceProtocol

  package init(name: String, port: Int, protocol: ServiceProtocol) {
    self.name = name
    self.port = port
    self.protocol = `protocol`
  }

  package static func < (lhs: MeshPort, rhs: MeshPort) -> Bool { lhs.port < rhs.port }
}

/// A service of the mesh: one hostname, possibly present in several clusters.
package struct MeshService: Sendable, Hashable {
  /// `NAME.NAMESPACE.svc.DOMAIN_SUFFIX`.
  package var hostname: String
  package var name: String
  package var namespace: String
  /// Ports sorted by number.
  package var ports: [MeshPort]
  /// Cluster IPs (VIPs) per cluster that has the service; a headless service has none.
  package var addresses: [ClusterID: [String]]
  /// The clusters that define this service, sorted.
  package var clusters: [ClusterID]
  /// The Service's labels, from the first cluster (sorted order) that defines it.
  package var labels: [String: String]
  /// The service accounts of the pods behind the service's endpoints in every cluster, sorted, without duplicates
  /// (the identities a client accepts from the server side of mutual TLS).
  package var serviceAccounts: [String]

  package init(
    hostname: String,
    name: String,
    namespace: String,
    ports: [MeshPort],
    addresses: [ClusterID: [String]] = [:],
    clusters: [ClusterID] = [],
    labels: [String: String] = [:],
    serviceAccounts: [String] = []
  ) {
    self.serviceAccounts = serviceAccounts
    self.hostname = hostname
    self.name = name
    self.namespace = namespace
    self.ports = ports
    self.addresses = addresses
    self.clusters = clusters
    self.labels = labels
  }

  /// Every VIP of the service across clusters, sorted and without duplicates.
  package var allAddresses: [String] {
    Array(Set(addresses.values.joined())).sorted()
  }

  /// The port with number `port`, if the service has one.
  package func port(_ port: Int) -> MeshPort? { ports.first { $0.port == port } }
}
