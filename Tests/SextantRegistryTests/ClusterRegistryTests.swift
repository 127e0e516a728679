import SextantKube
import Testing

@testable import SextantRegistry

@Suite("ClusterRegistry.build")
struct ClusterRegistryTests {
  let host = "reviews.default.svc.cluster.local"

  @Test func hostnameVIPsAndLabels() {
    let view = Fx.build([
      Fx.service("reviews", clusterIP: "10.0.0.1", clusterIPs: ["10.0.0.1", "fd00::1"], labels: ["app": "reviews"]),
      Fx.service("headless", namespace: "shop", clusterIP: "None"),
    ])
    let reviews = view.services[host]!
    #expect(reviews.name == "reviews" && reviews.namespace == "default")
    #expect(reviews.addresses == ["c1": ["10.0.0.1", "fd00::1"]])
    #expect(reviews.clusters == ["c1"])
    #expect(reviews.labels == ["app": "reviews"])
    let headless = view.services["headless.shop.svc.cluster.local"]!
    #expect(headless.addresses.isEmpty)
    #expect(headless.allAddresses.isEmpty)
    #expect(view.endpoints["headless.shop.svc.cluster.local"] == [])
  }

  @Test func domainSuffixOption() {
    let view = ClusterRegistry.build(
      cluster: "c1",
      objects: ClusterObjects([Fx.service("a", namespace: "ns")]),
      options: RegistryOptions(domainSuffix: "example.org")
    )
    #expect(Array(view.services.keys) == ["a.ns.svc.example.org"])
  }

  @Test func externalNameServicesAreSkipped() {
    let view = Fx.build([
      Fx.service("ext", type: "ExternalName", clusterIP: nil, externalName: "example.com"),
      Fx.service("reviews"),
    ])
    #expect(Array(view.services.keys) == [host])
    #expect(Array(view.endpoints.keys) == [host])
  }

  @Test func portResolvedBySliceNameNotNumber() {
    // Service port 8000 → targetPort "http" (a name) → the slice's port named "http" is 5000.
    let view = Fx.build([
      Fx.service("reviews", ports: [KubeService.Port(name: "http", port: 8000, targetPort: .string("http"))]),
      Fx.slice(
        "reviews-1",
        service: "reviews",
        ports: [EndpointSlice.Port(name: "metrics", port: 9090), EndpointSlice.Port(name: "http", port: 5000)],
        endpoints: [Fx.endpoint("10.1.0.1")]
      ),
    ])
    let endpoints = view.endpoints[host]!
    #expect(endpoints.count == 1)
    #expect(endpoints[0].address == "10.1.0.1")
    #expect(endpoints[0].port == 5000)
    #expect(endpoints[0].servicePort == 8000)
  }

