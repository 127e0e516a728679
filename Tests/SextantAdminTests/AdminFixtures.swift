import Foundation
import HummingbirdTesting
import SextantAdmin
import SextantGeneration
import SextantKube
import SextantRegistry
import SextantTestSupport
import Synchronization

@testable import SextantXDS

/// A small two-cluster mesh behind a real `MeshRegistry`, and the `AdminState` the admin applications read it through.
///
/// - `c1` (network `network1`): Services `reviews` (10.1.0.1, http 9080; one endpoint 10.10.0.1 in zone `zone-a`,
///   behind pod `default/reviews-v1` with tlsMode `istio`) and `istio-eastwestgateway` (load-balancer ingress
///   35.1.0.1, so `network1` has a gateway), plus Istio's cross-network Gateway sample.
/// - `c2` (network `network2`, no gateway): Service `reviews` (10.2.0.1; one endpoint 10.20.0.1 with no pod).
///
/// Nothing is applied until the test calls `load(...)`: readiness depends on what it applies and marks synced.
/// Readiness is judged as the control plane judges it (`AdminState.Readiness.judge`), on the registry's current
/// snapshot (the control plane judges the pushed one).
final class AdminMesh: Sendable {
  static let reviews = "reviews.default.svc.cluster.local"
  static let eastWestGateway = "istio-eastwestgateway.istio-system.svc.cluster.local"

  let logs = LogRecorder()
  let registry: MeshRegistry
  let connections = ConnectionRegistry()
  /// What the metrics closure answers; a test may change it between requests.
  let metricsText = Mutex("sextant_xds_pushes_total 3\n")
  /// What the source-errors closure answers.
  let sourceErrors = Mutex<[String: String]>([:])

  /// An empty mesh whose registry logs to `logs`.
  init() {
    registry = MeshRegistry(logger: logs.logger)
  }

  /// The state handed to `AdminServer`: every closure reads this mesh at request time.
  var state: AdminState {
    AdminState(
      readiness: { [registry] in AdminState.Readiness.judge(registry: registry, snapshot: registry.current) },
      snapshot: { [registry] in registry.current },
      connections: connections,
      metrics: { [self] in metricsText.withLock { $0 } },
      sourceErrors: { [self] in sourceErrors.withLock { $0 } }
    )
  }

  /// Applies both clusters' objects; each is marked synced when listed in `synced`.
  func load(synced: Set<ClusterID> = ["c1", "c2"]) async throws {
    await registry.apply(cluster: "c1", objects: ClusterObjects(try Self.cluster1()))
    await registry.apply(cluster: "c2", objects: ClusterObjects(Self.cluster2()))
    for cluster in synced.sorted() { await registry.markSynced(cluster: cluster) }
  }

  static func cluster1() throws -> [KubeObject] {
    [
      namespace("istio-system", network: "network1"),
      namespace("default"),
      service("reviews", clusterIP: "10.1.0.1"),
      slice("reviews-c1", service: "reviews", endpoint: endpoint("10.10.0.1", pod: "reviews-v1", zone: "zone-a")),
      .pod(
        Pod(
          metadata: ObjectMeta(
            name: "reviews-v1", namespace: "default",
            labels: ["app": "reviews", "security.istio.io/tlsMode": "istio"]),
          spec: Pod.Spec(serviceAccountName: "reviews"),
          status: Pod.Status(podIP: "10.10.0.1", podIPs: [Pod.PodIP(ip: "10.10.0.1")], phase: "Running")
        )),
      .service(
        KubeService(
          metadata: ObjectMeta(
            name: "istio-eastwestgateway", namespace: "istio-system", labels: ["topology.istio.io/network": "network1"]),
          spec: KubeService.Spec(
            type: "LoadBalancer", clusterIP: "10.1.0.99",
            ports: [KubeService.Port(name: "tls", port: 15443)]),
          status: KubeService.Status(
            loadBalancer: KubeService.LoadBalancer(ingress: [KubeService.Ingress(ip: "35.1.0.1")]))
        )),
    ] + (try ObjectDecoder().decode(IstioSamples.crossNetwork, path: "cross-network.yaml").objects)
  }

  static func cluster2() -> [KubeObject] {
    [
      namespace("istio-system", network: "network2"),
      service("reviews", clusterIP: "10.2.0.1"),
      slice("reviews-c2", service: "reviews", endpoint: endpoint("10.20.0.1")),
    ]
  }

  static func namespace(_ name: String, network: String? = nil) -> KubeObject {
    .namespace(Namespace(metadata: ObjectMeta(name: name, labels: network.map { ["topology.istio.io/network": $0] })))
  }

  /// A ClusterIP Service in `default` with one port, `http` 9080.
  static func service(_ name: String, clusterIP: String) -> KubeObject {
    .service(
      KubeService(
        metadata: ObjectMeta(name: name, namespace: "default"),
        spec: KubeService.Spec(clusterIP: clusterIP, ports: [KubeService.Port(name: "http", port: 9080)])
      ))
  }

