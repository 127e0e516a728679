import EnvoyAPI
import SextantKube
import SwiftProtobuf
import Testing

@testable import SextantGeneration
@testable import SextantRegistry
@testable import SextantXDS

/// Gateway and split-horizon input that must not produce config Envoy rejects, or crash the process.
@Suite("Gateway robustness")
struct GatewayRobustnessTests {
  typealias F = GatewayFixture

  static func passthroughGateway(port: Int = 15012) -> String {
    """
    apiVersion: networking.istio.io/v1
    kind: Gateway
    metadata: {name: gw, namespace: istio-system}
    spec:
      selector: {istio: eastwestgateway}
      servers:
      - port: {number: \(port), name: tls, protocol: TLS}
        tls: {mode: PASSTHROUGH}
        hosts: ["*"]
    """
  }

  static func virtualService(_ name: String, sniHosts: [String], host: String = "istiod.istio-system.svc.cluster.local")
    -> String
  {
    """
    apiVersion: networking.istio.io/v1
    kind: VirtualService
    metadata: {name: \(name), namespace: istio-system}
    spec:
      hosts: ["*"]
      gateways: [gw]
      tls:
      - match: [{port: 15012, sniHosts: [\(sniHosts.map { "\"\($0)\"" }.joined(separator: ", "))]}]
        route: [{destination: {host: \(host), port: {number: 15012}}}]
    """
  }

  @Test func overlappingSNIRoutesLoseTheNamesAnEarlierChainClaimed() async throws {
    let snapshot = try await F.snapshot(
      [
        Self.passthroughGateway(),
        Self.virtualService("a", sniHosts: ["a.example.com"]),
        Self.virtualService("b", sniHosts: ["a.example.com", "b.example.com"]),
        Self.virtualService("c", sniHosts: ["A.example.com"]),  // the same name, other case: nothing left
        Self.virtualService("d", sniHosts: ["*"]),
        Self.virtualService("e", sniHosts: ["*"]),  // a second catch-all would overlap the first
      ].joined(separator: "\n---\n"))
    let listeners = try ListenerGenerator.generate(
      snapshot: snapshot, view: F.router(), gateway: GatewayPlan(snapshot: snapshot, view: F.router()))
    let listener = try #require(listeners.first { $0.name == "0.0.0.0_15012" })
    let names = listener.filterChains.map(\.filterChainMatch.serverNames)
    #expect(names == [["a.example.com"], ["b.example.com"], []])
    // No name appears twice across chains, and only one chain matches every SNI.
    let all = names.flatMap { $0 }
    #expect(Set(all).count == all.count)
    #expect(names.filter(\.isEmpty).count == 1)
  }

  @Test func sniHostsEnvoyCannotMatchRejectTheVirtualServiceOnly() async throws {
    let snapshot = try await F.snapshot(
      [
        Self.passthroughGateway(),
        Self.virtualService("partial", sniHosts: ["*example.com"]),
        Self.virtualService("spaces", sniHosts: ["a b.example.com"]),
        Self.virtualService("fine", sniHosts: ["*.Example.com", "*.example.com"]),
      ].joined(separator: "\n---\n"))
    let rejected = snapshot.istioConfig.rejected.map { "\($0.name) \($0.field)" }
    #expect(rejected == ["partial spec.tls[0].match[0].sniHosts[0]", "spaces spec.tls[0].match[0].sniHosts[0]"])
    let accepted = try #require(snapshot.istioConfig.virtualServices.first { $0.name == "fine" })
    #expect(accepted.tlsRoutes.first?.matches.first?.sniHosts == ["*.example.com"])
  }

  @Test func splitHorizonWeightsNeverOverflow() {
    // Thirteen networks whose gateway counts are distinct primes: their LCM does not fit in 64 bits.
    let primes = [61, 59, 53, 47, 43, 41, 37, 31, 29, 23, 19, 17, 13]
    var gateways: [String: [NetworkGateway]] = [:]
    var endpoints = [
      MeshEndpoint(address: "10.0.0.1", port: 80, servicePort: 80, weight: UInt32.max, network: "home", cluster: "c0")
    ]
    for (index, count) in primes.enumerated() {
      let network = "n\(index)"
      gateways[network] = (0..<count).map {
        NetworkGateway(network: network, address: "192.0.\(index).\($0 + 1)", port: 15443, source: "test")
      }
      endpoints.append(
        MeshEndpoint(
          address: "10.1.\(index).1", port: 80, servicePort: 80, weight: 1_000_000, network: network, tlsMode: "istio",
          cluster: "c\(index + 1)"))
    }
    let result = SplitHorizon.apply(endpoints, proxyNetwork: "home", topology: NetworkTopology(gateways: gateways))
    #expect(result.count == 1 + primes.reduce(0, +))
    #expect(result.allSatisfy { $0.weight >= 1 })
    #expect(SplitHorizon.lcm(UInt64.max, 2) == nil)
  }

