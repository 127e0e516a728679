import EnvoyAPI
import SextantKube
import SextantRegistry
import SwiftProtobuf
import Testing

@testable import SextantGeneration
@testable import SextantXDS

/// Istio's split horizon on endpoint lists (`SplitHorizon`), without generators.
@Suite("SplitHorizon")
struct SplitHorizonTests {
  static let east = Locality(region: "us-east", zone: "us-east-1a")
  static let west = Locality(region: "us-west", zone: "us-west-1b")

  func endpoint(
    _ address: String, network: String, mTLS: Bool = true, weight: UInt32 = 1, locality: Locality = Locality(),
    cluster: ClusterID = "c"
  ) -> MeshEndpoint {
    MeshEndpoint(
      address: address, port: 8080, servicePort: 80, locality: locality, weight: weight, network: network,
      tlsMode: mTLS ? "istio" : "disabled", cluster: cluster)
  }

  func gateway(_ network: String, _ address: String, port: Int = 15443, cluster: ClusterID) -> NetworkGateway {
    NetworkGateway(network: network, address: address, port: port, cluster: cluster, source: "Service istio-system/gw")
  }

  /// What a proxy is sent in place of a remote network's endpoints.
  func gatewayEndpoint(_ gateway: NetworkGateway, weight: UInt32, locality: Locality = Locality()) -> MeshEndpoint {
    MeshEndpoint(
      address: gateway.address, port: gateway.port, servicePort: 80, locality: locality, weight: weight,
      network: gateway.network, tlsMode: "istio", cluster: gateway.cluster)
  }

  var network1Gateway: NetworkGateway { gateway("network1", "35.0.0.1", cluster: "c1") }
  var network2Gateways: [NetworkGateway] {
    [gateway("network2", "35.0.0.2", cluster: "c2"), gateway("network2", "35.0.0.3", port: 16443, cluster: "c2")]
  }
  var network3Gateways: [NetworkGateway] {
    [
      gateway("network3", "35.0.0.4", cluster: "c3"), gateway("network3", "35.0.0.5", cluster: "c3"),
      gateway("network3", "35.0.0.6", cluster: "c3"),
    ]
  }
  var topology: NetworkTopology {
    NetworkTopology(gateways: [
      "network1": [network1Gateway], "network2": network2Gateways, "network3": network3Gateways,
    ])
  }

  @Test func withoutGatewaysEverythingIsSentAsItIs() {
    let endpoints = [
      endpoint("10.1.0.1", network: "network1"), endpoint("10.2.0.1", network: "network2", mTLS: false),
      endpoint("10.9.0.1", network: "network9"),
    ]
    #expect(SplitHorizon.apply(endpoints, proxyNetwork: "network1", topology: .empty) == endpoints)
    #expect(SplitHorizon.apply(endpoints, proxyNetwork: "", topology: .empty) == endpoints)
  }

