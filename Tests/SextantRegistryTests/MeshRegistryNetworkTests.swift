import SextantKube
import Testing

@testable import SextantRegistry

/// How the registry publishes network and Istio config changes.
@Suite("MeshRegistry networks")
struct MeshRegistryNetworkTests {
  let reviews = "reviews.default.svc.cluster.local"
  let options = RegistryOptions(resolveHostnameGateways: false)

  func cluster(network: String, endpoints: [String], gatewayIngress: String? = nil, extra: [KubeObject] = [])
    -> ClusterObjects
  {
    var objects: [KubeObject] = [
      Fx.namespace("istio-system", labels: ["topology.istio.io/network": network]),
      Fx.service("reviews"),
      Fx.slice("reviews-1", service: "reviews", endpoints: endpoints.map { Fx.endpoint($0) }),
    ]
    if let gatewayIngress {
      objects.append(Fx.gatewayService(network: network, ingress: [KubeService.Ingress(ip: gatewayIngress)]))
    }
    return ClusterObjects(objects + extra)
  }

  @Test func gatewayServiceChangesTheNetworks() async {
    let registry = MeshRegistry(options: options)
    let first = await registry.apply(cluster: "c1", objects: cluster(network: "network1", endpoints: ["10.1.0.1"]))
    #expect(!first.networks)
    #expect(!registry.current.networks.isMultiNetwork)
    #expect(registry.current.networksVersion == 0)

    let second = await registry.apply(
      cluster: "c2", objects: cluster(network: "network2", endpoints: ["10.2.0.1"], gatewayIngress: "35.0.0.2"))
    #expect(second.networks)
    let afterGateway = registry.current
    #expect(afterGateway.networksVersion == afterGateway.version)
    #expect(
      afterGateway.networks.gateways(of: "network2") == [
        NetworkGateway(
          network: "network2", address: "35.0.0.2", port: 15443, cluster: "c2",
          source: "Service istio-system/istio-eastwestgateway")
      ])

    // An endpoint change elsewhere leaves the topology and its version alone.
    let endpointsOnly = await registry.apply(
      cluster: "c1", objects: cluster(network: "network1", endpoints: ["10.1.0.1", "10.1.0.2"]))
    #expect(endpointsOnly == SnapshotChange(endpointHostnames: [reviews]))
    #expect(registry.current.networksVersion == afterGateway.networksVersion)
    #expect(registry.current.version > afterGateway.version)

    // The gateway's address moves: a network change, pushed as endpoints only.
    let moved = await registry.apply(
      cluster: "c2", objects: cluster(network: "network2", endpoints: ["10.2.0.1"], gatewayIngress: "35.0.0.20"))
    #expect(moved == SnapshotChange(networks: true))
    #expect(moved.isEndpointOnly && !moved.isFull && !moved.isEmpty)
    #expect(registry.current.networksVersion == registry.current.version)
    #expect(registry.current.networks.gateways(of: "network2").map(\.address) == ["35.0.0.20"])

