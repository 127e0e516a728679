import SextantKube
import Testing

@testable import SextantRegistry

/// Endpoint networks: pod label > system-namespace label > meshNetworks `fromRegistry` > meshNetworks `fromCidr` > ""
/// (istiod's order).
@Suite("Endpoint networks")
struct EndpointNetworkTests {
  let host = "reviews.default.svc.cluster.local"

  /// cidr: 10.1.0.0/16 is net-cidr; registry: cluster c1 is net-registry.
  let options = RegistryOptions(
    meshNetworks: MeshNetworks(networks: [
      "net-cidr": MeshNetworks.Network(name: "net-cidr", ranges: [IPRange("10.1.0.0/16")!]),
      "net-registry": MeshNetworks.Network(name: "net-registry", registries: ["c1"]),
    ]))

  /// reviews with four endpoints: a pod labelled net-pod, a pod with an empty network label (both in the CIDR), a
  /// bare address in the CIDR and a bare address outside it.
  func objects(_ extra: [KubeObject] = []) -> [KubeObject] {
    [
      Fx.service("reviews"),
      Fx.slice(
        "reviews-1", service: "reviews",
        endpoints: [
          Fx.endpoint("10.1.0.1", pod: "labelled"), Fx.endpoint("10.1.0.2", pod: "empty-label"),
          Fx.endpoint("10.1.0.3"), Fx.endpoint("10.9.0.1"),
        ]),
      Fx.pod("labelled", ip: "10.1.0.1", labels: ["topology.istio.io/network": "net-pod"]),
      Fx.pod("empty-label", ip: "10.1.0.2", labels: ["topology.istio.io/network": ""]),
    ] + extra
  }

  func networks(_ view: ClusterView) -> [String: String] {
    Dictionary(uniqueKeysWithValues: view.endpoints[host]!.map { ($0.address, $0.network) })
  }

  @Test func meshNetworksApplyBelowLabels() {
    let view = Fx.build(objects(), cluster: "c1", options: options)
    #expect(
      networks(view) == [
        "10.1.0.1": "net-pod",  // pod label wins over everything
        "10.1.0.2": "net-registry",  // an empty label is no label: the cluster's fromRegistry network applies
        "10.1.0.3": "net-registry",  // fromRegistry beats fromCidr, as in istiod
        "10.9.0.1": "net-registry",
      ])
    #expect(view.networkOfCluster == "net-registry")
  }

  @Test func clusterWithoutRegistryNetworkFallsBackToDefault() {
    let view = Fx.build(objects(), cluster: "c2", options: options)
    #expect(networks(view) == ["10.1.0.1": "net-pod", "10.1.0.2": "net-cidr", "10.1.0.3": "net-cidr", "10.9.0.1": ""])
    #expect(view.networkOfCluster == "")
  }

  @Test func systemNamespaceLabelBeatsMeshNetworks() {
    let view = Fx.build(
      objects([Fx.namespace("istio-system", labels: ["topology.istio.io/network": "net-ns"])]), cluster: "c1",
      options: options)
    #expect(
      networks(view) == ["10.1.0.1": "net-pod", "10.1.0.2": "net-ns", "10.1.0.3": "net-ns", "10.9.0.1": "net-ns"])
    #expect(view.networkOfCluster == "net-ns")
  }

  @Test func onlyTheSystemNamespaceLabelCounts() {
    // The label on another namespace (even the endpoints' own) is not the cluster's network.
    let other = Fx.build(
      objects([
        Fx.namespace("default", labels: ["topology.istio.io/network": "net-default"]), Fx.namespace("istio-system"),
      ]),
      cluster: "c2", options: .defaults)
    #expect(networks(other) == ["10.1.0.1": "net-pod", "10.1.0.2": "", "10.1.0.3": "", "10.9.0.1": ""])

    // A custom system namespace: its label counts, istio-system's does not.
    let custom = Fx.build(
      objects([
        Fx.namespace("istio-system", labels: ["topology.istio.io/network": "ignored"]),
        Fx.namespace("mesh-system", labels: ["topology.istio.io/network": "net-mesh"]),
      ]),
      cluster: "c2", options: RegistryOptions(systemNamespace: "mesh-system"))
    #expect(
      networks(custom) == [
        "10.1.0.1": "net-pod", "10.1.0.2": "net-mesh", "10.1.0.3": "net-mesh", "10.9.0.1": "net-mesh",
      ])
    #expect(custom.networkOfCluster == "net-mesh")
  }

  @Test func withoutAnyDeclarationEveryEndpointIsOnTheDefaultNetwork() {
    let view = Fx.build(objects(), cluster: "c1", options: .defaults)
    #expect(networks(view) == ["10.1.0.1": "net-pod", "10.1.0.2": "", "10.1.0.3": "", "10.9.0.1": ""])
  }

  @Test func severalRangesFirstNetworkByNameWins() {
    let meshNetworks = MeshNetworks(networks: [
      "b-net": MeshNetworks.Network(name: "b-net", registries: ["c1"], ranges: [IPRange("10.0.0.0/8")!]),
      "a-net": MeshNetworks.Network(name: "a-net", registries: ["c1"], ranges: [IPRange("10.1.0.0/16")!]),
      "v6": MeshNetworks.Network(name: "v6", ranges: [IPRange("fd00::/8")!]),
    ])
    #expect(meshNetworks.network(ofAddress: "10.1.2.3") == "a-net")
    #expect(meshNetworks.network(ofAddress: "10.2.0.1") == "b-net")
    #expect(meshNetworks.network(ofAddress: "fd00::1") == "v6")
    #expect(meshNetworks.network(ofAddress: "192.168.0.1") == nil)
    #expect(meshNetworks.network(ofAddress: "not-an-ip") == nil)
    #expect(meshNetworks.network(ofCluster: "c1") == "a-net")
    #expect(meshNetworks.network(ofCluster: "c9") == nil)
    #expect(MeshNetworks.none.network(ofAddress: "10.1.2.3") == nil)
  }
}

