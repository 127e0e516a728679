import SextantBase
import Testing

@testable import SextantRegistry

/// Istio's meshNetworks document: parsing, errors with key path and line, and the address ranges it uses.
@Suite("MeshNetworks parsing")
struct MeshNetworksTests {
  static let eastwest = "istio-eastwestgateway.istio-system.svc.cluster.local"

  @Test func fullDocument() throws {
    let networks = try MeshNetworks(
      yaml: """
        networks:
          network1:
            endpoints:
            - fromRegistry: cluster1
            - fromCidr: 192.168.0.0/16
            - fromCidr: "fd00::/8"
            gateways:
            - address: 192.0.2.1
              port: 15443
          network2:
            endpoints:
            - fromRegistry: cluster2
            - fromRegistry: cluster3
            gateways:
            - registryServiceName: istio-eastwestgateway.istio-system.svc.cluster.local
              port: 15443
              locality: us-east-1
            - address: gw.example.com
              port: "16443"
          network3: {}
        """, source: "meshNetworks.yaml")
    #expect(
      networks
        == MeshNetworks(networks: [
          "network1": MeshNetworks.Network(
            name: "network1", registries: ["cluster1"], ranges: [IPRange("192.168.0.0/16")!, IPRange("fd00::/8")!],
            gateways: [MeshNetworks.Gateway(target: .address("192.0.2.1"), port: 15443)]),
          "network2": MeshNetworks.Network(
            name: "network2", registries: ["cluster2", "cluster3"],
            gateways: [
              MeshNetworks.Gateway(target: .registryServiceName(Self.eastwest), port: 15443),
              MeshNetworks.Gateway(target: .address("gw.example.com"), port: 16443),
            ]),
          "network3": MeshNetworks.Network(name: "network3"),
        ]))
    #expect(networks.network(ofCluster: "cluster3") == "network2")
    #expect(networks.network(ofAddress: "192.168.4.5") == "network1")
    #expect(networks.network(ofAddress: "fd00::9") == "network1")
  }

  @Test func emptyDocuments() throws {
    #expect(try MeshNetworks(yaml: "", source: "empty.yaml") == .none)
    #expect(try MeshNetworks(yaml: "networks:\n", source: "null.yaml") == .none)
    #expect(try MeshNetworks(yaml: "networks: {}\n", source: "map.yaml") == .none)
  }

  /// The error `yaml` gives.
  func error(_ yaml: String) -> ConfigFileError? {
    do {
      _ = try MeshNetworks(yaml: yaml, source: "mn.yaml")
      return nil
    } catch {
      return error
    }
  }

  @Test func unknownKeysNameThePathAndLine() throws {
    let top = try #require(error("networks: {}\nnetwork:\n  a: {}\n"))
    #expect(top.key == "network")
    #expect(top.line == 2)
    #expect(top.source == "mn.yaml")
    #expect(top.code == .invalidMeshNetworks)

    let inNetwork = try #require(
      error(
        """
        networks:
          network1:
            endpoint:
            - fromRegistry: cluster1
        """))
    #expect(inNetwork.key == "networks.network1.endpoint")
    #expect(inNetwork.line == 3)
    #expect(inNetwork.description.hasPrefix("mn.yaml:3: networks.network1.endpoint: unknown key"))

    let inEndpoint = try #require(
      error(
        """
        networks:
          network1:
            endpoints:
            - fromRegistry: cluster1
            - fromCIDR: 10.0.0.0/8
        """))
    #expect(inEndpoint.key == "networks.network1.endpoints[1].fromCIDR")
    #expect(inEndpoint.line == 5)

    let inGateway = try #require(
      error(
        """
        networks:
          network1:
            gateways:
            - address: 192.0.2.1
              port: 15443
              weight: 1
        """))
    #expect(inGateway.key == "networks.network1.gateways[0].weight")
    #expect(inGateway.line == 6)
  }

  @Test func badCIDR() throws {
    for cidr in ["10.0.0.0/33", "10.0.0/8", "not-a-range", "fd00::/129", "10.0.0.0/"] {
      let bad = try #require(
        error(
          """
          networks:
            network1:
              endpoints:
              - fromRegistry: cluster1
              - fromCidr: "\(cidr)"
          """), "\(cidr)")
      #expect(bad.key == "networks.network1.endpoints[1].fromCidr", "\(cidr)")
      #expect(bad.line == 5, "\(cidr)")
      #expect(bad.message.contains(cidr), "\(cidr)")
    }
  }

  @Test func endpointEntryWithBothKinds() throws {
    let bad = try #require(
      error(
        """
        networks:
          network1:
            endpoints:
            - fromRegistry: cluster1
              fromCidr: 10.0.0.0/8
        """))
    #expect(bad.key == "networks.network1.endpoints[0]")
    #expect(bad.line == 4)
  }

  @Test(arguments: ["0", "70000", "-1", "abc", "15443.5"])
  func portOutOfRange(port: String) throws {
    let bad = try #require(
      error(
        """
        networks:
          network1:
            gateways:
            - address: 192.0.2.1
              port: \(port)
        """))
    #expect(bad.key == "networks.network1.gateways[0].port")
    #expect(bad.line == 5)
  }

  @Test func addressAndRegistryServiceNameTogether() throws {
    let bad = try #require(
      error(
        """
        networks:
          network1:
            gateways:
            - address: 192.0.2.1
              registryServiceName: istio-eastwestgateway.istio-system.svc.cluster.local
              port: 15443
        """))
    #expect(bad.key == "networks.network1.gateways[0].registryServiceName")
    #expect(bad.line == 5)
    #expect(bad.message.contains("not both"))
  }

  @Test func missingPortOrTarget() throws {
    let noPort = try #require(
      error(
        """
        networks:
          network1:
            gateways:
            - address: 192.0.2.1
            - address: 192.0.2.2
              locality: us-east-1
        """))
    #expect(noPort.key == "networks.network1.gateways[0].port")
    #expect(noPort.line == 4)

    let noTarget = try #require(
      error(
        """
        networks:
          network1:
            gateways:
            - port: 15443
        """))
    #expect(noTarget.key == "networks.network1.gateways[0]")
    #expect(noTarget.line == 4)
  }

  @Test func wrongShapes() throws {
    #expect(error("- networks\n")?.key == "")
    #expect(error("networks: [a]\n")?.key == "networks")
    #expect(error("networks:\n  network1: [a]\n")?.key == "networks.network1")
    #expect(error("networks:\n  network1:\n    endpoints: {fromRegistry: c1}\n")?.key == "networks.network1.endpoints")
    #expect(
      error("networks:\n  network1:\n    gateways:\n    - address: \"\"\n      port: 1\n")?.key
        == "networks.network1.gateways[0].address")
    #expect(error("networks: {a: {}\n")?.message.hasPrefix("not valid YAML") == true)
  }
}