  @Test func unsetNetworksAreReachedDirectly() {
    let endpoints = [
      endpoint("10.1.0.1", network: "network1"), endpoint("10.2.0.1", network: "network2", mTLS: false),
      endpoint("10.0.0.1", network: "", mTLS: false),
    ]
    // A proxy without a network reaches every endpoint directly.
    #expect(SplitHorizon.apply(endpoints, proxyNetwork: "", topology: topology) == endpoints)
    // An endpoint without a network is reached directly from any network.
    #expect(
      SplitHorizon.apply([endpoint("10.0.0.1", network: "", mTLS: false)], proxyNetwork: "network1", topology: topology)
        == [endpoint("10.0.0.1", network: "", mTLS: false)])
    #expect(SplitHorizon.sameNetwork("", "network1"))
    #expect(SplitHorizon.sameNetwork("network1", ""))
    #expect(SplitHorizon.sameNetwork("network1", "network1"))
    #expect(!SplitHorizon.sameNetwork("network1", "network2"))
  }

  @Test func remoteEndpointsBecomeOneEndpointPerGatewayWithScaledWeights() {
    // network2 has 2 gateways and 3 endpoints of weight 1: LCM 2, so each gateway carries 3 * 2 / 2 = 3 and the
    // local endpoint is scaled to 2.
    let endpoints = [
      endpoint("10.2.0.1", network: "network2"), endpoint("10.1.0.1", network: "network1"),
      endpoint("10.2.0.2", network: "network2"), endpoint("10.2.0.3", network: "network2"),
    ]
    let split = SplitHorizon.apply(endpoints, proxyNetwork: "network1", topology: topology)
    #expect(
      split == [
        endpoint("10.1.0.1", network: "network1", weight: 2),
        gatewayEndpoint(network2Gateways[0], weight: 3),
        gatewayEndpoint(network2Gateways[1], weight: 3),
      ])
    #expect(split[2].port == 16443)
  }

  @Test func leastCommonMultipleOfEveryNetworkInvolved() {
    // network2: 2 gateways, network3: 3 gateways → LCM 6. network2's single endpoint gives 6 / 2 = 3 per gateway;
    // network3's two endpoints give 2 * 6 / 3 = 4 per gateway; local endpoints are multiplied by 6.
    let endpoints = [
      endpoint("10.1.0.1", network: "network1", weight: 1), endpoint("10.1.0.2", network: "network1", weight: 2),
      endpoint("10.2.0.1", network: "network2"),
      endpoint("10.3.0.1", network: "network3"), endpoint("10.3.0.2", network: "network3"),
    ]
    let split = SplitHorizon.apply(endpoints, proxyNetwork: "network1", topology: topology)
    #expect(
      split == [
        endpoint("10.1.0.1", network: "network1", weight: 6), endpoint("10.1.0.2", network: "network1", weight: 12),
        gatewayEndpoint(network2Gateways[0], weight: 3), gatewayEndpoint(network2Gateways[1], weight: 3),
        gatewayEndpoint(network3Gateways[0], weight: 4), gatewayEndpoint(network3Gateways[1], weight: 4),
        gatewayEndpoint(network3Gateways[2], weight: 4),
      ])
  }

  @Test func remoteWeightsAreSummed() {
    let endpoints = [
      endpoint("10.1.0.1", network: "network1", weight: 7),
      endpoint("10.2.0.1", network: "network2", weight: 3), endpoint("10.2.0.2", network: "network2", weight: 5),
    ]
    // From network2, network1 has one gateway: no scaling, the gateway carries 7.
    #expect(
      SplitHorizon.apply(endpoints, proxyNetwork: "network2", topology: topology) == [
        endpoint("10.2.0.1", network: "network2", weight: 3), endpoint("10.2.0.2", network: "network2", weight: 5),
        gatewayEndpoint(network1Gateway, weight: 7),
      ])
    // From network1: (3 + 5) * 2 / 2 = 8 per gateway, local 7 * 2.
    #expect(
      SplitHorizon.apply(endpoints, proxyNetwork: "network1", topology: topology) == [
        endpoint("10.1.0.1", network: "network1", weight: 14),
        gatewayEndpoint(network2Gateways[0], weight: 8), gatewayEndpoint(network2Gateways[1], weight: 8),
      ])
  }

  @Test func endpointsGoThroughTheirOwnClustersGatewaysWhenItHasAny() {
    // network2 spans c2 (one gateway), c3 (two gateways) and c4 (none). c2's endpoints go to c2's gateway only, c3's
    // to c3's two, c4's to all three; the LCM is taken over the lists chosen (1, 2, 3 → 6).
    let c2 = gateway("network2", "35.0.0.2", cluster: "c2")
    let c3 = [gateway("network2", "35.0.0.3", cluster: "c3"), gateway("network2", "35.0.0.4", cluster: "c3")]
    let topology = NetworkTopology(gateways: ["network1": [network1Gateway], "network2": [c2] + c3])
    #expect(topology.gateways(of: "network2", cluster: "c2") == [c2])
    #expect(topology.gateways(of: "network2", cluster: "c4") == [c2] + c3)
    #expect(topology.gateways(of: "network9", cluster: "c2") == [])
    let endpoints = [
      endpoint("10.2.0.1", network: "network2", cluster: "c2"),
      endpoint("10.2.0.2", network: "network2", cluster: "c2"),
      endpoint("10.3.0.1", network: "network2", cluster: "c3"),
      endpoint("10.4.0.1", network: "network2", weight: 3, cluster: "c4"),
    ]
    // c2: 2 * 6 / 1 = 12 to c2's gateway; c3: 6 / 2 = 3 to each of c3's; c4: 3 * 6 / 3 = 6 to each of the three.
    #expect(
      SplitHorizon.apply(endpoints, proxyNetwork: "network1", topology: topology) == [
        gatewayEndpoint(c2, weight: 18), gatewayEndpoint(c3[0], weight: 9), gatewayEndpoint(c3[1], weight: 9),
      ])
  }

  @Test func localitiesStaySeparate() {
    let endpoints = [
      endpoint("10.2.0.1", network: "network2", locality: Self.west),
      endpoint("10.2.0.2", network: "network2", locality: Self.east),
      endpoint("10.2.0.3", network: "network2", locality: Self.east),
      endpoint("10.1.0.1", network: "network1", locality: Self.east),
    ]
    let split = SplitHorizon.apply(endpoints, proxyNetwork: "network1", topology: topology)
    #expect(
      split == [
        endpoint("10.1.0.1", network: "network1", weight: 2, locality: Self.east),
        gatewayEndpoint(network2Gateways[0], weight: 2, locality: Self.east),
        gatewayEndpoint(network2Gateways[1], weight: 2, locality: Self.east),
        gatewayEndpoint(network2Gateways[0], weight: 1, locality: Self.west),
        gatewayEndpoint(network2Gateways[1], weight: 1, locality: Self.west),
      ])
  }

  @Test func unreachableRemoteEndpointsAreDropped() {
    let endpoints = [
      endpoint("10.1.0.1", network: "network1"),
      endpoint("10.2.0.1", network: "network2", mTLS: false),  // no mTLS: the gateway cannot route it by SNI
      endpoint("10.9.0.1", network: "network9"),  // network9 has no gateway
    ]
    // Nothing remote is left, so nothing is scaled either.
    #expect(
      SplitHorizon.apply(endpoints, proxyNetwork: "network1", topology: topology) == [
        endpoint("10.1.0.1", network: "network1")
      ])
    // Only the mTLS endpoint of network2 counts towards its gateways.
    let mixed = endpoints + [endpoint("10.2.0.2", network: "network2")]
    #expect(
      SplitHorizon.apply(mixed, proxyNetwork: "network1", topology: topology) == [
        endpoint("10.1.0.1", network: "network1", weight: 2),
        gatewayEndpoint(network2Gateways[0], weight: 1), gatewayEndpoint(network2Gateways[1], weight: 1),
      ])
    // A proxy on a network of its own sees only gateways and unset networks.
    #expect(
      SplitHorizon.apply(mixed, proxyNetwork: "network9", topology: topology) == [
        endpoint("10.9.0.1", network: "network9", weight: 2),
        gatewayEndpoint(network1Gateway, weight: 2),
        gatewayEndpoint(network2Gateways[0], weight: 1), gatewayEndpoint(network2Gateways[1], weight: 1),
      ])
  }

  @Test func unreachableReasons() {
    #expect(SplitHorizon.unreachable(endpoint("10.9.0.1", network: "network9"), topology: topology) == .noGateway)
    #expect(
      SplitHorizon.unreachable(endpoint("10.9.0.1", network: "network9", mTLS: false), topology: topology) == .noGateway
    )
    #expect(
      SplitHorizon.unreachable(endpoint("10.2.0.1", network: "network2", mTLS: false), topology: topology)
        == .noMutualTLS)
    #expect(SplitHorizon.unreachable(endpoint("10.2.0.1", network: "network2"), topology: topology) == nil)
    #expect(SplitHorizon.unreachable(endpoint("10.0.0.1", network: "", mTLS: false), topology: topology) == nil)
    // Without any gateway nothing is filtered, so nothing is unreachable.
    #expect(SplitHorizon.unreachable(endpoint("10.9.0.1", network: "network9", mTLS: false), topology: .empty) == nil)
  }
}