/// Network gateways declared by Services labelled `topology.istio.io/network`.
@Suite("GatewayDiscovery")
struct GatewayDiscoveryTests {
  static let source = "Service istio-system/istio-eastwestgateway"

  func gateways(
    _ objects: [KubeObject], resolveHostnames: Bool = false, resolve: (String) -> [String] = { _ in [] }
  ) -> [NetworkGateway] {
    GatewayDiscovery.gateways(
      in: ClusterObjects(objects), cluster: "c2", resolveHostnames: resolveHostnames, resolve: resolve)
  }

  func gateway(_ address: String, _ port: Int = 15443, network: String = "network2") -> NetworkGateway {
    NetworkGateway(network: network, address: address, port: port, cluster: "c2", source: Self.source)
  }

  @Test func loadBalancerIngressIPsSortedWithoutDuplicates() {
    let found = gateways([
      Fx.gatewayService(
        network: "network2",
        ingress: [
          KubeService.Ingress(ip: "35.1.1.2"), KubeService.Ingress(ip: "35.1.1.1"), KubeService.Ingress(ip: "35.1.1.2"),
        ],
        externalIPs: ["192.0.2.1"])
    ])
    // Ingress addresses win over external IPs.
    #expect(found == [gateway("35.1.1.1"), gateway("35.1.1.2")])
  }

  @Test func ingressHostnameOnlyResolvedWhenEnabled() {
    let service = Fx.gatewayService(network: "network2", ingress: [KubeService.Ingress(hostname: "gw.example.com")])
    var asked: [String] = []
    let disabled = gateways([service], resolveHostnames: false) { name in
      asked.append(name)
      return ["35.2.0.1"]
    }
    #expect(disabled == [])
    #expect(asked == [])

    let enabled = gateways([service], resolveHostnames: true) { name in
      asked.append(name)
      return ["35.2.0.2", "35.2.0.1"]
    }
    #expect(enabled == [gateway("35.2.0.1"), gateway("35.2.0.2")])
    #expect(asked == ["gw.example.com"])
  }

