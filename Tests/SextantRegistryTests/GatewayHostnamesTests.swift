import SextantKube
import Synchronization
import Testing

@testable import SextantRegistry
@testable import SextantSources

/// Gateway hostnames are looked up in the background; the registry rebuilds what used them when answers change.
@Suite("Gateway hostnames")
struct GatewayHostnamesTests {
  /// A resolver whose answers the test sets, counting lookups per name.
  final class FakeDNS: Sendable {
    private let state = Mutex<(answers: [String: [String]], lookups: [String: Int])>(([:], [:]))

    func set(_ hostname: String, _ addresses: [String]) { state.withLock { $0.answers[hostname] = addresses } }
    func lookups(_ hostname: String) -> Int { state.withLock { $0.lookups[hostname] ?? 0 } }

    func lookup(_ hostname: String) async -> [String] {
      state.withLock { state in
        state.lookups[hostname, default: 0] += 1
        return state.answers[hostname] ?? []
      }
    }
  }

  struct Timeout: Error, CustomStringConvertible {
    var what: String
    var description: String { "no \(what) within 5 s" }
  }

  /// The first update whose snapshot satisfies `condition`, or a `Timeout` naming `what`.
  func first(
    _ what: String, in updates: AsyncStream<MeshRegistry.Update>,
    where condition: @escaping @Sendable (MeshSnapshot) -> Bool
  ) async throws -> MeshSnapshot {
    try await withThrowingTaskGroup(of: MeshSnapshot?.self) { group in
      group.addTask {
        for await (snapshot, _) in updates where condition(snapshot) { return snapshot }
        return nil
      }
      group.addTask {
        try await Task.sleep(for: .seconds(5))
        throw Timeout(what: what)
      }
      defer { group.cancelAll() }
      guard let next = try await group.next(), let snapshot = next else {
        throw Timeout(what: "\(what) (stream ended)")
      }
      return snapshot
    }
  }

  static let hostname = "gw.elb.example.com"

  static func objects() -> ClusterObjects {
    ClusterObjects([Fx.gatewayService(network: "network2", ingress: [KubeService.Ingress(hostname: hostname)])])
  }

  @Test func buildNeverWaitsAndTheAnswerRebuildsTheCluster() async throws {
    let dns = FakeDNS()
    dns.set(Self.hostname, ["203.0.113.7"])
    let hostnames = GatewayHostnames(refresh: .seconds(3600), lookup: dns.lookup)
    let registry = MeshRegistry(resolve: hostnames.addresses)
    let (_, updates) = registry.subscribe()
    await registry.apply(cluster: "c2", objects: Self.objects())
    // The build answered at once with what it had: nothing yet.
    #expect(registry.current.networks.gateways(of: "network2").isEmpty)
    #expect(await registry.view(of: "c2")?.gatewayHostnames == [Self.hostname])

    let resolver = Task { await hostnames.run { await registry.gatewayHostnamesChanged($0) } }
    defer { resolver.cancel() }
    let snapshot = try await first("gateway from the resolved hostname", in: updates) {
      !$0.networks.gateways(of: "network2").isEmpty
    }
    #expect(snapshot.networks.gateways(of: "network2").map(\.address) == ["203.0.113.7"])
    #expect(dns.lookups(Self.hostname) == 1)
  }

  @Test func refreshFollowsAChangedAnswer() async throws {
    let dns = FakeDNS()
    dns.set(Self.hostname, ["203.0.113.7"])
    let hostnames = GatewayHostnames(refresh: .milliseconds(20), lookup: dns.lookup)
    let registry = MeshRegistry(resolve: hostnames.addresses)
    let (_, updates) = registry.subscribe()
    await registry.apply(cluster: "c2", objects: Self.objects())
    let resolver = Task { await hostnames.run { await registry.gatewayHostnamesChanged($0) } }
    defer { resolver.cancel() }
    _ = try await first("first answer", in: updates) { $0.networks.gateways(of: "network2").count == 1 }
    dns.set(Self.hostname, ["203.0.113.8", "203.0.113.9"])
    let moved = try await first("refreshed answer", in: updates) { $0.networks.gateways(of: "network2").count == 2 }
    #expect(moved.networks.gateways(of: "network2").map(\.address) == ["203.0.113.8", "203.0.113.9"])
  }

  @Test func meshNetworksGatewayHostnamesAreResolvedToo() async throws {
    let dns = FakeDNS()
    dns.set("gw.network3.example.com", ["198.51.100.3"])
    let meshNetworks = MeshNetworks(networks: [
      "network3": MeshNetworks.Network(
        name: "network3", registries: ["c3"],
        gateways: [MeshNetworks.Gateway(target: .address("gw.network3.example.com"), port: 15443)])
    ])
    let hostnames = GatewayHostnames(refresh: .seconds(3600), lookup: dns.lookup)
    let registry = MeshRegistry(options: RegistryOptions(meshNetworks: meshNetworks), resolve: hostnames.addresses)
    let (_, updates) = registry.subscribe()
    await registry.apply(cluster: "c3", objects: ClusterObjects())
    let resolver = Task { await hostnames.run { await registry.gatewayHostnamesChanged($0) } }
    defer { resolver.cancel() }
    let snapshot = try await first("meshNetworks gateway", in: updates) {
      !$0.networks.gateways(of: "network3").isEmpty
    }
    #expect(snapshot.networks.gateways(of: "network3").map(\.address) == ["198.51.100.3"])
  }
}