/// A two-network mesh built through the registry, as the generators see it.
enum SplitFixture {
  static let host = "helloworld.sample.svc.cluster.local"
  static let cluster = "outbound|80||helloworld.sample.svc.cluster.local"
  static let sni = "outbound_.80_._.helloworld.sample.svc.cluster.local"

  static func pod(_ name: String, _ ip: String, mTLS: Bool) -> KubeObject {
    .pod(
      Pod(
        metadata: ObjectMeta(
          name: name, namespace: "sample",
          labels: mTLS ? ["app": "helloworld", "security.istio.io/tlsMode": "istio"] : ["app": "helloworld"]),
        spec: Pod.Spec(serviceAccountName: "helloworld"),
        status: Pod.Status(podIP: ip, phase: "Running")))
  }

  static func gatewayService(network: String, ingress: [String]) -> KubeObject {
    .service(
      KubeService(
        metadata: ObjectMeta(
          name: "istio-eastwestgateway", namespace: "istio-system", labels: ["topology.istio.io/network": network]),
        spec: KubeService.Spec(
          type: "LoadBalancer", clusterIP: "10.96.0.99", ports: [KubeService.Port(name: "tls", port: 15443)]),
        status: KubeService.Status(
          loadBalancer: KubeService.LoadBalancer(ingress: ingress.map { KubeService.Ingress(ip: $0) }))))
  }