  @Test func ingressIPIsUsedWithoutResolvingItsHostname() {
    var asked: [String] = []
    let found = gateways(
      [
        Fx.gatewayService(
          network: "network2", ingress: [KubeService.Ingress(ip: "35.3.0.1", hostname: "gw.example.com")])
      ],
      resolveHostnames: true
    ) { name in
      asked.append(name)
      return ["35.9.9.9"]
    }
    #expect(found == [gateway("35.3.0.1")])
    #expect(asked == [])
  }

  @Test func externalIPsWhenNoIngress() {
    let found = gateways([Fx.gatewayService(network: "network2", externalIPs: ["", "192.0.2.10", "192.0.2.10"])])
    #expect(found == [gateway("192.0.2.10")])
    // An unresolved hostname ingress gives no address, so external IPs are used.
    let hostnameOnly = gateways([
      Fx.gatewayService(
        network: "network2", ingress: [KubeService.Ingress(hostname: "gw.example.com")], externalIPs: ["192.0.2.11"])
    ])
    #expect(hostnameOnly == [gateway("192.0.2.11")])
  }

  @Test func nodePortUsesNodeAddressesAndTheGatewayPortsNodePort() {
    let nodes = [
      Fx.node("n1", addresses: [("InternalIP", "10.0.0.1"), ("ExternalIP", "203.0.113.1")]),
      Fx.node("n2", addresses: [("InternalIP", "10.0.0.2"), ("Hostname", "n2.internal")]),
      Fx.node("n3", addresses: [("Hostname", "n3.internal")]),
    ]
    let found = gateways([Fx.gatewayService(network: "network2", type: "NodePort")] + nodes)
    // ExternalIP preferred over InternalIP per node; the node port of the service port numbered 15443.
    #expect(found == [gateway("10.0.0.2", 31443), gateway("203.0.113.1", 31443)])

    let otherPort = gateways(
      [Fx.gatewayService(network: "network2", type: "NodePort", labels: ["networking.istio.io/gatewayPort": "15021"])]
        + nodes)
    #expect(otherPort == [gateway("10.0.0.2", 30021), gateway("203.0.113.1", 30021)])
  }

  @Test func nodeSelectorAnnotationChoosesTheNodes() {
    let nodes = [
      Fx.node("n1", addresses: [("ExternalIP", "203.0.113.1")], labels: ["gateway": "yes", "zone": "z1"]),
      Fx.node("n2", addresses: [("ExternalIP", "203.0.113.2")], labels: ["gateway": "yes", "zone": "z2"]),
      Fx.node("n3", addresses: [("ExternalIP", "203.0.113.3")]),
    ]
    func discover(_ selector: String?, type: String = "NodePort", extra: [KubeObject] = [])
      -> GatewayDiscovery.Discovery
    {
      let service = Fx.gatewayService(
        network: "network2", type: type, annotations: selector.map { ["traffic.istio.io/nodeSelector": $0] })
      return GatewayDiscovery.discover(
        in: ClusterObjects([service] + nodes + extra), cluster: "c2", resolveHostnames: false)
    }
    let all = [gateway("203.0.113.1", 31443), gateway("203.0.113.2", 31443), gateway("203.0.113.3", 31443)]
    #expect(discover(nil) == GatewayDiscovery.Discovery(gateways: all, rejected: []))
    #expect(discover("{}").gateways == all)
    #expect(discover("") == GatewayDiscovery.Discovery(gateways: all, rejected: []))
    #expect(discover(#"{"gateway": "yes"}"#).gateways == Array(all.prefix(2)))
    #expect(discover(#"{"gateway": "yes", "zone": "z2"}"#).gateways == [all[1]])
    #expect(discover(#"{"gateway": "no"}"#).gateways == [])

    #expect(discover("null") == GatewayDiscovery.Discovery(gateways: all, rejected: []))

    // Not a selector: reported, naming the Service and the annotation, and every node is used (as istiod); a pair
    // whose value is not a string is reported and stands for "" (Go's JSON decoding stores the zero value).
    let empty = #"; taken as "" as istiod does, selecting only nodes with that label empty"#
    for (text, message, gateways) in [
      (
        "zone=z1",
        #"expected a JSON object of node label names to values, found "zone=z1"; every node's address is used"#, all
      ),
      (
        #"["z1"]"#,
        #"expected a JSON object of node label names to values, found "["z1"]"; every node's address is used"#, all
      ),
      (#"{"zone": 1}"#, #"the value of "zone" is not a string (in "{"zone": 1}")"# + empty, []),
      (
        #"{"zone": "z2", "gateway": true, "x": []}"#,
        #"the values of "gateway", "x" are not a string (in "{"zone": "z2", "gateway": true, "x": []}")"# + empty, []
      ),
    ] {
      let found = discover(text)
      #expect(found.gateways == gateways)
      #expect(
        found.rejected == [
          ConfigRejection(
            kind: "Service", namespace: "istio-system", name: "istio-eastwestgateway", cluster: "c2",
            field: "metadata.annotations[traffic.istio.io/nodeSelector]", message: message)
        ])
    }
    // A node whose label is empty matches such a pair.
    let n4 = Fx.node("n4", addresses: [("ExternalIP", "203.0.113.4")], labels: ["gateway": "", "zone": "z2"])
    #expect(discover(#"{"zone": "z2", "gateway": false}"#, extra: [n4]).gateways == [gateway("203.0.113.4", 31443)])
    // Only a NodePort gateway reads it.
    #expect(discover("zone=z1", type: "LoadBalancer") == GatewayDiscovery.Discovery(gateways: [], rejected: []))
  }

