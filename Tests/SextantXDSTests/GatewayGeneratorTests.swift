import EnvoyAPI
import SextantKube
import SextantRegistry
import SextantTestSupport
import SwiftProtobuf
import Testing

@testable import SextantGeneration
@testable import SextantXDS

/// A mesh with four services and Istio config from a manifest, as a gateway proxy sees it.
enum GatewayFixture {
  static let hello = "helloworld.sample.svc.cluster.local"
  static let ratings = "ratings.sample.svc.cluster.local"
  static let istiod = "istiod.istio-system.svc.cluster.local"
  static let db = "db.other.svc.cluster.local"

  static func service(_ name: String, _ namespace: String, _ ports: [(String, Int)]) -> KubeObject {
    .service(
      KubeService(
        metadata: ObjectMeta(name: name, namespace: namespace),
        spec: KubeService.Spec(
          clusterIP: "10.96.0.\(name.count)", ports: ports.map { KubeService.Port(name: $0.0, port: $0.1) })))
  }

  static let services: [KubeObject] = [
    service("helloworld", "sample", [("http", 5000)]),
    service("ratings", "sample", [("http", 9080), ("grpc", 9090)]),
    service("istiod", "istio-system", [("grpc-xds", 15012), ("https-webhook", 443)]),
    service("db", "other", [("tcp", 3306)]),
  ]

  /// The snapshot of one cluster holding the services and the objects of `manifest`.
  static func snapshot(_ manifest: String) async throws -> MeshSnapshot {
    let registry = MeshRegistry(options: RegistryOptions(resolveHostnameGateways: false))
    let objects = services + (try ObjectDecoder().decode(manifest, path: "config.yaml").objects)
    await registry.apply(cluster: "cluster1", objects: ClusterObjects(objects))
    return registry.current
  }

  static let eastWestLabels = ["istio": "eastwestgateway", "app": "istio-eastwestgateway"]

  static func router(labels: [String: String] = eastWestLabels) -> ProxyView {
    ProxyView(
      type: .router, namespace: "istio-system", interceptionMode: .none, network: "network1", ipAddress: "10.1.0.50",
      labels: labels)
  }

  static let sidecar = ProxyView(
    type: .sidecar, namespace: "sample", interceptionMode: .none, network: "network1", ipAddress: "10.1.0.7",
    labels: eastWestLabels)

  static let crossNetwork = IstioSamples.crossNetwork

  /// Gateway istio-system/sni-gw: a PASSTHROUGH server on 443 for every host, then a document separator.
  static let passthroughGateway = """
    apiVersion: networking.istio.io/v1
    kind: Gateway
    metadata: {name: sni-gw, namespace: istio-system}
    spec:
      selector: {istio: eastwestgateway}
      servers:
      - port: {number: 443, name: tls, protocol: TLS}
        tls: {mode: PASSTHROUGH}
        hosts: ["*"]
    ---

    """

  static let exposeIstiod = IstioSamples.exposeIstiod

  /// A filter chain as the tests compare it: its name, SNI match and tcp_proxy target.
  struct Chain: Hashable, CustomStringConvertible {
    var name: String
    var serverNames: [String]
    var cluster: String
    var description: String { "\(name) \(serverNames) → \(cluster)" }
  }

  static func chains(_ listener: Envoy_Config_Listener_V3_Listener) throws -> [Chain] {
    try listener.filterChains.map { chain in
      #expect(chain.filters.count == 1)
      #expect(chain.filters.first?.name == "envoy.filters.network.tcp_proxy")
      let proxy = try Envoy_Extensions_Filters_Network_TcpProxy_V3_TcpProxy(unpackingAny: chain.filters[0].typedConfig)
      #expect(proxy.statPrefix == proxy.cluster)
      return Chain(name: chain.name, serverNames: chain.filterChainMatch.serverNames, cluster: proxy.cluster)
    }
  }

  /// The AUTO_PASSTHROUGH chain of one service port.
  static func sniChain(_ port: Int, _ host: String) -> Chain {
    let name = "outbound_.\(port)_._.\(host)"
    return Chain(name: name, serverNames: [name], cluster: name)
  }