    // Removing the cluster removes its gateways.
    let removed = await registry.remove(cluster: "c2")
    #expect(removed.networks)
    #expect(!registry.current.networks.isMultiNetwork)
    #expect(registry.current.networks.gateways(of: "network2") == [])
    #expect(registry.current.networksVersion == registry.current.version)
  }

  @Test func sameGatewayFromAnotherApplyIsNoNetworkChange() async {
    let registry = MeshRegistry(options: options)
    await registry.apply(
      cluster: "c2", objects: cluster(network: "network2", endpoints: ["10.2.0.1"], gatewayIngress: "35.0.0.2"))
    let version = registry.current.networksVersion
    // Another cluster without gateways: the topology is recomputed but equal.
    let other = await registry.apply(cluster: "c1", objects: cluster(network: "network1", endpoints: ["10.1.0.1"]))
    #expect(!other.networks)
    #expect(registry.current.networksVersion == version)
  }

  @Test func meshNetworksRegistryServiceNameFollowsTheService() async {
    let meshNetworks = MeshNetworks(networks: [
      "network2": MeshNetworks.Network(
        name: "network2", registries: ["c2"],
        gateways: [
          MeshNetworks.Gateway(
            target: .registryServiceName("istio-eastwestgateway.istio-system.svc.cluster.local"), port: 15443)
        ])
    ])
    let registry = MeshRegistry(options: RegistryOptions(meshNetworks: meshNetworks, resolveHostnameGateways: false))
    func c2(_ ingress: String) -> ClusterObjects {
      ClusterObjects([
        Fx.service("reviews"),
        Fx.slice("reviews-1", service: "reviews", endpoints: [Fx.endpoint("10.2.0.1")]),
        Fx.gatewayService(network: nil, ingress: [KubeService.Ingress(ip: ingress)]),
      ])
    }
    let first = await registry.apply(cluster: "c2", objects: c2("35.0.0.2"))
    #expect(first.networks)
    #expect(
      registry.current.networks.gateways(of: "network2") == [
        NetworkGateway(
          network: "network2", address: "35.0.0.2", port: 15443, cluster: "c2",
          source: "meshNetworks istio-eastwestgateway.istio-system.svc.cluster.local")
      ])
    // fromRegistry puts c2's endpoints on network2.
    #expect(registry.current.endpoints(hostname: reviews, servicePort: 80).map(\.network) == ["network2"])

    let moved = await registry.apply(cluster: "c2", objects: c2("35.0.0.3"))
    #expect(moved.networks)
    #expect(registry.current.networks.gateways(of: "network2").map(\.address) == ["35.0.0.3"])
  }

  static let gatewayYAML = """
    apiVersion: networking.istio.io/v1
    kind: Gateway
    metadata:
      name: cross-network-gateway
      namespace: istio-system
    spec:
      selector:
        istio: eastwestgateway
      servers:
      - port:
          number: PORT
          name: tls
          protocol: TLS
        tls:
          mode: AUTO_PASSTHROUGH
        hosts:
        - "*.local"
    """

  static let badVirtualServiceYAML = """
    apiVersion: networking.istio.io/v1
    kind: VirtualService
    metadata:
      name: broken
      namespace: istio-system
    spec:
      hosts: []
    """

  func config(port: Int, extra: String? = nil) throws -> ClusterObjects {
    var yaml = Self.gatewayYAML.replacing("PORT", with: String(port))
    if let extra { yaml += "\n---\n" + extra }
    return ClusterObjects(try Fx.manifest(yaml) + [Fx.service("reviews")])
  }

  @Test func istioConfigChangesAreReported() async throws {
    let registry = MeshRegistry(options: options)
    let first = await registry.apply(cluster: "config", objects: try config(port: 15443))
    #expect(first.istioConfig)
    #expect(first.isFull)
    #expect(registry.current.istioConfig.gateways.map(\.qualifiedName) == ["istio-system/cross-network-gateway"])
    #expect(registry.current.istioConfig.gateways.first?.servers.map(\.port) == [15443])

    let same = await registry.apply(cluster: "config", objects: try config(port: 15443))
    #expect(same.isEmpty)

    let changed = await registry.apply(cluster: "config", objects: try config(port: 16443))
    #expect(changed == SnapshotChange(istioConfig: true))
    #expect(changed.isFull && !changed.isEndpointOnly)
    #expect(registry.current.istioConfig.gateways.first?.servers.map(\.port) == [16443])

    // A rejected object changes nothing a proxy is sent: no push, the Istio config version stays; it is still listed.
    let version = registry.current.istioConfigVersion
    let rejected = await registry.apply(
      cluster: "config", objects: try config(port: 16443, extra: Self.badVirtualServiceYAML))
    #expect(rejected.isEmpty)
    #expect(registry.current.istioConfigVersion == version)
    #expect(registry.current.istioConfig.rejected.map(\.name) == ["broken"])
    #expect(registry.current.istioConfig.virtualServices.isEmpty)

    // Another cluster's config is merged in, sorted by namespace, name, then cluster.
    let second = await registry.apply(cluster: "another", objects: try config(port: 15443))
    #expect(second.istioConfig)
    #expect(registry.current.istioConfig.gateways.map(\.cluster) == ["another", "config"])

    let removed = await registry.remove(cluster: "config")
    #expect(removed.istioConfig)
    #expect(registry.current.istioConfig.gateways.map(\.cluster) == ["another"])
    #expect(registry.current.istioConfig.rejected.isEmpty)
  }
}

@Suite struct SnapshotChangeNetworkTests {
  @Test func networksAndIstioConfigFlags() {
    #expect(SnapshotChange(networks: true).isEndpointOnly)
    #expect(!SnapshotChange(networks: true).isFull)
    #expect(!SnapshotChange(networks: true).isEmpty)
    #expect(SnapshotChange(istioConfig: true).isFull)
    #expect(!SnapshotChange(istioConfig: true).isEndpointOnly)
    #expect(!SnapshotChange(istioConfig: true).isEmpty)
    #expect(!SnapshotChange(endpointHostnames: ["h"], istioConfig: true).isEndpointOnly)
    #expect(SnapshotChange(services: true).isFull)
    var merged = SnapshotChange(endpointHostnames: ["a"])
    merged.merge(SnapshotChange(networks: true))
    #expect(merged == SnapshotChange(endpointHostnames: ["a"], networks: true))
    merged.merge(SnapshotChange(istioConfig: true))
    #expect(merged == SnapshotChange(endpointHostnames: ["a"], networks: true, istioConfig: true))
    #expect(merged.isFull)
  }
}