  @Test func invalidNodeSelectorIsListedWithTheRejectedIstioConfig() {
    let objects: [KubeObject] = [
      Fx.gatewayService(
        network: "network2", type: "NodePort", annotations: ["traffic.istio.io/nodeSelector": "not json"]),
      Fx.node("n1", addresses: [("ExternalIP", "203.0.113.1")]),
    ]
    let view = ClusterRegistry.build(cluster: "c2", objects: ClusterObjects(objects), options: .defaults)
    #expect(view.gateways == [gateway("203.0.113.1", 31443)])
    #expect(
      view.istioConfig.rejected.map(\.description) == [
        #"Service istio-system/istio-eastwestgateway in c2: metadata.annotations[traffic.istio.io/nodeSelector]: "#
          + #"expected a JSON object of node label names to values, found "not json"; every node's address is used"#
      ])
  }

  @Test func nodePortFallbackNeedsANodePortServiceAndAMatchingPort() {
    let nodes = [Fx.node("n1", addresses: [("ExternalIP", "203.0.113.1")])]
    // A LoadBalancer without ingress yet does not fall back to nodes.
    #expect(gateways([Fx.gatewayService(network: "network2", type: "LoadBalancer")] + nodes) == [])
    // No service port numbered like the gateway port.
    #expect(
      gateways(
        [Fx.gatewayService(network: "network2", type: "NodePort", labels: ["networking.istio.io/gatewayPort": "15444"])]
          + nodes) == [])
    // The matching port has no node port (yet).
    #expect(
      gateways(
        [Fx.gatewayService(network: "network2", type: "NodePort", ports: [KubeService.Port(name: "tls", port: 15443)])]
          + nodes)
        == [])
    // No nodes.
    #expect(gateways([Fx.gatewayService(network: "network2", type: "NodePort")]) == [])
    // A NodePort Service with external IPs uses them, on the gateway port itself.
    #expect(
      gateways([Fx.gatewayService(network: "network2", type: "NodePort", externalIPs: ["192.0.2.5"])] + nodes)
        == [gateway("192.0.2.5")])
  }

  @Test(arguments: [
    ("15444", 15444), ("1", 1), ("65535", 65535), ("abc", 15443), ("70000", 15443), ("0", 15443), ("-1", 15443),
    ("", 15443),
  ])
  func gatewayPortLabel(value: String, port: Int) {
    let found = gateways([
      Fx.gatewayService(
        network: "network2", ingress: [KubeService.Ingress(ip: "35.1.1.1")],
        labels: ["networking.istio.io/gatewayPort": value])
    ])
    #expect(found == [gateway("35.1.1.1", port)])
  }

  @Test func unlabelledServicesDeclareNothing() {
    #expect(gateways([Fx.gatewayService(network: nil, ingress: [KubeService.Ingress(ip: "35.1.1.1")])]) == [])
    #expect(gateways([Fx.gatewayService(network: "", ingress: [KubeService.Ingress(ip: "35.1.1.1")])]) == [])
    // A labelled Service without any address declares nothing either.
    #expect(gateways([Fx.gatewayService(network: "network2", type: "ClusterIP")]) == [])
  }

  @Test func severalServicesAndNetworks() {
    let found = gateways([
      Fx.gatewayService(
        "gw-b", namespace: "other", network: "network3", ingress: [KubeService.Ingress(ip: "35.0.0.3")]),
      Fx.gatewayService(network: "network2", ingress: [KubeService.Ingress(ip: "35.0.0.9")]),
    ])
    #expect(
      found == [
        gateway("35.0.0.9"),
        NetworkGateway(
          network: "network3", address: "35.0.0.3", port: 15443, cluster: "c2", source: "Service other/gw-b"),
      ])
  }

  @Test func clusterViewCarriesGatewaysAndExternalAddressesOfNamedServices() {
    let named = MeshNetworks(networks: [
      "network9": MeshNetworks.Network(
        name: "network9",
        gateways: [
          MeshNetworks.Gateway(target: .registryServiceName("plain-lb.default.svc.cluster.local"), port: 15443)
        ])
    ])
    let view = Fx.build(
      [
        Fx.gatewayService(network: "network2", ingress: [KubeService.Ingress(ip: "35.0.0.2")]),
        // Unlabelled, but named by meshNetworks' registryServiceName: its addresses are kept.
        Fx.gatewayService(
          "plain-lb", namespace: "default", network: nil, ingress: [KubeService.Ingress(ip: "35.0.0.7")]),
        // Neither labelled nor named: not looked at (no resolution, no entry).
        Fx.gatewayService(
          "hostname-lb", namespace: "default", network: nil, ingress: [KubeService.Ingress(hostname: "lb.example.com")]),
        Fx.service("reviews"),
      ],
      cluster: "c2", options: RegistryOptions(meshNetworks: named, resolveHostnameGateways: false))
    #expect(view.gateways == [gateway("35.0.0.2")])
    #expect(view.externalAddresses == ["plain-lb.default.svc.cluster.local": ["35.0.0.7"]])
  }
}

