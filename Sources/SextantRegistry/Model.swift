/// The registry's vocabulary: services, ports, endpoints and the shards that hold them per cluster.

/// The name a cluster is known by (the remote-secret key or the directory name; istiod's CLUSTER_ID).
public typealias ClusterID = String

/// The protocol a service port speaks, decided as istiod does (see `ServiceProtocol.init(port:)`).
public enum ServiceProtocol: String, Sendable, Hashable, CaseIterable {
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
  public var isHTTP: Bool {
    switch self {
    case .http, .http2, .grpc, .grpcWeb: true
    default: false
    }
  }

  /// True when upstream connections should use HTTP/2 (istiod's `IsHTTP2`: gRPC-Web is carried upstream as gRPC).
  public var isHTTP2: Bool {
    switch self {
    case .http2, .grpc, .grpcWeb: true
    default: false
    }
  }
}

/// One port of a mesh service.
public struct MeshPort: Sendable, Hashable, Comparable {
  /// The port's name in the Service (may be empty for a single unnamed port).
  public var name: String
  /// The service port number.
  public var port: Int
  public var `protocol`: ServiceProtocol

  public init(name: String, port: Int, protocol: ServiceProtocol) {
    self.name = name
    self.port = port
    self.protocol = `protocol`
  }

  public static func < (lhs: MeshPort, rhs: MeshPort) -> Bool { lhs.port < rhs.port }
}

/// A service of the mesh: one hostname, possibly present in several clusters.
public struct MeshService: Sendable, Hashable {
  /// `NAME.NAMESPACE.svc.DOMAIN_SUFFIX`.
  public var hostname: String
  public var name: String
  public var namespace: String
  /// Ports sorted by number.
  public var ports: [MeshPort]
  /// Cluster IPs (VIPs) per cluster that has the service; a headless service has none.
  public var addresses: [ClusterID: [String]]
  /// The clusters that define this service, sorted.
  public var clusters: [ClusterID]
  /// The Service's labels, from the first cluster (sorted order) that defines it.
  public var labels: [String: String]
  /// The service accounts of the pods behind the service's endpoints in every cluster, sorted, without duplicates
  /// (the identities a client accepts from the server side of mutual TLS).
  public var serviceAccounts: [String]

  public init(
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
  public var allAddresses: [String] {
    Array(Set(addresses.values.joined())).sorted()
  }

  /// The port with number `port`, if the service has one.
  public func port(_ port: Int) -> MeshPort? { ports.first { $0.port == port } }
}

/// Where a workload runs: region, zone and subzone (any may be empty).
public struct Locality: Sendable, Hashable, Comparable, CustomStringConvertible {
  public var region: String
  public var zone: String
  public var subzone: String

  public init(region: String = "", zone: String = "", subzone: String = "") {
    self.region = region
    self.zone = zone
    self.subzone = subzone
  }

  public static func < (lhs: Locality, rhs: Locality) -> Bool {
    (lhs.region, lhs.zone, lhs.subzone) < (rhs.region, rhs.zone, rhs.subzone)
  }

  /// `region/zone/subzone`, Istio's textual form.
  public var description: String { "\(region)/\(zone)/\(subzone)" }
}

/// Health of an endpoint as Envoy's HealthStatus sees it.
public enum EndpointHealth: String, Sendable, Hashable {
  case healthy
  case unhealthy
}

/// One endpoint of one service port, in one cluster.
public struct MeshEndpoint: Sendable, Hashable, Comparable {
  /// The IP address traffic is sent to.
  public var address: String
  /// The port traffic is sent to (the resolved target port).
  public var port: Int
  /// The service port number this endpoint serves.
  public var servicePort: Int
  public var health: EndpointHealth
  public var locality: Locality
  /// Load-balancing weight (1 unless something says otherwise).
  public var weight: UInt32
  /// Network of the endpoint; empty is the default network.
  public var network: String
  /// The pod's `security.istio.io/tlsMode` label (`istio` or `disabled`).
  public var tlsMode: String
  /// The pod's labels, empty when the endpoint has no pod.
  public var labels: [String: String]
  public var serviceAccount: String
  /// The cluster the endpoint was discovered in.
  public var cluster: ClusterID
  /// `namespace/name` of the pod behind the endpoint, empty when unknown.
  public var workload: String

  public init(
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

  public static func < (lhs: MeshEndpoint, rhs: MeshEndpoint) -> Bool {
    (lhs.servicePort, lhs.locality, lhs.address, lhs.port, lhs.cluster)
      < (rhs.servicePort, rhs.locality, rhs.address, rhs.port, rhs.cluster)
  }
}

/// The endpoints of one service, kept as one shard per cluster so a cluster's change replaces only its own shard.
public struct EndpointShards: Sendable, Hashable {
  /// Endpoints per cluster, each list sorted.
  public var shards: [ClusterID: [MeshEndpoint]]

  public init(shards: [ClusterID: [MeshEndpoint]] = [:]) {
    self.shards = shards
  }

  /// Endpoints of every cluster serving `servicePort`, sorted by cluster then endpoint.
  public func endpoints(servicePort: Int) -> [MeshEndpoint] {
    shards.keys.sorted().flatMap { cluster in shards[cluster]!.filter { $0.servicePort == servicePort } }
  }

  /// Every endpoint, of every port and cluster.
  public var all: [MeshEndpoint] { shards.keys.sorted().flatMap { shards[$0]! } }
}