  /// helloworld (port 80 → 8080) with `pods` (name, IP, mTLS) on `network`, and a gateway Service when `gateways` is
  /// not empty.
  static func cluster(network: String?, pods: [(String, String, Bool)], gateways: [String]) -> ClusterObjects {
    var objects: [KubeObject] = [
      .namespace(
        Namespace(metadata: ObjectMeta(name: "istio-system", labels: network.map { ["topology.istio.io/network": $0] }))
      ),
      .service(
        KubeService(
          metadata: ObjectMeta(name: "helloworld", namespace: "sample"),
          spec: KubeService.Spec(
            clusterIP: "10.96.0.10", ports: [KubeService.Port(name: "http", port: 80, targetPort: .int(8080))]))),
      .endpointSlice(
        EndpointSlice(
          metadata: ObjectMeta(
            name: "helloworld-1", namespace: "sample", labels: [EndpointSlice.serviceNameLabel: "helloworld"]),
          addressType: "IPv4",
          endpoints: pods.map {
            EndpointSlice.Endpoint(
              addresses: [$0.1], conditions: .init(ready: true),
              targetRef: ObjectReference(kind: "Pod", namespace: "sample", name: $0.0))
          },
          ports: [EndpointSlice.Port(name: "http", port: 8080)])),
    ]
    objects += pods.map { pod($0.0, $0.1, mTLS: $0.2) }
    if let network, !gateways.isEmpty { objects.append(gatewayService(network: network, ingress: gateways)) }
    return ClusterObjects(objects)
  }

  static let registryOptions = RegistryOptions(resolveHostnameGateways: false)

  /// cluster1 (network1): 10.1.0.1 (mTLS), 10.1.0.2 (plaintext), gateway 35.0.0.1.
  static let cluster1 = cluster(
    network: "network1", pods: [("hw-1a", "10.1.0.1", true), ("hw-1b", "10.1.0.2", false)], gateways: ["35.0.0.1"])
  /// cluster2 (network2): 10.2.0.1 and 10.2.0.2 (mTLS), 10.2.0.3 (plaintext), gateways 35.0.0.2 and 35.0.0.3.
  static let cluster2 = cluster(
    network: "network2",
    pods: [("hw-2a", "10.2.0.1", true), ("hw-2b", "10.2.0.2", true), ("hw-2c", "10.2.0.3", false)],
    gateways: ["35.0.0.2", "35.0.0.3"])

  static func registry() async -> MeshRegistry {
    let registry = MeshRegistry(options: registryOptions)
    await registry.apply(cluster: "cluster1", objects: cluster1)
    await registry.apply(cluster: "cluster2", objects: cluster2)
    return registry
  }

  static func sidecar(_ network: String, namespace: String = "sample") -> ProxyView {
    ProxyView(type: .sidecar, namespace: namespace, network: network)
  }

  static func router(_ network: String) -> ProxyView {
    ProxyView(type: .router, namespace: "istio-system", network: network, labels: ["istio": "eastwestgateway"])
  }

  struct Seen: Hashable, CustomStringConvertible {
    var address: String
    var port: UInt32
    var weight: UInt32
    var mTLS: Bool
    var network: String
    var cluster: String
    var description: String { "\(address):\(port) w\(weight)\(mTLS ? " mtls" : "") \(network)/\(cluster)" }
  }

  /// The assignment's endpoints, flattened, with their weights and metadata.
  static func seen(_ assignment: Envoy_Config_Endpoint_V3_ClusterLoadAssignment) -> [Seen] {
    assignment.endpoints.flatMap { group in
      group.lbEndpoints.map { lb in
        let metadata = lb.metadata.filterMetadata
        let istio = metadata["istio"]?.fields ?? [:]
        return Seen(
          address: lb.endpoint.address.socketAddress.address,
          port: lb.endpoint.address.socketAddress.portValue,
          weight: lb.loadBalancingWeight.value,
          mTLS: metadata[EndpointGenerator.transportSocketMatchKey]?.fields["tlsMode"]?.stringValue == "istio",
          network: istio["network"]?.stringValue ?? "",
          cluster: istio["cluster"]?.stringValue ?? "")
      }
    }
  }
}

