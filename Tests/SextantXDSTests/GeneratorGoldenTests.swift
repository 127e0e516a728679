import EnvoyAPI
import Foundation
import SextantKube
import SextantRegistry
import SwiftProtobuf
import Testing

@testable import SextantGeneration
@testable import SextantXDS

/// Generator output for a small two-cluster fixture, compared with readable JSON files in Golden/.
///
/// To accept a deliberate change, run the tests with SEXTANT_UPDATE_GOLDEN=1 and review the diff of Golden/.
@Suite struct GeneratorGoldenTests {
  static func fixture() async -> MeshSnapshot {
    func service(_ name: String, _ vip: String, _ ports: [KubeService.Port]) -> KubeObject {
      .service(
        KubeService(
          metadata: ObjectMeta(name: name, namespace: "sample"),
          spec: KubeService.Spec(clusterIP: vip, ports: ports)
        )
      )
    }
    func slice(_ name: String, service: String, ports: [EndpointSlice.Port], addresses: [String]) -> KubeObject {
      .endpointSlice(
        EndpointSlice(
          metadata: ObjectMeta(name: name, namespace: "sample", labels: [EndpointSlice.serviceNameLabel: service]),
          addressType: "IPv4",
          endpoints: addresses.map { EndpointSlice.Endpoint(addresses: [$0], conditions: .init(ready: true)) },
          ports: ports
        )
      )
    }
    let helloPorts = [KubeService.Port(name: "http", port: 5000, targetPort: .string("http"))]
    let cluster1 = ClusterObjects([
      .namespace(Namespace(metadata: ObjectMeta(name: "sample"))),
      service("helloworld", "10.96.0.10", helloPorts),
      slice("helloworld-abc", service: "helloworld", ports: [.init(name: "http", port: 8080)], addresses: ["10.1.0.1"]),
      service("ratings", "10.96.0.11", [KubeService.Port(name: "grpc-api", port: 9090, targetPort: .int(9090))]),
      slice("ratings-abc", service: "ratings", ports: [.init(name: "grpc-api", port: 9090)], addresses: ["10.1.0.2"]),
      service("db", "10.96.0.12", [KubeService.Port(name: "tcp", port: 3306, targetPort: .int(3306))]),
      slice("db-abc", service: "db", ports: [.init(name: "tcp", port: 3306)], addresses: ["10.1.0.3"]),
    ])
    func meshPod(_ name: String, _ ip: String) -> KubeObject {
      .pod(
        Pod(
          metadata: ObjectMeta(
            name: name, namespace: "sample",
            labels: ["app": "helloworld", "security.istio.io/tlsMode": "istio"]),
          spec: Pod.Spec(serviceAccountName: "helloworld"),
          status: Pod.Status(podIP: ip, phase: "Running")
        )
      )
    }
    let cluster2 = ClusterObjects([
      .namespace(Namespace(metadata: ObjectMeta(name: "sample"))),
      service("helloworld", "10.97.0.10", helloPorts),
      slice(
        "helloworld-xyz", service: "helloworld", ports: [.init(name: "http", port: 8081)],
        addresses: ["10.2.0.1", "10.2.0.2"]),
      meshPod("helloworld-v2-a", "10.2.0.1"),
      meshPod("helloworld-v2-b", "10.2.0.2"),
    ])
    let registry = MeshRegistry()
    _ = await registry.apply(cluster: "cluster1", objects: cluster1)
    _ = await registry.apply(cluster: "cluster2", objects: cluster2)
    return registry.current
  }

  static let none = ProxyView(type: .sidecar, namespace: "sample", interceptionMode: .none, ipAddress: "127.0.0.10")
  /// The sidecar of helloworld-v2-a (cluster2): it has an inbound port.
  static let workload = ProxyView(
    type: .sidecar, namespace: "sample", interceptionMode: .none, ipAddress: "10.2.0.1", clusterID: "cluster2")
  static let redirect = ProxyView(type: .sidecar, namespace: "other", interceptionMode: .redirect)

  @Test func clusters() async throws {
    let snapshot = await Self.fixture()
    try assertGolden("cds.json", try ClusterGenerator.generate(snapshot: snapshot, view: Self.none))
  }

  @Test func endpoints() async throws {
    let snapshot = await Self.fixture()
    let assignment = EndpointGenerator.generate(
      snapshot: snapshot,
      clusterName: "outbound|5000||helloworld.sample.svc.cluster.local",
      view: Self.none
    )
    try assertGolden("eds-helloworld.json", [assignment])
    let unknown = EndpointGenerator.generate(snapshot: snapshot, clusterName: "outbound|1||nothing", view: Self.none)
    #expect(unknown.clusterName == "outbound|1||nothing")
    #expect(unknown.endpoints.isEmpty)
  }

  @Test func listenersWithoutCapture() async throws {
    let snapshot = await Self.fixture()
    try assertGolden("lds-none.json", try ListenerGenerator.generate(snapshot: snapshot, view: Self.none))
  }

  @Test func listenersWithCapture() async throws {
    let snapshot = await Self.fixture()
    try assertGolden("lds-redirect.json", try ListenerGenerator.generate(snapshot: snapshot, view: Self.redirect))
  }

