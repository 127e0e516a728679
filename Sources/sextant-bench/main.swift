// sextant-bench: figures for the hot paths of config generation and mesh trust, printed one per line.
//
//   swift run -c release sextant-bench [--services N] [--endpoints-per-service M] [--certificates K]
//
// Each figure is the median of 5 runs after one warm-up. Debug builds are several times slower; quote release figures.
import Foundation
import Logging
import SextantBase
import SextantGeneration
import SextantKube
import SextantPKI
import SextantRegistry

struct Options {
  var services = 1000
  var endpointsPerService = 10
  var certificates = 200

  init(arguments: [String]) {
    var iterator = arguments.dropFirst().makeIterator()
    while let flag = iterator.next() {
      guard let text = iterator.next(), let value = Int(text), value > 0 else {
        FileHandle.standardError.write(Data("sextant-bench: \(flag) needs a positive number\n".utf8))
        exit(2)
      }
      switch flag {
      case "--services": services = value
      case "--endpoints-per-service": endpointsPerService = value
      case "--certificates": certificates = value
      default:
        FileHandle.standardError.write(Data("sextant-bench: unknown flag \(flag)\n".utf8))
        exit(2)
      }
    }
  }
}

/// Median wall time of `body` over 5 runs, after one warm-up run.
func measure(_ body: () throws -> Void) rethrows -> Duration {
  try body()
  var samples: [Duration] = []
  for _ in 0..<5 {
    let clock = ContinuousClock()
    let start = clock.now
    try body()
    samples.append(clock.now - start)
  }
  return samples.sorted()[2]
}

func milliseconds(_ duration: Duration) -> String {
  String(format: "%.2f ms", duration.inMilliseconds)
}

func perSecond(_ count: Int, _ duration: Duration) -> String {
  String(format: "%.0f/s", Double(count) / duration.inSeconds)
}

/// A mesh of `services` services with two ports each and `endpoints` mTLS-capable pods each, in one cluster.
func makeSnapshot(services: Int, endpoints: Int) async -> MeshSnapshot {
  let registry = MeshRegistry(logger: Logger(label: "bench") { _ in SwiftLogNoOpLogHandler() })
  _ = await registry.apply(
    cluster: "cluster1", objects: ClusterObjects(makeObjects(services: services, endpoints: endpoints)))
  return registry.current
}

/// The same mesh in two clusters on network1 and network2 (pod addresses apart), each network with one gateway.
func makeTwoNetworkSnapshot(services: Int, endpoints: Int) async -> MeshSnapshot {
  let registry = MeshRegistry(logger: Logger(label: "bench") { _ in SwiftLogNoOpLogHandler() })
  for (index, cluster) in ["cluster1", "cluster2"].enumerated() {
    let network = "network\(index + 1)"
    var objects = makeObjects(services: services, endpoints: endpoints, addressOffset: index * 64)
    objects.append(
      .namespace(Namespace(metadata: ObjectMeta(name: "istio-system", labels: ["topology.istio.io/network": network]))))
    objects.append(
      .service(
        KubeService(
          metadata: ObjectMeta(
            name: "istio-eastwestgateway", namespace: "istio-system", labels: ["topology.istio.io/network": network]),
          spec: KubeService.Spec(
            clusterIP: "10.0.\(index).1", ports: [KubeService.Port(name: "tls", port: 15443)],
            externalIPs: ["192.0.2.\(index + 1)"]))))
    _ = await registry.apply(cluster: cluster, objects: ClusterObjects(objects))
  }
  return registry.current
}

/// The objects of `services` services with two ports and `endpoints` mTLS-capable pods each.
func makeObjects(services: Int, endpoints: Int, addressOffset: Int = 0) -> [KubeObject] {
  var objects: [KubeObject] = [.namespace(Namespace(metadata: ObjectMeta(name: "bench")))]
  for index in 0..<services {
    let name = "svc-\(index)"
    objects.append(
      .service(
        KubeService(
          metadata: ObjectMeta(name: name, namespace: "bench"),
          spec: KubeService.Spec(
            clusterIP: "10.\(96 + index / 65536).\(index / 256 % 256).\(index % 256)",
            ports: [
              KubeService.Port(name: "http", port: 8080, targetPort: .int(8080)),
              KubeService.Port(name: "grpc", port: 9090, targetPort: .int(9090)),
            ]))))
    var addresses: [String] = []
    for e in 0..<endpoints {
      let ip = "10.\(128 + (index / 256 + addressOffset) % 128).\(index % 256).\(e + 1)"
      addresses.append(ip)
      objects.append(
        .pod(
          Pod(
            metadata: ObjectMeta(
              name: "\(name)-\(e)", namespace: "bench", labels: ["app": name, "security.istio.io/tlsMode": "istio"]),
            spec: Pod.Spec(serviceAccountName: name),
            status: Pod.Status(podIP: ip, phase: "Running"))))
    }
    objects.append(
      .endpointSlice(
        EndpointSlice(
          metadata: ObjectMeta(
            name: "\(name)-slice", namespace: "bench", labels: [EndpointSlice.serviceNameLabel: name]),
          addressType: "IPv4",
          endpoints: addresses.map { EndpointSlice.Endpoint(addresses: [$0], conditions: .init(ready: true)) },
          ports: [.init(name: "http", port: 8080), .init(name: "grpc", port: 9090)])))
  }
  return objects
}