  static func generate(_ snapshot: MeshSnapshot, view: ProxyView) throws -> (
    plan: GatewayPlan, listeners: [Envoy_Config_Listener_V3_Listener], clusters: [Envoy_Config_Cluster_V3_Cluster]
  ) {
    let plan = GatewayPlan(config: snapshot.istioConfig, view: view)
    return (
      plan,
      try ListenerGenerator.generate(snapshot: snapshot, view: view, gateway: plan),
      try ClusterGenerator.generate(snapshot: snapshot, view: view, gateway: plan)
    )
  }
}

@Suite("Gateway listeners and clusters")
struct GatewayGeneratorTests {
  typealias F = GatewayFixture

  @Test func autoPassthroughListenerHasOneSNIChainPerServicePort() async throws {
    let snapshot = try await F.snapshot(F.crossNetwork)
    let (_, listeners, _) = try F.generate(snapshot, view: F.router())
    #expect(listeners.map(\.name) == ["0.0.0.0_15443"])
    let listener = try #require(listeners.first)
    #expect(listener.address.socketAddress.address == "0.0.0.0")
    #expect(listener.address.socketAddress.portValue == 15443)
    #expect(listener.listenerFilters.map(\.name) == ["envoy.filters.listener.tls_inspector"])
    #expect(
      try F.chains(listener) == [
        F.sniChain(3306, F.db), F.sniChain(5000, F.hello), F.sniChain(443, F.istiod), F.sniChain(15012, F.istiod),
        F.sniChain(9080, F.ratings), F.sniChain(9090, F.ratings),
      ])
  }

  @Test func autoPassthroughClustersAreEDSWithoutTransportSocket() async throws {
    let snapshot = try await F.snapshot(F.crossNetwork)
    let (_, _, clusters) = try F.generate(snapshot, view: F.router())
    let sni = clusters.filter { $0.name.hasPrefix("outbound_.") }
    #expect(
      sni.map(\.name) == [
        "outbound_.3306_._.\(F.db)", "outbound_.5000_._.\(F.hello)", "outbound_.443_._.\(F.istiod)",
        "outbound_.15012_._.\(F.istiod)", "outbound_.9080_._.\(F.ratings)", "outbound_.9090_._.\(F.ratings)",
      ])
    for cluster in sni {
      #expect(cluster.type == .eds, "\(cluster.name)")
      #expect(cluster.edsClusterConfig.serviceName == cluster.name)
      #expect(cluster.edsClusterConfig.edsConfig.ads == Envoy_Config_Core_V3_AggregatedConfigSource())
      #expect(!cluster.hasTransportSocket, "\(cluster.name): the client's mTLS passes through")
      #expect(cluster.transportSocketMatches.isEmpty, "\(cluster.name)")
    }
    // The ordinary outbound clusters are still there.
    #expect(clusters.contains { $0.name == "outbound|5000||\(F.hello)" })
    // A sidecar gets no SNI clusters.
    let sidecarClusters = try ClusterGenerator.generate(snapshot: snapshot, view: F.sidecar)
    #expect(!sidecarClusters.contains { $0.name.hasPrefix("outbound_.") })
  }

  @Test func hostPatternsLimitTheServicesServed() async throws {
    let snapshot = try await F.snapshot(
      """
      apiVersion: networking.istio.io/v1
      kind: Gateway
      metadata: {name: scoped, namespace: sample}
      spec:
        selector: {istio: eastwestgateway}
        servers:
        - port: {number: 15443, name: tls, protocol: TLS}
          tls: {mode: AUTO_PASSTHROUGH}
          hosts: ["./ratings.sample.svc.cluster.local", "istio-system/*"]
      """)
    let (plan, listeners, clusters) = try F.generate(snapshot, view: F.router())
    #expect(plan.listeners.first?.autoPassthrough.map(\.gatewayNamespace) == ["sample", "sample"])
    #expect(
      try F.chains(try #require(listeners.first)) == [
        F.sniChain(443, F.istiod), F.sniChain(15012, F.istiod), F.sniChain(9080, F.ratings),
        F.sniChain(9090, F.ratings),
      ])
    #expect(clusters.filter { $0.name.hasPrefix("outbound_.") }.count == 4)
  }

  @Test func passthroughWithVirtualServiceExposesIstiod() async throws {
    let snapshot = try await F.snapshot(F.exposeIstiod)
    let (plan, listeners, clusters) = try F.generate(snapshot, view: F.router())
    #expect(plan.unsupported == [])
    #expect(listeners.map(\.name) == ["0.0.0.0_15012", "0.0.0.0_15017"])
    for listener in listeners {
      #expect(listener.listenerFilters.map(\.name) == ["envoy.filters.listener.tls_inspector"])
      #expect(listener.address.socketAddress.address == "0.0.0.0")
    }
    #expect(listeners.map(\.address.socketAddress.portValue) == [15012, 15017])
    // sniHosts ["*"]: no server_names, every connection.
    #expect(
      try F.chains(listeners[0])
        == [F.Chain(name: "outbound|15012||\(F.istiod)", serverNames: [], cluster: "outbound|15012||\(F.istiod)")])
    #expect(
      try F.chains(listeners[1]) == [
        F.Chain(name: "outbound|443||\(F.istiod)", serverNames: [], cluster: "outbound|443||\(F.istiod)")
      ])
    // The destinations are ordinary outbound clusters; PASSTHROUGH adds no SNI cluster.
    #expect(clusters.contains { $0.name == "outbound|15012||\(F.istiod)" })
    #expect(clusters.contains { $0.name == "outbound|443||\(F.istiod)" })
    #expect(!clusters.contains { $0.name.hasPrefix("outbound_.") })
  }

  @Test func passthroughRoutesBySNI() async throws {
    let snapshot = try await F.snapshot(
      F.passthroughGateway + """
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata: {name: sni-vs, namespace: sample}
        spec:
          hosts: ["*.example.com"]
          gateways: [istio-system/sni-gw]
          tls:
          - match: [{sniHosts: [b.example.com, a.example.com]}]
            route: [{destination: {host: helloworld}}]
          - match: [{sniHosts: [ratings.example.com]}]
            route: [{destination: {host: ratings}}]
          - match: [{sniHosts: [c.example.com], port: 8443}]
            route: [{destination: {host: helloworld, port: {number: 5000}}}]
          - match: [{sniHosts: [d.example.com], gateways: [istio-system/other-gw]}]
            route: [{destination: {host: helloworld, port: {number: 5000}}}]
          - match: [{sniHosts: ["*"]}]
            route: [{destination: {host: db.other.svc.cluster.local, port: {number: 3306}}}]
          - match: [{sniHosts: [a.example.com, b.example.com]}]
            route: [{destination: {host: ratings, port: {number: 9080}}}]
        ---
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata: {name: sidecars-only, namespace: sample}
        spec:
          hosts: ["*.example.com"]
          tls:
          - match: [{sniHosts: [e.example.com]}]
            route: [{destination: {host: helloworld}}]
        """)
    let (plan, listeners, _) = try F.generate(snapshot, view: F.router())
    #expect(snapshot.istioConfig.rejected == [])
    #expect(plan.listeners.count == 1)
    #expect(listeners.map(\.name) == ["0.0.0.0_443"])
    #expect(
      try F.chains(try #require(listeners.first)) == [
        // No port in the route: helloworld's only port. ratings has two: left out. SNI sorted.
        F.Chain(
          name: "outbound|5000||\(F.hello)", serverNames: ["a.example.com", "b.example.com"],
          cluster: "outbound|5000||\(F.hello)"),
        F.Chain(name: "outbound|3306||\(F.db)", serverNames: [], cluster: "outbound|3306||\(F.db)"),
      ])
  }

  @Test func routesThatLoseServerNamesAreListed() async throws {
    let snapshot = try await F.snapshot(
      F.passthroughGateway + """
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata: {name: first, namespace: sample}
        spec:
          hosts: ["*.example.com"]
          gateways: [istio-system/sni-gw]
          tls:
          - match: [{sniHosts: [x.example.com]}]
            route: [{destination: {host: helloworld}}]
          - match: [{sniHosts: ["*"]}]
            route: [{destination: {host: helloworld}}]
        ---
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata: {name: second, namespace: sample}
        spec:
          hosts: ["*.example.com"]
          gateways: [istio-system/sni-gw]
          tls:
          - match: [{sniHosts: [y.example.com, x.example.com]}]
            route: [{destination: {host: db.other.svc.cluster.local, port: {number: 3306}}}]
          - match: [{sniHosts: ["*"]}]
            route: [{destination: {host: db.other.svc.cluster.local, port: {number: 3306}}}]
        """)
    let (_, listeners, _) = try F.generate(snapshot, view: F.router())
    #expect(
      try F.chains(try #require(listeners.first)).map(\.serverNames) == [["x.example.com"], [], ["y.example.com"]])
    #expect(
      GatewayShadowing.shadowedRoutes(in: snapshot) == [
        "VirtualService sample/second: sniHosts * on 0.0.0.0_443 already routed by VirtualService sample/first "
          + "(route left out)",
        "VirtualService sample/second: sniHosts x.example.com on 0.0.0.0_443 already routed by VirtualService "
          + "sample/first (route keeps its other names)",
      ])
    // Nothing lost, nothing listed.
    #expect(GatewayShadowing.shadowedRoutes(in: try await F.snapshot(F.exposeIstiod)) == [])
  }

  @Test func passthroughRouteWithSeveralDestinationsSplitsByWeight() async throws {
    let snapshot = try await F.snapshot(
      F.passthroughGateway + """
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata: {name: split, namespace: sample}
        spec:
          hosts: ["*.example.com"]
          gateways: [istio-system/sni-gw]
          tls:
          - match: [{sniHosts: [a.example.com]}]
            route:
            - {destination: {host: helloworld}, weight: 75}
            - {destination: {host: ratings, port: {number: 9080}}, weight: 20}
            - {destination: {host: ratings, port: {number: 9080}}, weight: 5}
            - {destination: {host: db.other.svc.cluster.local, port: {number: 3306}}, weight: 0}
          - match: [{sniHosts: [b.example.com]}]
            route:
            - {destination: {host: helloworld}, weight: 100}
            - {destination: {host: db.other.svc.cluster.local, port: {number: 3306}}, weight: 0}
          - match: [{sniHosts: [c.example.com]}]
            route:
            - {destination: {host: ratings}, weight: 50}
            - {destination: {host: helloworld}, weight: 50}
        """)
    #expect(snapshot.istioConfig.rejected == [])
    let (_, listeners, _) = try F.generate(snapshot, view: F.router())
    let listener = try #require(listeners.first)
    let proxies = try listener.filterChains.map {
      try Envoy_Extensions_Filters_Network_TcpProxy_V3_TcpProxy(unpackingAny: $0.filters[0].typedConfig)
    }
    let hello = "outbound|5000||\(F.hello)"
    let ratings = "outbound|9080||\(F.ratings)"
    #expect(
      listener.filterChains.map(\.filterChainMatch.serverNames) == [
        ["a.example.com"], ["b.example.com"], ["c.example.com"],
      ])
    // a: weights as given, one share per cluster (ratings' two entries summed), weight 0 takes nothing.
    #expect(listener.filterChains[0].name == "weighted|\(hello),\(ratings)")
    #expect(proxies[0].statPrefix == "weighted|\(hello),\(ratings)")
    #expect(proxies[0].weightedClusters.clusters.map(\.name) == [hello, ratings])
    #expect(proxies[0].weightedClusters.clusters.map(\.weight) == [75, 25])
    // b: only one destination has a weight: a plain cluster.
    #expect(proxies[1].cluster == hello && proxies[1].weightedClusters.clusters.isEmpty)
    // c: ratings has two ports and the route names none: it is left out, helloworld takes every connection.
    #expect(proxies[2].cluster == hello)
  }

  @Test func severalDestinationsWithoutWeightsAreRejected() async throws {
    let snapshot = try await F.snapshot(
      """
      apiVersion: networking.istio.io/v1
      kind: VirtualService
      metadata: {name: unweighted, namespace: sample}
      spec:
        hosts: ["*.example.com"]
        gateways: [istio-system/sni-gw]
        tls:
        - match: [{sniHosts: [a.example.com]}]
          route:
          - {destination: {host: helloworld}}
          - {destination: {host: ratings, port: {number: 9080}}}
      """)
    #expect(
      snapshot.istioConfig.rejected.map(\.description) == [
        "VirtualService sample/unweighted in cluster1: spec.tls[0].route: 2 destinations and no weight above 0: "
          + "give each its share"
      ])
    #expect(snapshot.istioConfig.virtualServices.isEmpty)
  }

  @Test func listenerWithoutChainsIsLeftOut() async throws {
    let snapshot = try await F.snapshot(
      """
      apiVersion: networking.istio.io/v1
      kind: Gateway
      metadata: {name: lonely, namespace: istio-system}
      spec:
        selector: {istio: eastwestgateway}
        servers:
        - port: {number: 443, name: tls, protocol: TLS}
          tls: {mode: PASSTHROUGH}
          hosts: ["*"]
        - port: {number: 15443, name: tls-auto, protocol: TLS}
          tls: {mode: AUTO_PASSTHROUGH}
          hosts: ["nowhere/*"]
      """)
    let (plan, listeners, clusters) = try F.generate(snapshot, view: F.router())
    #expect(plan.listeners.map(\.port) == [443, 15443])
    #expect(listeners.isEmpty)
    #expect(!clusters.contains { $0.name.hasPrefix("outbound_.") })
  }

  @Test func selectorThatDoesNotMatchGetsNothing() async throws {
    let snapshot = try await F.snapshot(F.crossNetwork + "\n---\n" + F.exposeIstiod)
    let ingress = F.router(labels: ["istio": "ingressgateway"])
    let (plan, listeners, clusters) = try F.generate(snapshot, view: ingress)
    #expect(plan.listeners.isEmpty)
    #expect(listeners.isEmpty)
    #expect(!clusters.contains { $0.name.hasPrefix("outbound_.") })
    #expect(clusters.contains { $0.name == "outbound|5000||\(F.hello)" })
    // Both Gateways for the east-west router, merged by port.
    let (_, eastWest, _) = try F.generate(snapshot, view: F.router())
    #expect(eastWest.map(\.name) == ["0.0.0.0_15012", "0.0.0.0_15017", "0.0.0.0_15443"])
  }

  @Test func unsupportedServersAreListed() async throws {
    let snapshot = try await F.snapshot(
      """
      apiVersion: networking.istio.io/v1
      kind: Gateway
      metadata: {name: mixed, namespace: istio-system}
      spec:
        selector: {istio: eastwestgateway}
        servers:
        - port: {number: 80, name: http, protocol: HTTP}
          hosts: ["*"]
        - port: {number: 443, name: https, protocol: HTTPS}
          tls: {mode: SIMPLE, credentialName: gateway-cert}
          hosts: ["*"]
        - port: {number: 15443, name: tls, protocol: TLS}
          tls: {mode: AUTO_PASSTHROUGH}
          hosts: ["*.local"]
      """)
    let (plan, listeners, _) = try F.generate(snapshot, view: F.router())
    #expect(
      plan.unsupported == [
        "Gateway istio-system/mixed: spec.servers[0]: protocol HTTP is not supported (only TLS PASSTHROUGH and AUTO_PASSTHROUGH)",
        "Gateway istio-system/mixed: spec.servers[1]: protocol HTTPS with TLS mode SIMPLE is not supported (only TLS PASSTHROUGH and AUTO_PASSTHROUGH)",
      ])
    #expect(plan.listeners.map(\.port) == [15443])
    #expect(listeners.map(\.name) == ["0.0.0.0_15443"])
  }

  @Test func bindAddressNamesTheListener() async throws {
    let snapshot = try await F.snapshot(
      """
      apiVersion: networking.istio.io/v1
      kind: Gateway
      metadata: {name: bound, namespace: istio-system}
      spec:
        selector: {istio: eastwestgateway}
        servers:
        - port: {number: 15443, name: tls, protocol: TLS}
          bind: 10.1.0.50
          tls: {mode: AUTO_PASSTHROUGH}
          hosts: ["sample/*"]
        - port: {number: 15443, name: tls-other, protocol: TLS}
          tls: {mode: AUTO_PASSTHROUGH}
          hosts: ["other/*"]
      """)
    let (plan, listeners, _) = try F.generate(snapshot, view: F.router())
    #expect(plan.listeners.map(\.bind) == ["0.0.0.0", "10.1.0.50"])
    #expect(listeners.map(\.name) == ["0.0.0.0_15443", "10.1.0.50_15443"])
    #expect(listeners.map(\.address.socketAddress.address) == ["0.0.0.0", "10.1.0.50"])
    #expect(listeners.map(\.address.socketAddress.portValue) == [15443, 15443])
    #expect(try F.chains(listeners[0]) == [F.sniChain(3306, F.db)])
    #expect(
      try F.chains(listeners[1]) == [
        F.sniChain(5000, F.hello), F.sniChain(9080, F.ratings), F.sniChain(9090, F.ratings),
      ])
  }

  @Test func gatewaysOnOnePortShareOneListener() async throws {
    let snapshot = try await F.snapshot(
      """
      apiVersion: networking.istio.io/v1
      kind: Gateway
      metadata: {name: a, namespace: istio-system}
      spec:
        selector: {istio: eastwestgateway}
        servers:
        - port: {number: 15443, name: tls, protocol: TLS}
          tls: {mode: AUTO_PASSTHROUGH}
          hosts: ["other/*"]
      ---
      apiVersion: networking.istio.io/v1
      kind: Gateway
      metadata: {name: b, namespace: istio-system}
      spec:
        selector: {app: istio-eastwestgateway}
        servers:
        - port: {number: 15443, name: tls, protocol: TLS}
          tls: {mode: AUTO_PASSTHROUGH}
          hosts: ["*/helloworld.sample.svc.cluster.local", "other/*"]
      """)
    let (_, listeners, _) = try F.generate(snapshot, view: F.router())
    #expect(listeners.map(\.name) == ["0.0.0.0_15443"])
    // db is matched by both Gateways but gets one chain.
    #expect(try F.chains(listeners[0]) == [F.sniChain(3306, F.db), F.sniChain(5000, F.hello)])
  }

  @Test func listenerAndClusterCacheNameTheGatewayPlan() async throws {
    let snapshot = try await F.snapshot(F.crossNetwork)
    let generator = ConfigGenerator()
    let first = try generator.resources(.listener, names: [], snapshot: snapshot, view: F.router())
    #expect(first.map(\.name) == ["0.0.0.0_15443"])
    // Another replica of the same gateway (another network even: listeners do not depend on it).
    var sameLabels = F.router()
    sameLabels.network = "network2"
    let second = try generator.resources(.listener, names: [], snapshot: snapshot, view: sameLabels)
    #expect(second == first)
    #expect(generator.cache.statistics.hits == 1)
    let ingress = try generator.resources(
      .listener, names: [], snapshot: snapshot, view: F.router(labels: ["istio": "ingressgateway"]))
    #expect(ingress.isEmpty)
    #expect(generator.cache.statistics.misses == 2)

    let clusters = try generator.resources(.cluster, names: [], snapshot: snapshot, view: F.router())
    let ingressClusters = try generator.resources(
      .cluster, names: [], snapshot: snapshot, view: F.router(labels: ["istio": "ingressgateway"]))
    #expect(clusters.filter { $0.name.hasPrefix("outbound_.") }.count == 6)
    #expect(ingressClusters.filter { $0.name.hasPrefix("outbound_.") }.isEmpty)
  }

  /// Istio applies a VirtualService to a gateway server only when their hosts match (`pickMatchingGatewayHosts` in
  /// istiod's gateway listener builder): a VirtualService for bar.example.com bound to a Gateway that only serves
  /// foo.example.com routes nothing there.
  @Test func virtualServiceHostsMustMatchTheServerHosts() async throws {
    let snapshot = try await F.snapshot(
      """
      apiVersion: networking.istio.io/v1
      kind: Gateway
      metadata: {name: narrow, namespace: istio-system}
      spec:
        selector: {istio: eastwestgateway}
        servers:
        - port: {number: 443, name: tls, protocol: TLS}
          tls: {mode: PASSTHROUGH}
          hosts: ["foo.example.com"]
      ---
      apiVersion: networking.istio.io/v1
      kind: VirtualService
      metadata: {name: other-host, namespace: istio-system}
      spec:
        hosts: ["bar.example.com"]
        gateways: [narrow]
        tls:
        - match: [{sniHosts: [bar.example.com]}]
          route: [{destination: {host: helloworld.sample.svc.cluster.local, port: {number: 5000}}}]
      """)
    let (_, listeners, _) = try F.generate(snapshot, view: F.router())
    #expect(listeners.isEmpty, "\(listeners.map(\.name))")
  }
}
