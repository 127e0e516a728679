import Foundation
import HummingbirdTesting
import SextantAdmin
import SextantKube
import Testing

/// What each `/debug/*` endpoint lists for the `AdminMesh` mesh, decoded back from its JSON.
///
/// The mirror types below decode with `convertFromSnakeCase`, so a renamed or missing key fails the decoding;
/// `contractKeys` checks the exact key names the end-to-end tests read (Tests/E2E/multicluster_support.py and
/// conftest.py), including keys whose value is null.
@Suite("Debug endpoints")
struct DebugEndpointTests {
  struct ClusterEntry: Decodable, Equatable {
    var id: String
    var state: String
    var reason: String
    var hasSynced: Bool
    var network: String
    var services: Int
    var endpoints: Int
    var objects: [String: Int]
  }

  struct ServiceEntry: Decodable, Equatable {
    struct Port: Decodable, Equatable {
      var name: String
      var port: Int
      var `protocol`: String
    }

    var hostname: String
    var namespace: String
    var ports: [Port]
    var addresses: [String: [String]]
    var clusters: [String]
  }

  struct EndpointEntry: Decodable, Equatable {
    var address: String
    var port: Int
    var servicePort: Int
    var health: String
    var locality: String
    var cluster: String
    var network: String
    var tlsMode: String
    var workload: String
  }

  struct ProxyEntry: Decodable, Equatable {
    struct TypeSync: Decodable, Equatable {
      var status: String
      var sentVersion: String?
      var sentNonce: String?
      var ackedVersion: String?
      var lastNack: String?
      var resourceNames: [String]
    }

    var proxy: String
    var connectionId: String
    var clusterId: String
    var network: String
    var namespace: String
    var identity: String?
    var cds: TypeSync
    var eds: TypeSync
    var lds: TypeSync
    var rds: TypeSync
    var sds: TypeSync
  }

  struct Networkz: Decodable, Equatable {
    struct Network: Decodable, Equatable {
      var network: String
      var clusters: [String]
      var gateways: [Gateway]
      var endpoints: Int
      var unreachable: [String: Int]
    }

    struct Gateway: Decodable, Equatable {
      var address: String
      var port: Int
      var cluster: String
      var source: String
    }

    var multiNetwork: Bool
    var networks: [Network]
  }

  struct Configz: Decodable {
    struct Gateway: Decodable, Equatable {
      var name: String
      var namespace: String
      var cluster: String
      var selector: [String: String]
      var servers: [Server]
    }

    struct Server: Decodable, Equatable {
      var port: Int
      var `protocol`: String
      var hosts: [String]
      var bind: String
      var tlsMode: String?
    }

    var gateways: [Gateway]
    var virtualServices: [[String: String]]
    var rejected: [[String: String]]
    var notServed: [String]
    var shadowed: [String]
  }

  /// The mesh with both clusters loaded and synced, then `c2` reported in error.
  func loadedMesh() async throws -> AdminMesh {
    let mesh = AdminMesh()
    try await mesh.load()
    await mesh.registry.report(cluster: "c2", state: .error, reason: "connection refused")
    return mesh
  }

  /// `nonZero` with every other object kind at 0: clusterz lists every kind.
  func counts(_ nonZero: [String: Int]) -> [String: Int] {
    Dictionary(uniqueKeysWithValues: ObjectKind.allCases.map { ($0.rawValue, nonZero[$0.rawValue] ?? 0) })
  }