let options = Options(arguments: CommandLine.arguments)
let logger = Logger(label: "bench") { _ in SwiftLogNoOpLogHandler() }
print(
  "sextant-bench: \(options.services) services × 2 ports × \(options.endpointsPerService) endpoints; \(options.certificates) certificates"
)

let clock = ContinuousClock()
let buildStart = clock.now
let snapshot = await makeSnapshot(services: options.services, endpoints: options.endpointsPerService)
print("registry: build snapshot (one cluster apply)          \(milliseconds(clock.now - buildStart))")

let sidecar = ProxyView(type: .sidecar, namespace: "bench", interceptionMode: .none, ipAddress: "10.128.0.1")
let plan = InboundPlan(snapshot: snapshot, view: sidecar)
var clusterCount = 0
var clusterBytes = 0
let cds = try measure {
  let clusters = try ClusterGenerator.generate(snapshot: snapshot, view: sidecar, inbound: plan)
  clusterCount = clusters.count
  clusterBytes = try clusters.reduce(0) { $0 + (try $1.serializedBytes() as [UInt8]).count }
}
print("xds: CDS with auto mTLS (\(clusterCount) clusters, \(clusterBytes / 1024) KiB)   \(milliseconds(cds))")
let lds = try measure { _ = try ListenerGenerator.generate(snapshot: snapshot, view: sidecar, inbound: plan) }
print("xds: LDS NONE mode with inbound                       \(milliseconds(lds))")
let eds = measure {
  for index in 0..<min(options.services, 100) {
    _ = EndpointGenerator.generate(
      snapshot: snapshot, clusterName: "outbound|8080||svc-\(index).bench.svc.cluster.local", view: sidecar)
  }
}
print("xds: EDS, 100 clusters                                 \(milliseconds(eds))")
let twoNetworks = await makeTwoNetworkSnapshot(
  services: min(options.services, 100), endpoints: options.endpointsPerService)
var networkView = sidecar
networkView.network = "network1"
let splitEDS = measure {
  for index in 0..<min(options.services, 100) {
    _ = EndpointGenerator.generate(
      snapshot: twoNetworks, clusterName: "outbound|8080||svc-\(index).bench.svc.cluster.local", view: networkView)
  }
}
print("xds: EDS split horizon, 100 clusters, 2 networks        \(milliseconds(splitEDS))")
let inbound = measure {
  for index in 0..<100 {
    var view = sidecar
    view.ipAddress = "10.128.\(index % 256).1"
    view.instanceIPs = [view.ipAddress]
    _ = InboundPlan(snapshot: snapshot, view: view)
  }
}
print("xds: inbound plan, 100 proxies (address index built)    \(milliseconds(inbound))")

let material = try CAMaterial(
  pem: SelfSignedCA.makeMaterialPEM(trustDomain: "cluster.local"), source: "bench", now: Date())
let authority = CertificateAuthority(material: material, logger: logger)
let identity = try SpiffeID(trustDomain: "cluster.local", namespace: "bench", serviceAccount: "svc-0")
var issued: IssuedCertificate?
let issue = try measure {
  for _ in 0..<options.certificates {
    issued = try authority.issueWorkloadCertificate(identity: identity, ttl: .seconds(86_400))
  }
}
print("trust: SDS default, key + certificate (ECDSA P-256)   \(perSecond(options.certificates, issue))")
let chain = issued!.chain
let verify = try measure {
  for _ in 0..<options.certificates {
    _ = try PeerCertificateVerifier.verify(chain: chain, roots: material.rootCertificates)
  }
}
print("trust: client chain verification                       \(perSecond(options.certificates, verify))")

let startup = try await controlPlaneStartup(
  services: options.services, endpoints: options.endpointsPerService, logger: logger)
print("control plane: start to ready on a clusters directory   \(milliseconds(startup))")