@Suite("Split-horizon EDS")
struct SplitHorizonEndpointTests {
  typealias S = SplitFixture.Seen

  @Test func sidecarsOnTwoNetworksSeeDifferentAssignments() async throws {
    let snapshot = await SplitFixture.registry().current
    #expect(snapshot.networks.gateways(of: "network2").count == 2)

    let fromNetwork1 = EndpointGenerator.generate(
      snapshot: snapshot, clusterName: SplitFixture.cluster, view: SplitFixture.sidecar("network1"))
    // network2's two mTLS endpoints (weight 2 in all) become 2 gateways of weight 2 * 2 / 2; LCM 2 doubles the locals.
    #expect(
      SplitFixture.seen(fromNetwork1) == [
        S(address: "10.1.0.1", port: 8080, weight: 2, mTLS: true, network: "network1", cluster: "cluster1"),
        S(address: "10.1.0.2", port: 8080, weight: 2, mTLS: false, network: "network1", cluster: "cluster1"),
        S(address: "35.0.0.2", port: 15443, weight: 2, mTLS: true, network: "network2", cluster: "cluster2"),
        S(address: "35.0.0.3", port: 15443, weight: 2, mTLS: true, network: "network2", cluster: "cluster2"),
      ])
    #expect(fromNetwork1.endpoints.count == 1)
    #expect(fromNetwork1.endpoints.first?.loadBalancingWeight.value == 8)