  @Test func multiplePortsEachResolveTheirOwn() {
    let view = Fx.build([
      Fx.service(
        "reviews",
        ports: [
          KubeService.Port(name: "http", port: 80), KubeService.Port(name: "grpc", port: 90),
          KubeService.Port(name: "none", port: 99),
        ]
      ),
      Fx.slice(
        "reviews-1",
        service: "reviews",
        ports: [EndpointSlice.Port(name: "grpc", port: 9000), EndpointSlice.Port(name: "http", port: 8000)],
        endpoints: [Fx.endpoint("10.1.0.1"), Fx.endpoint("10.1.0.2")]
      ),
    ])
    let endpoints = view.endpoints[host]!
    #expect(
      endpoints.map { "\($0.servicePort)>\($0.address):\($0.port)" } == [
        "80>10.1.0.1:8000", "80>10.1.0.2:8000", "90>10.1.0.1:9000", "90>10.1.0.2:9000",
      ])
  }

  @Test func unnamedSinglePortMatchesUnnamedSlicePort() {
    let view = Fx.build([
      Fx.service("reviews", ports: [KubeService.Port(port: 80, targetPort: .int(8080))]),
      Fx.slice(
        "reviews-1", service: "reviews", ports: [EndpointSlice.Port(port: 7000)], endpoints: [Fx.endpoint("10.1.0.1")]),
    ])
    #expect(view.endpoints[host]!.map(\.port) == [7000])
  }

  @Test func numericTargetPortUsedWhenSliceHasNoPorts() {
    let view = Fx.build([
      Fx.service(
        "reviews",
        ports: [
          KubeService.Port(name: "http", port: 80, targetPort: .int(8080)),
          KubeService.Port(name: "admin", port: 81),
          KubeService.Port(name: "named", port: 82, targetPort: .string("web")),
        ]
      ),
      Fx.slice("reviews-1", service: "reviews", ports: nil, endpoints: [Fx.endpoint("10.1.0.1")]),
    ])
    #expect(view.endpoints[host]!.map { "\($0.servicePort)>\($0.port)" } == ["80>8080", "81>81"])
  }

  @Test func terminatingAndNotReadyAreExcluded() {
    let view = Fx.build([
      Fx.service("reviews"),
      Fx.slice(
        "reviews-1",
        service: "reviews",
        ports: [EndpointSlice.Port(name: "http", port: 8080)],
        endpoints: [
          Fx.endpoint("10.1.0.1", ready: true),
          Fx.endpoint("10.1.0.2", ready: nil),
          Fx.endpoint("10.1.0.3", ready: false),
          Fx.endpoint("10.1.0.4", ready: true, terminating: true),
          Fx.endpoint("10.1.0.5", ready: false, terminating: true),
          Fx.endpoint("10.1.0.6", ready: true, terminating: false),
        ]
      ),
    ])
    #expect(view.endpoints[host]!.map(\.address) == ["10.1.0.1", "10.1.0.2", "10.1.0.6"])
    #expect(view.endpoints[host]!.allSatisfy { $0.health == .healthy })
  }

  @Test func duplicateAddressesAcrossSlicesAreMerged() {
    let view = Fx.build([
      Fx.service("reviews", ports: [KubeService.Port(name: "http", port: 80)]),
      Fx.slice(
        "reviews-a", service: "reviews", ports: [EndpointSlice.Port(name: "http", port: 8080)],
        endpoints: [Fx.endpoint("10.1.0.1"), Fx.endpoint("10.1.0.2")]),
      Fx.slice(
        "reviews-b", service: "reviews", ports: [EndpointSlice.Port(name: "http", port: 9999)],
        endpoints: [Fx.endpoint("10.1.0.2"), Fx.endpoint("10.1.0.3")]),
    ])
    let endpoints = view.endpoints[host]!
    #expect(endpoints.map(\.address) == ["10.1.0.1", "10.1.0.2", "10.1.0.3"])
    // The first slice by name wins for the duplicate.
    #expect(endpoints.map(\.port) == [8080, 8080, 9999])
  }

  @Test func slicesOfOtherServicesNamespacesAndFQDNAreIgnored() {
    let view = Fx.build([
      Fx.service("reviews"),
      Fx.slice("reviews-1", service: "reviews", endpoints: [Fx.endpoint("10.1.0.1")]),
      Fx.slice("reviews-fqdn", service: "reviews", addressType: "FQDN", endpoints: [Fx.endpoint("example.com")]),
      Fx.slice("ratings-1", service: "ratings", endpoints: [Fx.endpoint("10.9.0.1")]),
      Fx.slice("reviews-1", namespace: "other", service: "reviews", endpoints: [Fx.endpoint("10.8.0.1")]),
    ])
    #expect(view.endpoints[host]!.map(\.address) == ["10.1.0.1"])
  }

  @Test func endpointsObjectIsUsedOnlyWithoutSlices() {
    let legacy = KubeObject.endpoints(
      Endpoints(
        metadata: ObjectMeta(name: "reviews", namespace: "default"),
        subsets: [
          Endpoints.Subset(
            addresses: [Endpoints.Address(ip: "10.2.0.2"), Endpoints.Address(ip: "10.2.0.1")],
            notReadyAddresses: [Endpoints.Address(ip: "10.2.0.9")],
            ports: [Endpoints.Port(name: "http", port: 6000), Endpoints.Port(name: "other", port: 6001)]
          )
        ]
      )
    )
    let service = Fx.service("reviews", ports: [KubeService.Port(name: "http", port: 80)])
    let fallback = Fx.build([service, legacy])
    #expect(
      fallback.endpoints[host]!.map { "\($0.address):\($0.port)/\($0.servicePort)" } == [
        "10.2.0.1:6000/80", "10.2.0.2:6000/80",
      ])

    let withSlice = Fx.build([
      service, legacy,
      Fx.slice("reviews-1", service: "reviews", endpoints: [Fx.endpoint("10.1.0.1", ready: false)]),
    ])
    #expect(withSlice.endpoints[host] == [])
  }

  @Test func podFactsByTargetRef() {
    let view = Fx.build([
      Fx.namespace("istio-system", labels: ["topology.istio.io/network": "net-cluster"]),
      Fx.service("reviews"),
      Fx.slice(
        "reviews-1",
        service: "reviews",
        endpoints: [Fx.endpoint("10.1.0.1", pod: "reviews-v1"), Fx.endpoint("10.1.0.2", pod: "reviews-v2")]
      ),
      Fx.pod(
        "reviews-v1", ip: "10.1.0.1",
        labels: [
          "app": "reviews", "version": "v1", "security.istio.io/tlsMode": "istio",
          "topology.istio.io/network": "net-pod",
        ],
        serviceAccount: "bookinfo-reviews"
      ),
      Fx.pod("reviews-v2", ip: "10.1.0.2", labels: ["app": "reviews", "version": "v2"]),
    ])
    #expect(view.networkOfCluster == "net-cluster")
    let endpoints = view.endpoints[host]!
    #expect(endpoints.count == 2)
    let v1 = endpoints[0]
    #expect(v1.tlsMode == "istio")
    #expect(v1.network == "net-pod")
    #expect(v1.serviceAccount == "bookinfo-reviews")
    #expect(v1.labels["version"] == "v1")
    #expect(v1.workload == "default/reviews-v1")
    #expect(v1.cluster == "c1")
    let v2 = endpoints[1]
    #expect(v2.tlsMode == "disabled")
    #expect(v2.network == "net-cluster")
    #expect(v2.serviceAccount == "")
    #expect(v2.workload == "default/reviews-v2")
  }

  @Test func podFoundByIPWhenNoTargetRef() {
    let view = Fx.build([
      Fx.service("reviews"),
      Fx.slice("reviews-1", service: "reviews", endpoints: [Fx.endpoint("10.1.0.1"), Fx.endpoint("10.1.0.2")]),
      Fx.pod("old", ip: "10.1.0.1", labels: ["gen": "old"], phase: "Succeeded"),
      Fx.pod("new", ip: "10.1.0.1", labels: ["gen": "new", "security.istio.io/tlsMode": "istio"]),
      Fx.pod("elsewhere", namespace: "other", ip: "10.1.0.2", labels: ["gen": "other"]),
    ])
    let endpoints = view.endpoints[host]!
    #expect(endpoints[0].workload == "default/new")
    #expect(endpoints[0].tlsMode == "istio")
    // A pod with that IP in another namespace is not used.
    #expect(endpoints[1].workload == "")
    #expect(endpoints[1].labels.isEmpty)
  }

  @Test func missingReferencedPodGivesNoPodFacts() {
    let view = Fx.build([
      Fx.service("reviews"),
      Fx.slice("reviews-1", service: "reviews", endpoints: [Fx.endpoint("10.1.0.1", pod: "gone")]),
      Fx.pod("reused-ip", ip: "10.1.0.1", labels: ["security.istio.io/tlsMode": "istio"]),
    ])
    #expect(view.endpoints[host]![0].workload == "")
    #expect(view.endpoints[host]![0].tlsMode == "disabled")
  }

  @Test func localityFromNodeLabels() {
    let view = Fx.build([
      Fx.service("reviews"),
      Fx.slice(
        "reviews-1",
        service: "reviews",
        endpoints: [
          Fx.endpoint("10.1.0.1", pod: "p1", zone: "slice-zone"),
          Fx.endpoint("10.1.0.2", nodeName: "node-b"),
          Fx.endpoint("10.1.0.3", pod: "p3"),
        ]
      ),
      Fx.pod("p1", ip: "10.1.0.1", node: "node-a"),
      Fx.pod("p3", ip: "10.1.0.3", node: "node-legacy"),
      Fx.node(
        "node-a",
        labels: [
          "topology.kubernetes.io/region": "us-east", "topology.kubernetes.io/zone": "us-east-1a",
          "topology.istio.io/subzone": "rack1",
        ]
      ),
      Fx.node(
        "node-b", labels: ["topology.kubernetes.io/region": "eu-west", "topology.kubernetes.io/zone": "eu-west-1b"]),
      Fx.node(
        "node-legacy",
        labels: ["failure-domain.beta.kubernetes.io/region": "ap", "failure-domain.beta.kubernetes.io/zone": "ap-1"]
      ),
    ])
    let byAddress = Dictionary(uniqueKeysWithValues: view.endpoints[host]!.map { ($0.address, $0.locality) })
    #expect(byAddress["10.1.0.1"] == Locality(region: "us-east", zone: "us-east-1a", subzone: "rack1"))
    #expect(byAddress["10.1.0.2"] == Locality(region: "eu-west", zone: "eu-west-1b"))
    #expect(byAddress["10.1.0.3"] == Locality(region: "ap", zone: "ap-1"))
    // Endpoints are sorted by service port, then locality.
    #expect(view.endpoints[host]!.map(\.address) == ["10.1.0.3", "10.1.0.2", "10.1.0.1"])
  }

  @Test func podLocalityLabelOverridesNode() {
    let view = Fx.build([
      Fx.service("reviews"),
      Fx.slice(
        "reviews-1",
        service: "reviews",
        endpoints: [
          Fx.endpoint("10.1.0.1", pod: "p1"), Fx.endpoint("10.1.0.2", pod: "p2"), Fx.endpoint("10.1.0.3", pod: "p3"),
        ]
      ),
      Fx.pod("p1", ip: "10.1.0.1", labels: ["istio-locality": "r1.z1.s1"], node: "node-a"),
      Fx.pod("p2", ip: "10.1.0.2", labels: ["istio-locality": "r2.z2"], node: "node-a"),
      Fx.pod(
        "p3", ip: "10.1.0.3",
        labels: ["topology.istio.io/locality": "r3.z3.s3", "istio-locality": "ignored.x.y"], node: "node-a"
      ),
      Fx.node(
        "node-a", labels: ["topology.kubernetes.io/region": "node-region", "topology.kubernetes.io/zone": "node-zone"]),
    ])
    let byAddress = Dictionary(uniqueKeysWithValues: view.endpoints[host]!.map { ($0.address, $0.locality) })
    #expect(byAddress["10.1.0.1"] == Locality(region: "r1", zone: "z1", subzone: "s1"))
    #expect(byAddress["10.1.0.2"] == Locality(region: "r2", zone: "z2"))
    #expect(byAddress["10.1.0.3"] == Locality(region: "r3", zone: "z3", subzone: "s3"))
  }

  @Test func sliceZoneWhenNoPodOrNode() {
    let view = Fx.build([
      Fx.service("reviews"),
      Fx.slice(
        "reviews-1",
        service: "reviews",
        endpoints: [
          Fx.endpoint("10.1.0.1", nodeName: "unknown-node", zone: "zone-v1"),
          Fx.endpoint("10.1.0.2", topology: ["topology.kubernetes.io/zone": "zone-v1beta1"]),
          Fx.endpoint("10.1.0.3"),
        ]
      ),
    ])
    let byAddress = Dictionary(uniqueKeysWithValues: view.endpoints[host]!.map { ($0.address, $0.locality) })
    #expect(byAddress["10.1.0.1"] == Locality(zone: "zone-v1"))
    #expect(byAddress["10.1.0.2"] == Locality(zone: "zone-v1beta1"))
    #expect(byAddress["10.1.0.3"] == Locality())
  }

  @Test func localityLabelParsing() {
    #expect(Locality(istioLabel: "a.b.c") == Locality(region: "a", zone: "b", subzone: "c"))
    #expect(Locality(istioLabel: "a/b.x/c") == Locality(region: "a", zone: "b.x", subzone: "c"))
    #expect(Locality(istioLabel: "a") == Locality(region: "a"))
    #expect(Locality(istioLabel: "a.b.c.d") == Locality(region: "a", zone: "b", subzone: "c"))
  }

  @Test func duplicatePortNumbersKeepFirstDeclared() {
    let view = Fx.build([
      Fx.service(
        "dns",
        ports: [
          KubeService.Port(name: "dns", protocol: "UDP", port: 53),
          KubeService.Port(name: "dns-tcp", protocol: "TCP", port: 53),
        ]
      ),
      Fx.slice(
        "dns-1", service: "dns",
        ports: [
          EndpointSlice.Port(name: "dns", protocol: "UDP", port: 53), EndpointSlice.Port(name: "dns-tcp", port: 53),
        ],
        endpoints: [Fx.endpoint("10.1.0.1")]
      ),
    ])
    let service = view.services["dns.default.svc.cluster.local"]!
    #expect(service.ports == [MeshPort(name: "dns", port: 53, protocol: .udp)])
    #expect(view.endpoints["dns.default.svc.cluster.local"]!.count == 1)
  }

  @Test func buildIsDeterministic() {
    var objects: [KubeObject] = [Fx.namespace("istio-system"), Fx.node("n1")]
    for i in 0..<20 {
      objects.append(Fx.service("svc\(i)", clusterIP: "10.0.0.\(i)"))
      objects.append(
        Fx.slice("svc\(i)-b", service: "svc\(i)", endpoints: (0..<5).map { Fx.endpoint("10.\(i).0.\(5 - $0)") })
      )
      objects.append(Fx.slice("svc\(i)-a", service: "svc\(i)", endpoints: [Fx.endpoint("10.\(i).1.1")]))
    }
    let a = Fx.build(objects)
    let b = Fx.build(objects.reversed())
    #expect(a == b)
    for endpoints in a.endpoints.values { #expect(endpoints == endpoints.sorted()) }
    #expect(a.objectCounts[.service] == 20 && a.objectCounts[.endpointSlice] == 40 && a.objectCounts[.node] == 1)
  }
}

@Suite struct TLSModeTests {
  @Test func labelWinsThenInjectedSidecarAnnotationThenDisabled() {
    func pod(labels: [String: String] = [:], annotations: [String: String]? = nil) -> Pod {
      Pod(metadata: ObjectMeta(name: "p", namespace: "ns", labels: labels, annotations: annotations))
    }
    #expect(
      WorkloadIndex.tlsMode(
        pod(labels: ["security.istio.io/tlsMode": "disabled"], annotations: ["sidecar.istio.io/status": "{}"]))
        == "disabled")
    #expect(
      WorkloadIndex.tlsMode(pod(annotations: ["sidecar.istio.io/status": "{\"containers\":[\"istio-proxy\"]}"]))
        == "istio")
    #expect(WorkloadIndex.tlsMode(pod()) == "disabled")
    #expect(WorkloadIndex.tlsMode(nil) == "disabled")
  }
}