  @Test func inboundPlanFindsTheProxysOwnMeshEndpoints() async throws {
    let snapshot = await Self.fixture()
    let plan = InboundPlan(snapshot: snapshot, view: Self.workload)
    #expect(plan.ports == [.init(port: 8081, services: ["helloworld.sample.svc.cluster.local:5000"])])
    // Same address in another cluster, or a proxy without a mesh endpoint: nothing inbound.
    var elsewhere = Self.workload
    elsewhere.clusterID = "cluster1"
    #expect(InboundPlan(snapshot: snapshot, view: elsewhere) == .none)
    #expect(InboundPlan(snapshot: snapshot, view: Self.none) == .none)
    // cluster1's helloworld endpoint has no pod, so no tlsMode: not a mesh workload.
    let plain = ProxyView(type: .sidecar, namespace: "sample", interceptionMode: .none, ipAddress: "10.1.0.1")
    #expect(InboundPlan(snapshot: snapshot, view: plain) == .none)
  }

  @Test func inboundPlanOnlyCountsTheCallersOwnWorkload() async throws {
    let snapshot = await Self.fixture()
    var otherNamespace = Self.workload
    otherNamespace.namespace = "other"
    #expect(InboundPlan(snapshot: snapshot, view: otherNamespace) == .none)
    var otherAccount = Self.workload
    otherAccount.serviceAccount = "someone-else"
    #expect(InboundPlan(snapshot: snapshot, view: otherAccount) == .none)
    var ownAccount = Self.workload
    ownAccount.serviceAccount = "helloworld"
    #expect(InboundPlan(snapshot: snapshot, view: ownAccount).portNumbers == [8081])
    var captured = Self.workload
    captured.interceptionMode = .redirect
    #expect(InboundPlan(snapshot: snapshot, view: captured).portNumbers == [8081])
    let router = ProxyView(type: .router, namespace: "sample", interceptionMode: .none, ipAddress: "10.2.0.1")
    #expect(InboundPlan(snapshot: snapshot, view: router) == .none)
  }

  @Test func capturedWorkloadSidecarGetsVirtualInbound() async throws {
    let snapshot = await Self.fixture()
    var view = Self.workload
    view.interceptionMode = .redirect
    let plan = InboundPlan(snapshot: snapshot, view: view)
    let clusters = try ClusterGenerator.generate(snapshot: snapshot, view: view, inbound: plan)
    try assertGolden(
      "cds-inbound-captured.json",
      clusters.filter { $0.name.hasPrefix("inbound|") || $0.name == ResourceNames.inboundPassthroughCluster })
    let listeners = try ListenerGenerator.generate(snapshot: snapshot, view: view, inbound: plan)
    try assertGolden("lds-virtual-inbound.json", listeners.filter { $0.name == ResourceNames.virtualInbound })
  }

  @Test func streamsWithoutCertificatesGetPlaintextConfig() async throws {
    let snapshot = await Self.fixture()
    var view = Self.workload
    view.mutualTLS = false
    let plan = InboundPlan(snapshot: snapshot, view: view)
    let clusters = try ClusterGenerator.generate(snapshot: snapshot, view: view, inbound: plan)
    #expect(clusters.allSatisfy { $0.transportSocketMatches.isEmpty })
    let listeners = try ListenerGenerator.generate(snapshot: snapshot, view: view, inbound: plan)
    let inbound = try #require(listeners.first { $0.trafficDirection == .inbound })
    #expect(inbound.filterChains.map(\.filterChainMatch.transportProtocol) == ["raw_buffer"])
    // The cache tells the two apart.
    let generator = ConfigGenerator()
    let plain = try generator.resources(.cluster, names: [], snapshot: snapshot, view: view, inbound: plan)
    let mutual = try generator.resources(.cluster, names: [], snapshot: snapshot, view: Self.workload, inbound: plan)
    #expect(plain != mutual)
  }

  @Test func workloadSidecarGetsInboundClusterAndMutualTLSListener() async throws {
    let snapshot = await Self.fixture()
    let plan = InboundPlan(snapshot: snapshot, view: Self.workload)
    let clusters = try ClusterGenerator.generate(snapshot: snapshot, view: Self.workload, inbound: plan)
    try assertGolden("cds-inbound.json", clusters.filter { $0.name.hasPrefix("inbound|") })
    try assertGolden(
      "lds-inbound.json", try ListenerGenerator.generate(snapshot: snapshot, view: Self.workload, inbound: plan))
  }