/// The mesh's gateways per network, from every cluster's Services and meshNetworks.
@Suite("NetworkTopology")
struct NetworkTopologyTests {
  let eastwest = "istio-eastwestgateway.istio-system.svc.cluster.local"

  func serviceGateway(_ network: String, _ address: String, _ port: Int = 15443, cluster: ClusterID) -> NetworkGateway {
    NetworkGateway(
      network: network, address: address, port: port, cluster: cluster,
      source: "Service istio-system/istio-eastwestgateway")
  }

  var views: [ClusterID: ClusterView] {
    [
      "c1": ClusterView(
        cluster: "c1", gateways: [serviceGateway("network1", "35.0.0.1", cluster: "c1")],
        externalAddresses: [eastwest: ["35.0.0.1"]]),
      "c2": ClusterView(
        cluster: "c2",
        gateways: [
          serviceGateway("network2", "35.0.0.2", cluster: "c2"), serviceGateway("network2", "35.0.0.3", cluster: "c2"),
        ],
        externalAddresses: [eastwest: ["35.0.0.2", "35.0.0.3"]]),
    ]
  }

  @Test func emptyTopologyIsNotMultiNetwork() {
    #expect(!NetworkTopology.empty.isMultiNetwork)
    #expect(!NetworkTopology(views: [:], meshNetworks: .none).isMultiNetwork)
    #expect(!NetworkTopology(views: ["c1": ClusterView(cluster: "c1")], meshNetworks: .none).isMultiNetwork)
    #expect(NetworkTopology.empty.gateways(of: "network1") == [])
  }

