/// Endpoints of the registry: where a workload runs, its health, and the shards that hold endpoints per cluster.

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