    let fromNetwork2 = EndpointGenerator.generate(
      snapshot: snapshot, clusterName: SplitFixture.cluster, view: SplitFixture.sidecar("network2"))
    #expect(
      SplitFixture.seen(fromNetwork2) == [
        S(address: "10.2.0.1", port: 8080, weight: 1, mTLS: true, network: "network2", cluster: "cluster2"),
        S(address: "10.2.0.2", port: 8080, weight: 1, mTLS: true, network: "network2", cluster: "cluster2"),
        S(address: "10.2.0.3", port: 8080, weight: 1, mTLS: false, network: "network2", cluster: "cluster2"),
        S(address: "35.0.0.1", port: 15443, weight: 1, mTLS: true, network: "network1", cluster: "cluster1"),
      ])
    #expect(fromNetwork2.clusterName == SplitFixture.cluster)

    // A proxy without a network reaches everything directly.
    let unset = EndpointGenerator.generate(
      snapshot: snapshot, clusterName: SplitFixture.cluster, view: SplitFixture.sidecar(""))
    #expect(SplitFixture.seen(unset).map(\.address) == ["10.1.0.1", "10.1.0.2", "10.2.0.1", "10.2.0.2", "10.2.0.3"])
    #expect(SplitFixture.seen(unset).allSatisfy { $0.weight == 1 })
  }

  @Test func gatewaySNIClusterHasOnlyLocalMutualTLSEndpoints() async throws {
    let snapshot = await SplitFixture.registry().current
    let onNetwork2 = EndpointGenerator.generate(
      snapshot: snapshot, clusterName: SplitFixture.sni, view: SplitFixture.router("network2"))
    #expect(onNetwork2.clusterName == SplitFixture.sni)
    #expect(
      SplitFixture.seen(onNetwork2) == [
        S(address: "10.2.0.1", port: 8080, weight: 1, mTLS: true, network: "network2", cluster: "cluster2"),
        S(address: "10.2.0.2", port: 8080, weight: 1, mTLS: true, network: "network2", cluster: "cluster2"),
      ])
    let onNetwork1 = EndpointGenerator.generate(
      snapshot: snapshot, clusterName: SplitFixture.sni, view: SplitFixture.router("network1"))
    #expect(SplitFixture.seen(onNetwork1).map(\.address) == ["10.1.0.1"])
    // A port the service does not have, or an unknown host: answered, empty.
    let otherPort = EndpointGenerator.generate(
      snapshot: snapshot, clusterName: "outbound_.81_._.helloworld.sample.svc.cluster.local",
      view: SplitFixture.router("network1"))
    #expect(otherPort.endpoints.isEmpty)
    let unknown = EndpointGenerator.generate(
      snapshot: snapshot, clusterName: "outbound_.80_._.nothing.sample.svc.cluster.local",
      view: SplitFixture.router("network1"))
    #expect(unknown.endpoints.isEmpty && unknown.clusterName == "outbound_.80_._.nothing.sample.svc.cluster.local")
  }

  @Test func sniNamesParse() {
    let parsed = ResourceNames.parseOutboundSNI("outbound_.15443_.v1_.helloworld.sample.svc.cluster.local")
    #expect(parsed?.port == 15443 && parsed?.subset == "v1" && parsed?.host == "helloworld.sample.svc.cluster.local")
    #expect(ResourceNames.parseOutboundSNI(SplitFixture.sni)?.subset == "")
    #expect(ResourceNames.parseOutboundSNI("outbound_.0_._.h") == nil)
    #expect(ResourceNames.parseOutboundSNI("outbound_.x_._.h") == nil)
    #expect(ResourceNames.parseOutboundSNI("outbound_.80_._.") == nil)
    #expect(ResourceNames.parseOutboundSNI(SplitFixture.cluster) == nil)
    #expect(ResourceNames.endpointHost(SplitFixture.sni) == SplitFixture.host)
    #expect(ResourceNames.endpointHost(SplitFixture.cluster) == SplitFixture.host)
    #expect(ResourceNames.endpointHost("inbound|80||") == nil)
  }

  @Test func withoutGatewaysEveryProxySeesEveryEndpoint() async throws {
    let registry = MeshRegistry(options: SplitFixture.registryOptions)
    await registry.apply(
      cluster: "cluster1",
      objects: SplitFixture.cluster(network: "network1", pods: [("a", "10.1.0.1", true)], gateways: []))
    await registry.apply(
      cluster: "cluster2",
      objects: SplitFixture.cluster(network: "network2", pods: [("b", "10.2.0.1", false)], gateways: []))
    let snapshot = registry.current
    #expect(!snapshot.networks.isMultiNetwork)
    let seen = SplitFixture.seen(
      EndpointGenerator.generate(
        snapshot: snapshot, clusterName: SplitFixture.cluster, view: SplitFixture.sidecar("network1")))
    #expect(seen.map(\.address) == ["10.1.0.1", "10.2.0.1"])
    #expect(snapshot.unreachableEndpoints().isEmpty)
  }

  @Test func unreachableEndpointsCountedByNetworkAndReason() async throws {
    let registry = MeshRegistry(options: SplitFixture.registryOptions)
    // network1 has a gateway; its plaintext endpoint cannot be reached from elsewhere.
    await registry.apply(cluster: "cluster1", objects: SplitFixture.cluster1)
    // network3 has no gateway at all.
    await registry.apply(
      cluster: "cluster3",
      objects: SplitFixture.cluster(
        network: "network3", pods: [("c", "10.3.0.1", true), ("d", "10.3.0.2", false)], gateways: []))
    // No network: always reachable.
    await registry.apply(
      cluster: "cluster4", objects: SplitFixture.cluster(network: nil, pods: [("e", "10.4.0.1", false)], gateways: []))
    let counts = registry.current.unreachableEndpoints()
    #expect(counts == ["network1": [.noMutualTLS: 1], "network3": [.noGateway: 2]])
  }

  @Test func edsCacheIsSharedPerNetwork() async throws {
    let registry = await SplitFixture.registry()
    let snapshot = registry.current
    let generator = ConfigGenerator()
    let a = try generator.resources(
      .endpoint, names: [SplitFixture.cluster], snapshot: snapshot, view: SplitFixture.sidecar("network1"))
    #expect(generator.cache.statistics.misses == 1 && generator.cache.statistics.hits == 0)
    // Another proxy on network1 (another namespace even): the same entry.
    let b = try generator.resources(
      .endpoint, names: [SplitFixture.cluster], snapshot: snapshot,
      view: SplitFixture.sidecar("network1", namespace: "other"))
    #expect(a == b)
    #expect(generator.cache.statistics.hits == 1 && generator.cache.statistics.misses == 1)
    // A proxy on network2: a different assignment, a miss.
    let c = try generator.resources(
      .endpoint, names: [SplitFixture.cluster], snapshot: snapshot, view: SplitFixture.sidecar("network2"))
    #expect(c != a)
    #expect(generator.cache.statistics.hits == 1 && generator.cache.statistics.misses == 2)
    #expect(generator.cache.statistics.entries == 2)

    // The gateways of network2 move: the topology's version changes, cached assignments are dropped and rebuilt.
    await registry.apply(
      cluster: "cluster2",
      objects: SplitFixture.cluster(
        network: "network2",
        pods: [("hw-2a", "10.2.0.1", true), ("hw-2b", "10.2.0.2", true), ("hw-2c", "10.2.0.3", false)],
        gateways: ["35.0.0.9"]))
    let moved = registry.current
    #expect(moved.networksVersion > snapshot.networksVersion)
    #expect(moved.endpointVersions[SplitFixture.host] == snapshot.endpointVersions[SplitFixture.host])
    generator.cache.prune(keeping: moved)
    #expect(generator.cache.statistics.entries == 0)
    let after = try generator.resources(
      .endpoint, names: [SplitFixture.cluster], snapshot: moved, view: SplitFixture.sidecar("network1"))
    #expect(generator.cache.statistics.misses == 3)
    let assignment = try Envoy_Config_Endpoint_V3_ClusterLoadAssignment(
      unpackingAny: try #require(after.first).resource)
    // One gateway now: no scaling; network2's two mTLS endpoints weigh 2 on it.
    #expect(
      SplitFixture.seen(assignment).map(\.description) == [
        "10.1.0.1:8080 w1 mtls network1/cluster1", "10.1.0.2:8080 w1 network1/cluster1",
        "35.0.0.9:15443 w2 mtls network2/cluster2",
      ])
  }
}

