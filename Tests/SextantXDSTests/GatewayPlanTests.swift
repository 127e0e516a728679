import EnvoyAPI
import SextantKube
import SextantRegistry
import SextantTestSupport
import SwiftProtobuf
import Testing

@testable import SextantGeneration
@testable import SextantXDS

@Suite("GatewayPlan")
struct GatewayPlanTests {
  typealias F = GatewayFixture

  @Test func routerWhoseLabelsMatchGetsTheServers() async throws {
    let snapshot = try await F.snapshot(F.crossNetwork)
    let plan = GatewayPlan(config: snapshot.istioConfig, view: F.router())
    #expect(
      plan.listeners == [
        GatewayPlan.Listener(
          bind: "0.0.0.0", port: 15443,
          autoPassthrough: [GatewayPlan.HostPattern(pattern: "*.local", gatewayNamespace: "istio-system")], routes: [])
      ])
    #expect(plan.unsupported == [])
    #expect(plan.autoPassthroughServes(snapshot.services[F.hello]!))
  }

  @Test func sidecarsAndOtherRoutersGetNothing() async throws {
    let snapshot = try await F.snapshot(F.crossNetwork)
    // A sidecar with the very labels the selector names: gateways are for routers only.
    #expect(GatewayPlan(config: snapshot.istioConfig, view: F.sidecar) == .none)
    let other = GatewayPlan(config: snapshot.istioConfig, view: F.router(labels: ["istio": "ingressgateway"]))
    #expect(other.listeners == [])
    #expect(other.unsupported == [])
    #expect(!other.autoPassthroughServes(snapshot.services[F.hello]!))
    #expect(GatewayPlan(config: snapshot.istioConfig, view: F.router(labels: [:])).listeners == [])
  }

  @Test func emptySelectorSelectsEveryRouter() async throws {
    let snapshot = try await F.snapshot(
      F.crossNetwork.replacing("    istio: eastwestgateway\n", with: "").replacing("selector:", with: "selector: {}"))
    #expect(snapshot.istioConfig.gateways.first?.selector == [:])
    #expect(GatewayPlan(config: snapshot.istioConfig, view: F.router(labels: [:])).listeners.map(\.port) == [15443])
    #expect(GatewayPlan(config: snapshot.istioConfig, view: F.sidecar) == .none)
  }

  func service(_ name: String, _ namespace: String, domain: String = "cluster.local") -> MeshService {
    MeshService(hostname: "\(name).\(namespace).svc.\(domain)", name: name, namespace: namespace, ports: [])
  }

  @Test func hostPatterns() {
    func matches(_ pattern: String, _ service: MeshService, gatewayNamespace: String = "istio-system") -> Bool {
      GatewayPlan.HostPattern(pattern: pattern, gatewayNamespace: gatewayNamespace).matches(service)
    }
    let hello = service("helloworld", "sample")
    let ratings = service("ratings", "sample")
    let db = service("db", "other")
    let istiod = service("istiod", "istio-system")
    let elsewhere = service("web", "sample", domain: "example.org")

    #expect(matches("*", hello) && matches("*", db) && matches("*", elsewhere))
    #expect(matches("*.local", hello) && matches("*.local", db))
    #expect(!matches("*.local", elsewhere))
    #expect(matches("*.sample.svc.cluster.local", hello) && matches("*.sample.svc.cluster.local", ratings))
    #expect(!matches("*.sample.svc.cluster.local", db))
    #expect(matches("helloworld.sample.svc.cluster.local", hello))
    #expect(!matches("helloworld.sample.svc.cluster.local", ratings))
    // namespace/host
    #expect(matches("sample/*", hello) && matches("sample/*", ratings))
    #expect(!matches("sample/*", db))
    #expect(matches("*/helloworld.sample.svc.cluster.local", hello))
    #expect(!matches("*/helloworld.sample.svc.cluster.local", ratings))
    #expect(matches("sample/helloworld.sample.svc.cluster.local", hello))
    #expect(!matches("other/helloworld.sample.svc.cluster.local", hello))
    #expect(matches("other/*.local", db) && !matches("other/*.local", hello))
    // ./host: the Gateway's own namespace.
    #expect(matches("./*", istiod) && !matches("./*", hello))
    #expect(matches("./*", hello, gatewayNamespace: "sample"))
    #expect(matches("./helloworld.sample.svc.cluster.local", hello, gatewayNamespace: "sample"))
    #expect(!matches("./helloworld.sample.svc.cluster.local", hello, gatewayNamespace: "istio-system"))
  }
}