@Suite("IPRange")
struct IPRangeTests {
  func contains(_ range: String, _ address: String) -> Bool {
    IPRange(range)!.contains(IPAddress(address)!)
  }

  @Test func ipv4() {
    #expect(contains("10.1.0.0/16", "10.1.0.0"))
    #expect(contains("10.1.0.0/16", "10.1.255.255"))
    #expect(!contains("10.1.0.0/16", "10.2.0.0"))
    #expect(!contains("10.1.0.0/16", "10.0.255.255"))
    // A prefix that is not a multiple of 8.
    #expect(contains("192.168.16.0/20", "192.168.31.255"))
    #expect(!contains("192.168.16.0/20", "192.168.32.0"))
    #expect(!contains("192.168.16.0/20", "192.168.15.255"))
    #expect(contains("10.0.0.128/25", "10.0.0.200"))
    #expect(!contains("10.0.0.128/25", "10.0.0.127"))
    // Host bits in the base are ignored.
    #expect(contains("10.1.2.3/16", "10.1.9.9"))
  }

  @Test func ipv6() {
    #expect(contains("fd00::/8", "fd12:3456::1"))
    #expect(!contains("fd00::/8", "fe80::1"))
    #expect(contains("2001:db8::/32", "2001:db8:ffff::1"))
    #expect(!contains("2001:db8::/32", "2001:db9::1"))
    #expect(contains("2001:db8::/127", "2001:db8::1"))
    #expect(!contains("2001:db8::/127", "2001:db8::2"))
  }

  @Test func edgesOfThePrefixLength() {
    #expect(contains("0.0.0.0/0", "255.255.255.255"))
    #expect(contains("0.0.0.0/0", "10.0.0.1"))
    #expect(contains("::/0", "fd00::1"))
    #expect(contains("10.0.0.1/32", "10.0.0.1"))
    #expect(!contains("10.0.0.1/32", "10.0.0.2"))
    #expect(contains("fd00::1/128", "fd00::1"))
    #expect(!contains("fd00::1/128", "fd00::2"))
    // A bare address is a single-address range.
    #expect(IPRange("10.0.0.1")?.prefixLength == 32)
    #expect(IPRange("fd00::1")?.prefixLength == 128)
    #expect(contains("10.0.0.1", "10.0.0.1"))
    #expect(!contains("10.0.0.1", "10.0.0.3"))
  }

  @Test func familiesNeverMix() {
    #expect(!contains("0.0.0.0/0", "::1"))
    #expect(!contains("::/0", "10.0.0.1"))
    #expect(!contains("::/0", "0.0.0.0"))
    #expect(!contains("10.0.0.0/8", "::ffff:10.0.0.1"))
  }

  @Test func parsing() {
    #expect(IPRange("10.0.0.0/8")?.description == "10.0.0.0/8")
    #expect(IPRange("fd00::/8")?.base.isIPv4 == false)
    #expect(IPRange("10.0.0.0/8")?.base.isIPv4 == true)
    for invalid in [
      "", "/8", "10.0.0.0/", "10.0.0.0/33", "10.0.0.0/-1", "10.0.0.0/8/8", "fd00::/129", "10.0.0/8", "host/8",
    ] {
      #expect(IPRange(invalid) == nil, "\(invalid)")
    }
    #expect(IPAddress("10.0.0.1")?.bytes == [10, 0, 0, 1])
    #expect(IPAddress("::1")?.bytes == Array(repeating: 0, count: 15) + [1])
    #expect(IPAddress("1.2.3") == nil)
    #expect(IPAddress("example.com") == nil)
  }
}