  @Test func outboundClustersMatchTheServiceAccountsOfTheService() async throws {
    let snapshot = await Self.fixture()
    #expect(snapshot.services["helloworld.sample.svc.cluster.local"]?.serviceAccounts == ["helloworld"])
    #expect(snapshot.services["db.sample.svc.cluster.local"]?.serviceAccounts == [])
    var mesh = MeshConfig()
    mesh.trustDomain = "example.org"
    let clusters = try ClusterGenerator.generate(snapshot: snapshot, view: Self.none, mesh: mesh)
    let hello = try #require(clusters.first { $0.name == "outbound|5000||helloworld.sample.svc.cluster.local" })
    #expect(hello.transportSocketMatches.map(\.name) == [MutualTLS.matchIstio, MutualTLS.matchDisabled])
    let context = try Envoy_Extensions_TransportSockets_Tls_V3_UpstreamTlsContext(
      unpackingAny: hello.transportSocketMatches[0].transportSocket.typedConfig)
    #expect(context.sni == "outbound_.5000_._.helloworld.sample.svc.cluster.local")
    #expect(
      context.commonTlsContext.combinedValidationContext.defaultValidationContext.matchTypedSubjectAltNames.map(
        \.matcher.exact)
        == ["spiffe://example.org/ns/sample/sa/helloworld"])
  }

  @Test func routesFromTheProxysNamespace() async throws {
    let snapshot = await Self.fixture()
    try assertGolden("rds-5000.json", [RouteGenerator.generate(snapshot: snapshot, routeName: "5000", view: Self.none)])
    let other = RouteGenerator.generate(snapshot: snapshot, routeName: "5000", view: Self.redirect)
    #expect(!other.virtualHosts[0].domains.contains("helloworld"))
    #expect(other.virtualHosts[0].domains.contains("helloworld.sample"))
  }

  @Test func registryOnlyRoutesUnknownTrafficToTheBlackHole() async throws {
    let snapshot = await Self.fixture()
    var mesh = MeshConfig()
    mesh.outboundTrafficPolicy = .registryOnly
    let route = RouteGenerator.generate(snapshot: snapshot, routeName: "5000", view: Self.none, mesh: mesh)
    #expect(route.virtualHosts.last?.name == "block_all")
    #expect(route.virtualHosts.last?.routes.first?.route.cluster == ResourceNames.blackHoleCluster)
  }

  @Test func cacheSharesOutputAndNamesEveryInput() async throws {
    let snapshot = await Self.fixture()
    let generator = ConfigGenerator()
    let a = try generator.resources(.route, names: ["5000"], snapshot: snapshot, view: Self.none)
    let b = try generator.resources(.route, names: ["5000"], snapshot: snapshot, view: Self.none)
    #expect(a == b)
    #expect(generator.cache.statistics.hits == 1)
    // Another namespace sees other short names: a distinct entry, not a stale hit.
    let c = try generator.resources(.route, names: ["5000"], snapshot: snapshot, view: Self.redirect)
    #expect(c != a)
    #expect(generator.cache.statistics.misses == 2)
  }

  // MARK: - Golden files

  func assertGolden(_ name: String, _ messages: [some SwiftProtobuf.Message]) throws {
    let actual = try Self.render(messages)
    let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden/\(name)")
    if ProcessInfo.processInfo.environment["SEXTANT_UPDATE_GOLDEN"] != nil {
      try actual.write(to: url, atomically: true, encoding: .utf8)
      return
    }
    let expected = try String(contentsOf: url, encoding: .utf8)
    #expect(
      actual == expected, "generator output differs from Golden/\(name); rerun with SEXTANT_UPDATE_GOLDEN=1 to accept")
  }

  /// The messages generators pack into `typed_config` and `transport_socket` Anys. Generators serialize an Any once,
  /// as bytes; turning those bytes back into JSON needs their type, found by URL among registered types.
  static let packedTypes: Bool = {
    let types: [any SwiftProtobuf.Message.Type] = [
      Envoy_Extensions_Filters_Http_Router_V3_Router.self,
      Envoy_Extensions_Filters_Listener_OriginalDst_V3_OriginalDst.self,
      Envoy_Extensions_Filters_Listener_TlsInspector_V3_TlsInspector.self,
      Envoy_Extensions_Filters_Network_HttpConnectionManager_V3_HttpConnectionManager.self,
      Envoy_Extensions_Filters_Network_TcpProxy_V3_TcpProxy.self,
      Envoy_Extensions_TransportSockets_RawBuffer_V3_RawBuffer.self,
      Envoy_Extensions_TransportSockets_Tls_V3_DownstreamTlsContext.self,
      Envoy_Extensions_TransportSockets_Tls_V3_UpstreamTlsContext.self,
      Envoy_Extensions_TransportSockets_Tls_V3_Secret.self,
      Envoy_Extensions_Upstreams_Http_V3_HttpProtocolOptions.self,
    ]
    for type in types { Google_Protobuf_Any.register(messageType: type) }
    return true
  }()

  /// Pretty, key-sorted JSON with Envoy's field names (as in its docs and config dumps), so a person can read the golden files and their diffs.
  static func render(_ messages: [some SwiftProtobuf.Message]) throws -> String {
    precondition(packedTypes)
    let objects = try messages.map { message in
      var options = JSONEncodingOptions()
      options.preserveProtoFieldNames = true
      return try JSONSerialization.jsonObject(with: Data(try message.jsonString(options: options).utf8))
    }
    let data = try JSONSerialization.data(
      withJSONObject: objects, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
    return String(decoding: data, as: UTF8.self) + "\n"
  }
}