  /// An IPv4 EndpointSlice of `service` in `default` with one endpoint on `http` 9080.
  static func slice(_ name: String, service: String, endpoint: EndpointSlice.Endpoint) -> KubeObject {
    .endpointSlice(
      EndpointSlice(
        metadata: ObjectMeta(name: name, namespace: "default", labels: [EndpointSlice.serviceNameLabel: service]),
        addressType: "IPv4",
        endpoints: [endpoint],
        ports: [EndpointSlice.Port(name: "http", port: 9080)]
      ))
  }

  /// A ready endpoint, behind pod `default/<pod>` when `pod` is given.
  static func endpoint(_ address: String, pod: String? = nil, zone: String? = nil) -> EndpointSlice.Endpoint {
    EndpointSlice.Endpoint(
      addresses: [address],
      conditions: EndpointSlice.Conditions(ready: true),
      zone: zone,
      targetRef: pod.map { ObjectReference(kind: "Pod", namespace: "default", name: $0) }
    )
  }

  // MARK: Connections

  /// Registers a stream of `reviews-v1` (cluster `c1`) whose CDS is acknowledged, EDS sent and not acknowledged, LDS
  /// rejected ("listener rejected") and RDS and SDS never sent; and a stream that has not sent its node yet.
  func connectProxies() {
    let proxy = Proxy(
      nodeID: "sidecar~10.10.0.1~reviews-v1.default~default.svc.cluster.local", type: .sidecar, ipAddress: "10.10.0.1",
      id: "reviews-v1.default", namespace: "default", dnsDomain: "default.svc.cluster.local", clusterID: "c1",
      network: "network1")
    var cds = WatchState(type: .cluster)
    _ = cds.receive(versionInfo: "", nonce: "", resourceNames: [], errorMessage: nil)
    cds.sent(version: "v1", nonce: "n1")
    _ = cds.receive(versionInfo: "v1", nonce: "n1", resourceNames: [], errorMessage: nil)
    var eds = WatchState(type: .endpoint)
    _ = eds.receive(versionInfo: "", nonce: "", resourceNames: ["outbound|9080||\(Self.reviews)"], errorMessage: nil)
    eds.sent(version: "v1", nonce: "n2")
    var lds = WatchState(type: .listener)
    _ = lds.receive(versionInfo: "", nonce: "", resourceNames: [], errorMessage: nil)
    lds.sent(version: "v1", nonce: "n3")
    _ = lds.receive(versionInfo: "", nonce: "n3", resourceNames: [], errorMessage: "listener rejected")

    let sidecar = Self.connection(id: "conn-1", identity: "spiffe://cluster.local/ns/default/sa/reviews")
    sidecar.update(proxy: proxy, watches: [.cluster: cds, .endpoint: eds, .listener: lds])
    connections.add(sidecar)
    connections.add(Self.connection(id: "conn-2", identity: nil))
  }

  static func connection(id: String, identity: String?) -> AdsConnection {
    AdsConnection(
      id: id, peer: "127.0.0.1:50000", identity: identity,
      events: AsyncStream<AdsConnection.Event>.makeStream().continuation)
  }
}

/// Which admin application a test runs against.
enum AdminApp: String, CaseIterable, Sendable {
  /// `AdminServer.http`: `/ready` and `/debug/*`.
  case http
  /// `AdminServer.monitoring`: `/metrics`, `/ready` and `/debug/*`.
  case monitoring

  /// Runs `body` against this application in router mode (requests go straight to the router, no socket).
  func test<Value>(
    _ mesh: AdminMesh, _ body: @Sendable (any TestClientProtocol) async throws -> Value
  ) async throws -> Value {
    switch self {
    case .http:
      try await AdminServer.http(host: "127.0.0.1", port: 0, state: mesh.state, logger: mesh.logs.logger)
        .test(.router, body)
    case .monitoring:
      try await AdminServer.monitoring(host: "127.0.0.1", port: 0, state: mesh.state, logger: mesh.logs.logger)
        .test(.router, body)
    }
  }
}

extension TestResponse {
  /// The body as UTF-8 text.
  var text: String { String(buffer: body) }

  /// The body decoded from JSON with snake_case keys (as the admin endpoints write them).
  func decode<T: Decodable>(_ type: T.Type) throws -> T {
    let decoder = JSONDecoder()
    decoder.keyDecodingStrategy = .convertFromSnakeCase
    return try decoder.decode(T.self, from: Data(body.readableBytesView))
  }

  /// The body parsed as untyped JSON, to check key names exactly as written.
  func json() throws -> Any {
    try JSONSerialization.jsonObject(with: Data(body.readableBytesView), options: [.fragmentsAllowed])
  }
}
