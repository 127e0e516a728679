import SextantKube
import SextantTestSupport
import Testing

@testable import SextantRegistry

/// Istio Gateways and VirtualServices, decoded from manifests as the file source reads them, then checked.
@Suite("IstioConfigParser")
struct IstioConfigParserTests {
  func parse(_ yaml: String, cluster: ClusterID = "cluster1", options: RegistryOptions = .defaults) throws
    -> IstioConfig
  {
    IstioConfigParser.parse(ClusterObjects(try Fx.manifest(yaml)), cluster: cluster, options: options)
  }

  /// Istio's samples/multicluster/expose-istiod.yaml.
  static let exposeIstiod = IstioSamples.exposeIstiod

  /// Istio's samples/multicluster/expose-services.yaml.
  static let crossNetwork = IstioSamples.crossNetwork

  @Test func exposeIstiodSample() throws {
    let config = try parse(Self.exposeIstiod)
    #expect(config.rejected == [])
    #expect(
      config.gateways == [
        GatewayConfig(
          name: "istiod-gateway", namespace: "istio-system", cluster: "cluster1",
          selector: ["istio": "eastwestgateway"],
          servers: [
            GatewayServer(port: 15012, portName: "tls-istiod", protocol: "TLS", hosts: ["*"], tlsMode: .passthrough),
            GatewayServer(
              port: 15017, portName: "tls-istiodwebhook", protocol: "TLS", hosts: ["*"], tlsMode: .passthrough),
          ])
      ])
    let istiod = "istiod.istio-system.svc.cluster.local"
    #expect(
      config.virtualServices == [
        VirtualServiceConfig(
          name: "istiod-vs", namespace: "istio-system", cluster: "cluster1", hosts: ["*"],
          gateways: ["istio-system/istiod-gateway"],
          tlsRoutes: [
            TLSRoute(
              matches: [TLSRoute.Match(sniHosts: ["*"], port: 15012)],
              destinations: [RouteDestination(host: istiod, port: 15012)]),
            TLSRoute(
              matches: [TLSRoute.Match(sniHosts: ["*"], port: 15017)],
              destinations: [RouteDestination(host: istiod, port: 443)]),
          ])
      ])
    #expect(config.gateways[0].qualifiedName == "istio-system/istiod-gateway")
  }

  @Test func crossNetworkGatewaySample() throws {
    let config = try parse(Self.crossNetwork, cluster: "cluster2")
    #expect(config.rejected == [])
    #expect(
      config.gateways == [
        GatewayConfig(
          name: "cross-network-gateway", namespace: "istio-system", cluster: "cluster2",
          selector: ["istio": "eastwestgateway"],
          servers: [
            GatewayServer(port: 15443, portName: "tls", protocol: "TLS", hosts: ["*.local"], tlsMode: .autoPassthrough)
          ])
      ])
    #expect(config.virtualServices == [])
  }

  @Test func gatewaySelectsByLabels() throws {
    let gateway = try #require(try parse(Self.crossNetwork).gateways.first)
    #expect(gateway.selects(labels: ["istio": "eastwestgateway", "app": "istio-eastwestgateway"]))
    #expect(!gateway.selects(labels: ["istio": "ingressgateway"]))
    #expect(!gateway.selects(labels: [:]))
    let config = IstioConfig(gateways: [
      gateway, GatewayConfig(name: "all", namespace: "x", cluster: "c", selector: [:], servers: []),
    ])
    #expect(config.gateways(selecting: ["istio": "ingressgateway"]).map(\.name) == ["all"])
    #expect(config.gateways(selecting: ["istio": "eastwestgateway"]).map(\.name) == ["cross-network-gateway", "all"])
  }

  @Test func shortNamesAreQualified() throws {
    let config = try parse(
      """
      apiVersion: networking.istio.io/v1
      kind: VirtualService
      metadata:
        name: hello
        namespace: sample
      spec:
        hosts: [helloworld.example.com]
        gateways: [my-gateway, other/gw2, mesh]
        tls:
        - match:
          - sniHosts: [helloworld.example.com]
            gateways: [my-gateway]
          route:
          - destination:
              host: helloworld
            weight: 80
          - destination:
              host: helloworld.other
              port:
                number: 5000
            weight: 20
      """)
    #expect(config.rejected == [])
    let service = try #require(config.virtualServices.first)
    #expect(service.gateways == ["sample/my-gateway", "other/gw2", "mesh"])
    #expect(service.tlsRoutes.count == 1)
    #expect(
      service.tlsRoutes[0].matches == [
        TLSRoute.Match(sniHosts: ["helloworld.example.com"], gateways: ["sample/my-gateway"])
      ])
    #expect(
      service.tlsRoutes[0].destinations == [
        RouteDestination(host: "helloworld.sample.svc.cluster.local", port: nil, weight: 80),
        RouteDestination(host: "helloworld.other", port: 5000, weight: 20),
      ])

    let otherDomain = try parse(
      """
      apiVersion: networking.istio.io/v1alpha3
      kind: VirtualService
      metadata: {name: hello, namespace: sample}
      spec:
        hosts: ["*"]
        tls:
        - match: [{sniHosts: ["*"]}]
          route: [{destination: {host: helloworld}}]
      """, options: RegistryOptions(domainSuffix: "example.org"))
    #expect(
      otherDomain.virtualServices.first?.tlsRoutes.first?.destinations.map(\.host) == [
        "helloworld.sample.svc.example.org"
      ])
    // Without gateways a VirtualService applies to sidecars only.
    #expect(otherDomain.virtualServices.first?.gateways == [])
  }

  @Test func bindPortNameAndProtocolCase() throws {
    let config = try parse(
      """
      apiVersion: networking.istio.io/v1
      kind: Gateway
      metadata: {name: bound, namespace: istio-system}
      spec:
        servers:
        - port: {number: 15443, protocol: Tls}
          bind: 10.0.0.5
          tls: {mode: AUTO_PASSTHROUGH}
          hosts: ["sample/*", "./helloworld.sample.svc.cluster.local"]
        - port: {number: 80, name: http, protocol: http}
          bind: "fd00::5"
          hosts: ["*"]
      """)
    #expect(config.rejected == [])
    #expect(
      config.gateways.first?.servers == [
        GatewayServer(
          port: 15443, protocol: "TLS", hosts: ["sample/*", "./helloworld.sample.svc.cluster.local"], bind: "10.0.0.5",
          tlsMode: .autoPassthrough),
        GatewayServer(port: 80, portName: "http", protocol: "HTTP", hosts: ["*"], bind: "fd00::5", tlsMode: nil),
      ])
    // No selector: every router.
    #expect(config.gateways.first?.selector == [:])
  }

  /// Istio's `ServerTLSSettings.mode` is a proto3 enum whose zero value is PASSTHROUGH: a `tls` block without `mode`
  /// means PASSTHROUGH (networking/v1alpha3/gateway.proto, `PASSTHROUGH = 0`).
  @Test func tlsWithoutModeIsPassthroughAsInIstio() throws {
    let config = try parse(
      """
      apiVersion: networking.istio.io/v1
      kind: Gateway
      metadata: {name: default-mode, namespace: istio-system}
      spec:
        servers:
        - port: {number: 443, name: tls, protocol: TLS}
          tls: {}
          hosts: ["*"]
      """)
    #expect(config.rejected == [])
    #expect(config.gateways.first?.servers.first?.tlsMode == .passthrough)
  }

  // MARK: Rejections

  static let rejections = """
    apiVersion: networking.istio.io/v1
    kind: Gateway
    metadata: {name: port-string, namespace: istio-system}
    spec:
      servers:
      - port: {number: abc, name: tls, protocol: TLS}
        tls: {mode: AUTO_PASSTHROUGH}
        hosts: ["*.local"]
    ---
    apiVersion: networking.istio.io/v1
    kind: Gateway
    metadata: {name: port-range, namespace: istio-system}
    spec:
      servers:
      - port: {number: 70000, name: tls, protocol: TLS}
        tls: {mode: AUTO_PASSTHROUGH}
        hosts: ["*.local"]
    ---
    apiVersion: networking.istio.io/v1
    kind: Gateway
    metadata: {name: bad-mode, namespace: istio-system}
    spec:
      servers:
      - port: {number: 15443, name: tls, protocol: TLS}
        tls: {mode: AUTO_PASSTHROUGH}
        hosts: ["*.local"]
      - port: {number: 15012, name: tls-istiod, protocol: TLS}
        tls: {mode: PASSTHRU}
        hosts: ["*"]
    ---
    apiVersion: networking.istio.io/v1
    kind: Gateway
    metadata: {name: no-servers, namespace: istio-system}
    spec:
      selector: {istio: eastwestgateway}
    ---
    apiVersion: networking.istio.io/v1
    kind: Gateway
    metadata: {name: empty-servers, namespace: istio-system}
    spec:
      servers: []
    ---
    apiVersion: networking.istio.io/v1
    kind: Gateway
    metadata: {name: tls-missing, namespace: istio-system}
    spec:
      servers:
      - port: {number: 15443, name: tls, protocol: TLS}
        hosts: ["*.local"]
    ---
    apiVersion: networking.istio.io/v1
    kind: Gateway
    metadata: {name: https-tls-missing, namespace: istio-system}
    spec:
      servers:
      - port: {number: 443, name: https, protocol: HTTPS}
        hosts: ["*"]
    ---
    apiVersion: networking.istio.io/v1
    kind: Gateway
    metadata: {name: auto-http, namespace: istio-system}
    spec:
      servers:
      - port: {number: 15443, name: http, protocol: HTTP}
        tls: {mode: AUTO_PASSTHROUGH}
        hosts: ["*.local"]
    ---
    apiVersion: networking.istio.io/v1
    kind: Gateway
    metadata: {name: bad-bind, namespace: istio-system}
    spec:
      servers:
      - port: {number: 15443, name: tls, protocol: TLS}
        bind: not-an-ip
        tls: {mode: AUTO_PASSTHROUGH}
        hosts: ["*.local"]
    ---
    apiVersion: networking.istio.io/v1
    kind: Gateway
    metadata: {name: bad-protocol, namespace: istio-system}
    spec:
      servers:
      - port: {number: 21, name: ftp, protocol: FTP}
        hosts: ["*"]
    ---
    apiVersion: networking.istio.io/v1
    kind: Gateway
    metadata: {name: bad-host, namespace: istio-system}
    spec:
      servers:
      - port: {number: 15443, name: tls, protocol: TLS}
        tls: {mode: AUTO_PASSTHROUGH}
        hosts: ["*.local", "a/b/c"]
    ---
    apiVersion: networking.istio.io/v1
    kind: Gateway
    metadata: {name: no-hosts, namespace: istio-system}
    spec:
      servers:
      - port: {number: 15443, name: tls, protocol: TLS}
        tls: {mode: AUTO_PASSTHROUGH}
    ---
    apiVersion: networking.istio.io/v1
    kind: Gateway
    metadata: {name: bad-selector, namespace: istio-system}
    spec:
      selector: {istio: 1}
      servers:
      - port: {number: 15443, name: tls, protocol: TLS}
        tls: {mode: AUTO_PASSTHROUGH}
        hosts: ["*.local"]
    ---
    apiVersion: networking.istio.io/v1
    kind: Gateway
    metadata: {name: no-spec, namespace: istio-system}
    ---
    apiVersion: networking.istio.io/v1
    kind: Gateway
    metadata: {name: good, namespace: istio-system}
    spec:
      selector: {istio: eastwestgateway}
      servers:
      - port: {number: 15443, name: tls, protocol: TLS}
        tls: {mode: AUTO_PASSTHROUGH}
        hosts: ["*.local"]
    ---
    apiVersion: networking.istio.io/v1
    kind: VirtualService
    metadata: {name: no-destination-host, namespace: istio-system}
    spec:
      hosts: ["*"]
      gateways: [good]
      tls:
      - match: [{port: 15012, sniHosts: ["*"]}]
        route:
        - destination: {port: {number: 15012}}
    ---
    apiVersion: networking.istio.io/v1
    kind: VirtualService
    metadata: {name: empty-hosts, namespace: istio-system}
    spec:
      hosts: []
      gateways: [good]
    ---
    apiVersion: networking.istio.io/v1
    kind: VirtualService
    metadata: {name: bad-match-port, namespace: istio-system}
    spec:
      hosts: ["*"]
      tls:
      - match: [{port: x, sniHosts: ["*"]}]
        route: [{destination: {host: istiod}}]
    ---
    apiVersion: networking.istio.io/v1
    kind: VirtualService
    metadata: {name: bad-weight, namespace: istio-system}
    spec:
      hosts: ["*"]
      tls:
      - match: [{sniHosts: ["*"]}]
        route:
        - destination: {host: istiod}
          weight: 101
    ---
    apiVersion: networking.istio.io/v1
    kind: VirtualService
    metadata: {name: no-sni, namespace: istio-system}
    spec:
      hosts: ["*"]
      tls:
      - match: [{port: 15012}]
        route: [{destination: {host: istiod}}]
    ---
    apiVersion: networking.istio.io/v1
    kind: VirtualService
    metadata: {name: good, namespace: istio-system}
    spec:
      hosts: ["*"]
      gateways: [good]
      tls:
      - match: [{port: 15012, sniHosts: ["*"]}]
        route: [{destination: {host: istiod, port: {number: 15012}}}]
    """

  static let expectedRejections: [String: (kind: String, field: String)] = [
    "port-string": ("Gateway", "spec.servers[0].port.number"),
    "port-range": ("Gateway", "spec.servers[0].port.number"),
    "bad-mode": ("Gateway", "spec.servers[1].tls.mode"),
    "no-servers": ("Gateway", "spec.servers"),
    "empty-servers": ("Gateway", "spec.servers"),
    "tls-missing": ("Gateway", "spec.servers[0].tls"),
    "https-tls-missing": ("Gateway", "spec.servers[0].tls"),
    "auto-http": ("Gateway", "spec.servers[0].tls.mode"),
    "bad-bind": ("Gateway", "spec.servers[0].bind"),
    "bad-protocol": ("Gateway", "spec.servers[0].port.protocol"),
    "bad-host": ("Gateway", "spec.servers[0].hosts[1]"),
    "no-hosts": ("Gateway", "spec.servers[0].hosts"),
    "bad-selector": ("Gateway", "spec.selector.istio"),
    "no-spec": ("Gateway", "spec"),
    "no-destination-host": ("VirtualService", "spec.tls[0].route[0].destination.host"),
    "empty-hosts": ("VirtualService", "spec.hosts"),
    "bad-match-port": ("VirtualService", "spec.tls[0].match[0].port"),
    "bad-weight": ("VirtualService", "spec.tls[0].route[0].weight"),
    "no-sni": ("VirtualService", "spec.tls[0].match[0].sniHosts"),
  ]

  @Test func eachBadObjectIsRejectedWithItsFieldAndTheOthersAreAccepted() throws {
    let config = try parse(Self.rejections, cluster: "cluster7")
    #expect(config.gateways.map(\.name) == ["good"])
    #expect(config.virtualServices.map(\.name) == ["good"])
    var byName: [String: ConfigRejection] = [:]
    for rejection in config.rejected {
      #expect(byName.updateValue(rejection, forKey: rejection.name) == nil, "\(rejection.name) rejected twice")
    }
    #expect(Set(byName.keys) == Set(Self.expectedRejections.keys))
    for (name, expected) in Self.expectedRejections.sorted(by: { $0.key < $1.key }) {
      guard let rejection = byName[name] else { continue }
      #expect(rejection.kind == expected.kind, "\(name)")
      #expect(rejection.field == expected.field, "\(name): \(rejection)")
      #expect(rejection.namespace == "istio-system" && rejection.cluster == "cluster7", "\(name)")
      #expect(rejection.code == "invalid-istio-config")
      #expect(!rejection.message.isEmpty)
    }
  }

  @Test func rejectionMessagesNameTheValue() throws {
    let config = try parse(Self.rejections, cluster: "cluster7")
    let byName = Dictionary(config.rejected.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
    let portString = try #require(byName["port-string"])
    #expect(
      portString.description
        == "Gateway istio-system/port-string in cluster7: spec.servers[0].port.number: "
        + "expected an integer between 1 and 65535, found string \"abc\"")
    #expect(byName["port-range"]?.message.contains("70000") == true)
    #expect(byName["bad-mode"]?.message.contains("PASSTHRU") == true)
    #expect(byName["bad-bind"]?.message.contains("not-an-ip") == true)
    #expect(byName["no-servers"]?.message == "is required")
    #expect(byName["empty-servers"]?.message == "must not be empty")
    #expect(byName["empty-hosts"]?.message == "must not be empty")
    #expect(byName["no-destination-host"]?.message == "is required")
  }

  @Test func rejectionsAndAcceptedObjectsAreKeptPerCluster() throws {
    // The same manifest in two clusters: each cluster's result names that cluster.
    let a = try parse(Self.crossNetwork + "\n---\n" + Self.exposeIstiod, cluster: "a")
    let b = try parse(Self.crossNetwork, cluster: "b")
    #expect(a.gateways.map(\.name) == ["cross-network-gateway", "istiod-gateway"])
    #expect(a.gateways.allSatisfy { $0.cluster == "a" })
    #expect(b.gateways.map(\.cluster) == ["b"])
    #expect(a.virtualServices.map(\.cluster) == ["a"])
  }

  @Test func clusterRegistryBuildParsesIstioConfig() throws {
    let view = Fx.build(
      try Fx.manifest(Self.crossNetwork + "\n---\n" + Self.rejections), cluster: "cluster3",
      options: RegistryOptions(resolveHostnameGateways: false))
    #expect(view.istioConfig.gateways.map(\.name) == ["cross-network-gateway", "good"])
    #expect(view.istioConfig.rejected.count == Self.expectedRejections.count)
    #expect(view.objectCounts[.gateway] == 16)
    #expect(view.objectCounts[.virtualService] == 6)
  }
}