  @Test func clusterzListsEachClusterWithItsState() async throws {
    let mesh = try await loadedMesh()
    let clusters = try await AdminApp.monitoring.test(mesh) { client in
      try await client.execute(uri: "/debug/clusterz", method: .get).decode([ClusterEntry].self)
    }
    #expect(
      clusters == [
        ClusterEntry(
          id: "c1", state: "synced", reason: "", hasSynced: true, network: "network1", services: 2, endpoints: 1,
          objects: counts(["Namespace": 2, "Service": 2, "EndpointSlice": 1, "Pod": 1, "Gateway": 1])),
        ClusterEntry(
          id: "c2", state: "error", reason: "connection refused", hasSynced: true, network: "network2", services: 1,
          endpoints: 1, objects: counts(["Namespace": 1, "Service": 1, "EndpointSlice": 1])),
      ])
  }

  @Test func clusterzShowsAClusterStillSyncing() async throws {
    let mesh = AdminMesh()
    try await mesh.load(synced: ["c1"])
    let clusters = try await AdminApp.http.test(mesh) { client in
      try await client.execute(uri: "/debug/clusterz", method: .get).decode([ClusterEntry].self)
    }
    #expect(clusters.map { "\($0.id) \($0.state) \($0.hasSynced)" } == ["c1 synced true", "c2 syncing false"])
  }

  @Test func registryzListsServicesWithEveryClustersAddresses() async throws {
    let mesh = try await loadedMesh()
    let services = try await AdminApp.monitoring.test(mesh) { client in
      try await client.execute(uri: "/debug/registryz", method: .get).decode([ServiceEntry].self)
    }
    #expect(services.map(\.hostname) == [AdminMesh.eastWestGateway, AdminMesh.reviews])
    let reviews = try #require(services.last)
    #expect(
      reviews
        == ServiceEntry(
          hostname: AdminMesh.reviews, namespace: "default",
          ports: [ServiceEntry.Port(name: "http", port: 9080, protocol: "HTTP")],
          addresses: ["c1": ["10.1.0.1"], "c2": ["10.2.0.1"]], clusters: ["c1", "c2"]))
  }

  @Test func endpointzListsEndpointsByHostname() async throws {
    let mesh = try await loadedMesh()
    let endpoints = try await AdminApp.monitoring.test(mesh) { client in
      try await client.execute(uri: "/debug/endpointz", method: .get).decode([String: [EndpointEntry]].self)
    }
    // Every service is listed; the east-west gateway's Service has no EndpointSlice.
    #expect(Set(endpoints.keys) == [AdminMesh.eastWestGateway, AdminMesh.reviews])
    #expect(endpoints[AdminMesh.eastWestGateway] == [])
    let reviews = try #require(endpoints[AdminMesh.reviews])
    #expect(
      reviews.sorted { $0.address < $1.address } == [
        EndpointEntry(
          address: "10.10.0.1", port: 9080, servicePort: 9080, health: "healthy", locality: "/zone-a/", cluster: "c1",
          network: "network1", tlsMode: "istio", workload: "default/reviews-v1"),
        EndpointEntry(
          address: "10.20.0.1", port: 9080, servicePort: 9080, health: "healthy", locality: "//", cluster: "c2",
          network: "network2", tlsMode: "disabled", workload: ""),
      ])
  }

  /// One entry per connection that sent its node; every type is listed, `NOT SENT` with nulls when never sent.
  @Test func synczReportsEachTypesSyncStatusOfEveryIdentifiedProxy() async throws {
    let mesh = try await loadedMesh()
    mesh.connectProxies()
    let proxies = try await AdminApp.monitoring.test(mesh) { client in
      try await client.execute(uri: "/debug/syncz", method: .get).decode([ProxyEntry].self)
    }
    // conn-2 has not sent its node yet: it is not listed.
    let proxy = try #require(proxies.only)
    #expect(proxy.proxy == "sidecar~10.10.0.1~reviews-v1.default~default.svc.cluster.local")
    #expect(proxy.connectionId == "conn-1")
    #expect(proxy.clusterId == "c1")
    #expect(proxy.network == "network1")
    #expect(proxy.namespace == "default")
    #expect(proxy.identity == "spiffe://cluster.local/ns/default/sa/reviews")
    typealias Sync = ProxyEntry.TypeSync
    #expect(
      proxy.cds == Sync(status: "SYNCED", sentVersion: "v1", sentNonce: "n1", ackedVersion: "v1", resourceNames: []))
    #expect(
      proxy.eds
        == Sync(
          status: "STALE", sentVersion: "v1", sentNonce: "n2", resourceNames: ["outbound|9080||\(AdminMesh.reviews)"]))
    #expect(
      proxy.lds
        == Sync(status: "ERROR", sentVersion: "v1", sentNonce: "n3", lastNack: "listener rejected", resourceNames: []))
    #expect(proxy.rds == Sync(status: "NOT SENT", resourceNames: []))
    #expect(proxy.sds == Sync(status: "NOT SENT", resourceNames: []))
  }

  /// No connection is an empty list, not null.
  @Test func synczIsEmptyWithoutConnections() async throws {
    let mesh = try await loadedMesh()
    let count = try await AdminApp.http.test(mesh) { client in
      (try await client.execute(uri: "/debug/syncz", method: .get).json() as? [Any])?.count
    }
    #expect(count == 0)
  }

  @Test func sourcezReportsSourceErrorsByWhere() async throws {
    let mesh = AdminMesh()
    let response = try await AdminApp.monitoring.test(mesh) { client in
      let empty = try await client.execute(uri: "/debug/sourcez", method: .get).decode([String: String].self)
      #expect(empty == [:])
      mesh.sourceErrors.withLock { $0 = ["clusters/c3.yaml": "line 2: mapping values are not allowed here"] }
      return try await client.execute(uri: "/debug/sourcez", method: .get).decode([String: String].self)
    }
    #expect(response == ["clusters/c3.yaml": "line 2: mapping values are not allowed here"])
  }

  /// `network2` has no gateway, so its endpoint is unreachable from `network1`; `network1`'s is mTLS-capable.
  @Test func networkzListsNetworksTheirGatewaysAndUnreachableEndpoints() async throws {
    let mesh = try await loadedMesh()
    let networkz = try await AdminApp.monitoring.test(mesh) { client in
      try await client.execute(uri: "/debug/networkz", method: .get).decode(Networkz.self)
    }
    #expect(
      networkz
        == Networkz(
          multiNetwork: true,
          networks: [
            Networkz.Network(
              network: "network1", clusters: ["c1"],
              gateways: [
                Networkz.Gateway(
                  address: "35.1.0.1", port: 15443, cluster: "c1", source: "Service istio-system/istio-eastwestgateway")
              ],
              endpoints: 1, unreachable: ["no_gateway": 0, "no_mtls": 0]),
            Networkz.Network(
              network: "network2", clusters: ["c2"], gateways: [], endpoints: 1,
              unreachable: ["no_gateway": 1, "no_mtls": 0]),
          ]))
  }

  @Test func configzListsAcceptedGatewaysAndWhatIsNotServed() async throws {
    let mesh = try await loadedMesh()
    let configz = try await AdminApp.monitoring.test(mesh) { client in
      try await client.execute(uri: "/debug/configz", method: .get).decode(Configz.self)
    }
    #expect(
      configz.gateways == [
        Configz.Gateway(
          name: "cross-network-gateway", namespace: "istio-system", cluster: "c1",
          selector: ["istio": "eastwestgateway"],
          servers: [
            Configz.Server(port: 15443, protocol: "TLS", hosts: ["*.local"], bind: "", tlsMode: "AUTO_PASSTHROUGH")
          ])
      ])
    #expect(configz.virtualServices.isEmpty)
    #expect(configz.rejected.isEmpty)
    #expect(configz.notServed.isEmpty)
    #expect(configz.shadowed.isEmpty)
  }

  /// The keys the end-to-end tests read, spelled as written (snake_case), present even when their value is null.
  @Test func contractKeys() async throws {
    let mesh = try await loadedMesh()
    mesh.connectProxies()
    let (clusterz, endpointz, syncz) = try await AdminApp.monitoring.test(mesh) { client in
      (
        try await client.execute(uri: "/debug/clusterz", method: .get).json(),
        try await client.execute(uri: "/debug/endpointz", method: .get).json(),
        try await client.execute(uri: "/debug/syncz", method: .get).json()
      )
    }
    let cluster = try #require((clusterz as? [[String: Any]])?.first)
    #expect(
      Set(cluster.keys) == ["id", "state", "reason", "has_synced", "network", "services", "endpoints", "objects"])
    let endpoint = try #require((endpointz as? [String: [[String: Any]]])?[AdminMesh.reviews]?.first)
    #expect(
      Set(endpoint.keys) == [
        "address", "port", "service_port", "health", "locality", "cluster", "network", "tls_mode", "workload",
      ])
    let proxy = try #require((syncz as? [[String: Any]])?.first)
    #expect(
      Set(proxy.keys) == [
        "proxy", "connection_id", "cluster_id", "network", "namespace", "identity", "cds", "eds", "lds", "rds", "sds",
      ])
    let notSent = try #require(proxy["rds"] as? [String: Any])
    #expect(
      Set(notSent.keys) == ["status", "sent_version", "sent_nonce", "acked_version", "last_nack", "resource_names"])
    #expect(notSent["sent_version"] is NSNull)
    #expect(notSent["last_nack"] is NSNull)
  }
}

extension Array {
  /// The single element, or nil when there are none or several.
  var only: Element? { count == 1 ? first : nil }
}