/// `meshNetworks` inside the mesh config file.
@Suite("MeshConfig meshNetworks")
struct MeshConfigNetworksTests {
  @Test func meshNetworksKeyIsRead() throws {
    let mesh = try MeshConfig(
      yaml: """
        trustDomain: example.org
        meshNetworks:
          networks:
            network1:
              endpoints:
              - fromRegistry: cluster1
              - fromCidr: 10.1.0.0/16
              gateways:
              - address: 192.0.2.1
                port: 15443
            network2:
              endpoints:
              - fromRegistry: cluster2
              gateways:
              - registryServiceName: istio-eastwestgateway.istio-system.svc.cluster.local
                port: 15443
        """, source: "mesh.yaml")
    #expect(mesh.trustDomain == "example.org")
    #expect(
      mesh.meshNetworks
        == MeshNetworks(networks: [
          "network1": MeshNetworks.Network(
            name: "network1", registries: ["cluster1"], ranges: [IPRange("10.1.0.0/16")!],
            gateways: [MeshNetworks.Gateway(target: .address("192.0.2.1"), port: 15443)]),
          "network2": MeshNetworks.Network(
            name: "network2", registries: ["cluster2"],
            gateways: [
              MeshNetworks.Gateway(
                target: .registryServiceName("istio-eastwestgateway.istio-system.svc.cluster.local"), port: 15443)
            ]),
        ]))
    #expect(MeshConfig.defaults.meshNetworks == .none)
  }

  func error(_ yaml: String) -> ConfigFileError? {
    do {
      _ = try MeshConfig(yaml: yaml, source: "mesh.yaml")
      return nil
    } catch {
      return error
    }
  }

  @Test func errorsNameTheFullKeyPathAndLine() throws {
    let port = try #require(
      error(
        """
        trustDomain: example.org
        meshNetworks:
          networks:
            network1:
              gateways:
              - address: 192.0.2.1
                port: 70000
        """))
    #expect(port.key == "meshNetworks.networks.network1.gateways[0].port")
    #expect(port.line == 7)
    #expect(port.source == "mesh.yaml")
    #expect(port.code == .invalidMeshConfig)
    #expect(port.description.hasPrefix("mesh.yaml:7: meshNetworks.networks.network1.gateways[0].port: "))

    let unknown = try #require(error("meshNetworks:\n  netwrks: {}\n"))
    #expect(unknown.key == "meshNetworks.netwrks")
    #expect(unknown.line == 2)

    let cidr = try #require(
      error("meshNetworks:\n  networks:\n    n1:\n      endpoints:\n      - fromCidr: 10.0.0.0/40\n"))
    #expect(cidr.key == "meshNetworks.networks.n1.endpoints[0].fromCidr")
    #expect(cidr.line == 5)
  }
}
