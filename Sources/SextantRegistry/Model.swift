/// The registry's vocabulary: services, ports, endpoints and the shards that hold them per cluster.

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

/// Where a workload runs: region, zone and subzone (any may be empty).
package struct Locality: Sendable, Hashable, Comparable, CustomStringConvertible {
  package var region: String
  package var zone: String
  package var subzone: String

  package init(region: String = "", zone: String = "", subzone: String = "") {
    self.region = region
    self.zone = zone
    self.subzone = subzone
  }

  package static func < (lhs: Locality, rhs: Locality) -> Bool {
    (lhs.region, lhs.zone, lhs.subzone) < (rhs.region, rhs.zone, rhs.subzone)
  }

  /// `region/zone/subzone`, Istio's textual form.
  package var description: String { "\(region)/\(zone)/\(subzone)" }
}

/// Health of an endpoint as Envoy's HealthStatus sees it.
package enum EndpointHealth: String, Sendable, Hashable {
  case healthy
  case unhealthy
}

/// One endpoint of one service port, in one cluster.
package struct MeshEndpoint: Sendable, Hashable, Comparable {
  /// The IP address traffic is sent to.
  package var address: String
  /// The port traffic is sent to (the resolved target port).
  package var port: Int
  /// The service port number this endpoint serves.
  package var servicePort: Int
  package var health: EndpointHealth
  package var locality: Locality
  /// Load-balancing weight (1 unless something says otherwise).
  package var weight: UInt32
  /// Network of the endpoint; empty is the default network.
  package var network: String
  /// The pod's `security.istio.io/tlsMode` label (`istio` or `disabled`).
  package var tlsMode: String
  /// The pod's labels, empty when the endpoint has no pod.
  package var labels: [String: String]
  package var serviceAccount: String
  /// The cluster the endpoint was discovered in.
  package var cluster: ClusterID
  /// `namespace/name` of the pod behind the endpoint, empty when unknown.
  package var workload: String

  package init(
    address: String,
    port: Int,
    servicePort: Int,
    health: EndpointHealth = .healthy,
    locality: Locality = Locality(),
    weight: UInt32 = 1,
    network: String = "",
    tlsMode: String = "disabled",
    labels: [String: String] = [:],
    serviceAccount: String = "",
    cluster: ClusterID,
    workload: String = ""
  ) {
    self.address = address
    self.port = port
    self.servicePort = servicePort
    self.health = health
    self.locality = locality
    self.weight = weight
    self.network = network
    self.tlsMode = tlsMode
    self.labels = labels
    self.serviceAccount = serviceAccount
    self.cluster = cluster
    self.workload = workload
  }

  package static func < (lhs: MeshEndpoint, rhs: MeshEndpoint) -> Bool {
    (lhs.servicePort, lhs.locality, lhs.address, lhs.port, lhs.cluster)
      < (rhs.servicePort, rhs.locality, rhs.address, rhs.port, rhs.cluster)
  }
}

/// The endpoints of one service, kept as one shard per cluster so a cluster's change replaces only its own shard.
package struct EndpointShards: Sendable, Hashable {
  /// Endpoints per cluster, each list sorted.
  package var shards: [ClusterID: [MeshEndpoint]]

  package init(shards: [ClusterID: [MeshEndpoint]] = [:]) {
    self.shards = shards
  }

  /// Endpoints of every cluster serving `servicePort`, sorted by cluster then endpoint.
  package func endpoints(servicePort: Int) -> [MeshEndpoint] {
    shards.keys.sorted().flatMap { cluster in shards[cluster]!.filter { $0.servicePort == servicePort } }
  }

  /// Every endpoint, of every port and cluster.
  package var all: [MeshEndpoint] { shards.keys.sorted().flatMap { shards[$0]! } }
}