  @Test func gatewaysOfServicesGroupedByNetwork() {
    let topology = NetworkTopology(views: views, meshNetworks: .none)
    #expect(topology.isMultiNetwork)
    #expect(Set(topology.gateways.keys) == ["network1", "network2"])
    #expect(topology.gateways(of: "network1") == [serviceGateway("network1", "35.0.0.1", cluster: "c1")])
    #expect(
      topology.gateways(of: "network2") == [
        serviceGateway("network2", "35.0.0.2", cluster: "c2"), serviceGateway("network2", "35.0.0.3", cluster: "c2"),
      ])
    #expect(topology.gateways(of: "network9") == [])
  }

  @Test func meshNetworksAddressGatewaysDeduplicatedByAddressAndPort() {
    let meshNetworks = MeshNetworks(networks: [
      "network2": MeshNetworks.Network(
        name: "network2",
        gateways: [
          // Same address and port as the Service gateway: one entry.
          MeshNetworks.Gateway(target: .address("35.0.0.2"), port: 15443),
          // Same address, another port: a second way in.
          MeshNetworks.Gateway(target: .address("35.0.0.2"), port: 15444),
        ]),
      "network3": MeshNetworks.Network(
        name: "network3", gateways: [MeshNetworks.Gateway(target: .address("192.0.2.1"), port: 443)]),
    ])
    let topology = NetworkTopology(views: views, meshNetworks: meshNetworks)
    #expect(
      topology.gateways(of: "network2").map { "\($0.address):\($0.port)" } == [
        "35.0.0.2:15443", "35.0.0.2:15444", "35.0.0.3:15443",
      ])
    // Of the duplicates, the Service's entry is kept: it names its cluster, which chooses per-cluster gateways.
    #expect(topology.gateways(of: "network2").first == serviceGateway("network2", "35.0.0.2", cluster: "c2"))
    #expect(topology.gateways(of: "network2", cluster: "c2").map(\.address) == ["35.0.0.2", "35.0.0.3"])
    #expect(
      topology.gateways(of: "network3") == [
        NetworkGateway(network: "network3", address: "192.0.2.1", port: 443, source: "meshNetworks")
      ])
    #expect(topology.gateways(of: "network1").count == 1)
  }

  @Test func registryServiceNameUsesTheNetworksOwnClusters() {
    let meshNetworks = MeshNetworks(networks: [
      // Only c2's addresses of the Service count.
      "network4": MeshNetworks.Network(
        name: "network4", registries: ["c2"],
        gateways: [MeshNetworks.Gateway(target: .registryServiceName(eastwest), port: 15443)]),
      // No fromRegistry: every cluster's addresses.
      "network5": MeshNetworks.Network(
        name: "network5", gateways: [MeshNetworks.Gateway(target: .registryServiceName(eastwest), port: 16443)]),
    ])
    let topology = NetworkTopology(views: views, meshNetworks: meshNetworks)
    let source = "meshNetworks \(eastwest)"
    #expect(
      topology.gateways(of: "network4") == [
        NetworkGateway(network: "network4", address: "35.0.0.2", port: 15443, cluster: "c2", source: source),
        NetworkGateway(network: "network4", address: "35.0.0.3", port: 15443, cluster: "c2", source: source),
      ])
    #expect(
      topology.gateways(of: "network5").map { "\($0.cluster)/\($0.address):\($0.port)" } == [
        "c1/35.0.0.1:16443", "c2/35.0.0.2:16443", "c2/35.0.0.3:16443",
      ])
  }

  @Test func unresolvedRegistryServiceNameGivesNoNetwork() {
    let meshNetworks = MeshNetworks(networks: [
      "network4": MeshNetworks.Network(
        name: "network4", registries: ["c3"],
        gateways: [MeshNetworks.Gateway(target: .registryServiceName(eastwest), port: 15443)]),
      "network5": MeshNetworks.Network(
        name: "network5",
        gateways: [
          MeshNetworks.Gateway(target: .registryServiceName("nothing.istio-system.svc.cluster.local"), port: 15443)
        ]),
    ])
    let topology = NetworkTopology(views: views, meshNetworks: meshNetworks)
    #expect(Set(topology.gateways.keys) == ["network1", "network2"])
    let alone = NetworkTopology(views: [:], meshNetworks: meshNetworks)
    #expect(!alone.isMultiNetwork)
  }
}