  @Test func splitHorizonScalesWhenTheTotalFits() {
    #expect(SplitHorizon.scale(gatewayCounts: [2, 3], localWeights: [1], remoteWeights: [1, 1]) == 6)
    // 6 × UInt32.max would not fit in Envoy's total: shares are rounded instead.
    #expect(SplitHorizon.scale(gatewayCounts: [2, 3], localWeights: [UInt32.max], remoteWeights: [1]) == 1)
  }

  @Test func cachedGatewayPlansOfOlderIstioConfigArePruned() async throws {
    let registry = MeshRegistry(options: RegistryOptions(resolveHostnameGateways: false))
    func apply(_ manifest: String) async throws -> MeshSnapshot {
      let objects = F.services + (try ObjectDecoder().decode(manifest, path: "config.yaml").objects)
      await registry.apply(cluster: "cluster1", objects: ClusterObjects(objects))
      return registry.current
    }
    let cache = ResourceCache()
    let generator = ConfigGenerator(cache: cache)
    let first = try await apply(
      Self.passthroughGateway() + "\n---\n" + Self.virtualService("a", sniHosts: ["a.example.com"]))
    _ = try generator.resources(.listener, names: [], snapshot: first, view: F.router())
    _ = try generator.resources(.listener, names: [], snapshot: first, view: F.sidecar)
    #expect(cache.statistics.entries == 2)
    let second = try await apply(
      Self.passthroughGateway() + "\n---\n" + Self.virtualService("a", sniHosts: ["b.example.com"]))
    #expect(second.servicesVersion == first.servicesVersion)
    #expect(second.istioConfigVersion > first.istioConfigVersion)
    cache.prune(keeping: second)
    // The router's entry came from older Istio config; the sidecar's does not depend on it.
    #expect(cache.statistics.entries == 1)
    _ = try generator.resources(.listener, names: [], snapshot: second, view: F.sidecar)
    #expect(cache.statistics.entries == 1)
  }
}

extension AdsServerTests {
  static let gatewayObject = KubeObject.gateway(
    IstioGateway(
      metadata: ObjectMeta(name: "gw", namespace: "istio-system"),
      spec: .object([
        "servers": .array([
          .object([
            "port": .object(["number": .number(15443), "protocol": .string("TLS")]),
            "tls": .object(["mode": .string("AUTO_PASSTHROUGH")]),
            "hosts": .array([.string("*")]),
          ])
        ])
      ])))

  static func withGateway(_ objects: ClusterObjects) -> ClusterObjects {
    var copy = objects
    copy.upsert(gatewayObject)
    return copy
  }

  @Test func istioConfigChangePushesRoutersButNotSidecars() async throws {
    // A sidecar: the Gateway appearing is not its concern; the next response it sees is the endpoint push after it.
    try await withHarness { h in
      h.requests.yield(Self.request(.cluster, node: true))
      let cds = try await h.next("CDS response")
      h.requests.yield(Self.request(.cluster, nonce: cds.nonce, version: cds.versionInfo))
      h.requests.yield(Self.request(.endpoint, names: [Self.helloCluster]))
      let eds = try await h.next("EDS response")
      h.requests.yield(Self.request(.endpoint, names: [Self.helloCluster], nonce: eds.nonce, version: eds.versionInfo))
      await h.registry.apply(cluster: "cluster1", objects: Self.withGateway(Self.objects(endpoints: ["10.1.0.1"])))
      await h.registry.apply(
        cluster: "cluster1", objects: Self.withGateway(Self.objects(endpoints: ["10.1.0.1", "10.1.0.2"])))
      let next = try await h.next("EDS push after the endpoint change")
      #expect(next.typeURL == XDSType.endpoint.rawValue)
    }
    // A router: the same change brings its SNI clusters.
    try await withHarness(nodeID: "router~127.0.0.20~gw.istio-system~istio-system.svc.cluster.local") { h in
      h.requests.yield(
        Self.request(.cluster, node: true, nodeID: "router~127.0.0.20~gw.istio-system~istio-system.svc.cluster.local"))
      let cds = try await h.next("CDS response")
      #expect(!cds.resources.isEmpty)
      h.requests.yield(Self.request(.cluster, nonce: cds.nonce, version: cds.versionInfo))
      await h.registry.apply(cluster: "cluster1", objects: Self.withGateway(Self.objects(endpoints: ["10.1.0.1"])))
      let pushed = try await h.next("CDS push after the Gateway appeared")
      #expect(pushed.typeURL == XDSType.cluster.rawValue)
      let names = try pushed.resources.map { try Envoy_Config_Cluster_V3_Cluster(unpackingAny: $0).name }
      #expect(names.contains("outbound_.5000_._.\(Self.hello)"))
    }
  }
}
