import SextantKube
import Testing

@testable import SextantRegistry

@Suite("Protocol selection")
struct ProtocolSelectionTests {
  struct Case: Sendable, CustomTestStringConvertible {
    var name: String?
    var kubernetesProtocol: String? = nil
    var appProtocol: String? = nil
    var expected: ServiceProtocol

    var testDescription: String {
      "name=\(name ?? "nil") protocol=\(kubernetesProtocol ?? "nil") appProtocol=\(appProtocol ?? "nil") → \(expected)"
    }
  }

  static let cases: [Case] = [
    // Port-name prefixes, case-insensitive.
    Case(name: "http", expected: .http),
    Case(name: "http-web", expected: .http),
    Case(name: "HTTP-Web", expected: .http),
    Case(name: "http2", expected: .http2),
    Case(name: "http2-api", expected: .http2),
    Case(name: "https", expected: .https),
    Case(name: "https-admin", expected: .https),
    Case(name: "grpc", expected: .grpc),
    Case(name: "GRPC-internal", expected: .grpc),
    Case(name: "grpc-web", expected: .grpcWeb),
    Case(name: "grpc-web-x", expected: .grpcWeb),
    Case(name: "GRPC-WEB", expected: .grpcWeb),
    Case(name: "grpc-webx", expected: .grpcWeb),  // istiod only checks the 8-character prefix
    Case(name: "grpcweb-x", expected: .tcp),
    Case(name: "tcp", expected: .tcp),
    Case(name: "tcp-db", expected: .tcp),
    Case(name: "tls", expected: .tls),
    Case(name: "tls-passthrough", expected: .tls),
    Case(name: "udp-dns", expected: .udp),
    Case(name: "mongo", expected: .mongo),
    Case(name: "mongo-primary", expected: .mongo),
    Case(name: "redis", expected: .redis),
    Case(name: "Redis-cache", expected: .redis),
    Case(name: "mysql", expected: .mysql),
    Case(name: "mysql-main", expected: .mysql),
    // Anything else is TCP.
    Case(name: nil, expected: .tcp),
    Case(name: "", expected: .tcp),
    Case(name: "web", expected: .tcp),
    Case(name: "httpx", expected: .tcp),
    Case(name: "something-http", expected: .tcp),
    Case(name: "http_proxy", expected: .tcp),
    Case(name: "-http", expected: .tcp),
    // Kubernetes protocol UDP wins over the name.
    Case(name: "http", kubernetesProtocol: "UDP", expected: .udp),
    Case(name: nil, kubernetesProtocol: "UDP", expected: .udp),
    Case(name: "http", kubernetesProtocol: "TCP", expected: .http),
    Case(name: "grpc", kubernetesProtocol: "SCTP", expected: .grpc),
    // appProtocol replaces the name.
    Case(name: "http-something", appProtocol: "https", expected: .https),
    Case(name: "something-httpx", appProtocol: "https", expected: .https),
    Case(name: "http", appProtocol: "tcp", expected: .tcp),
    Case(name: "tcp", appProtocol: "HTTP", expected: .http),
    Case(name: "tcp", appProtocol: "grpc", expected: .grpc),
    Case(name: "tcp", appProtocol: "grpc-web", expected: .grpcWeb),
    Case(name: "http", appProtocol: "example.com/custom", expected: .tcp),
    Case(name: "tcp", appProtocol: "kubernetes.io/h2c", expected: .http2),
    Case(name: "tcp", appProtocol: "kubernetes.io/ws", expected: .http),
    Case(name: "tcp", appProtocol: "kubernetes.io/wss", expected: .https),
    Case(name: "http", kubernetesProtocol: "UDP", appProtocol: "kubernetes.io/h2c", expected: .udp),
  ]

  @Test(arguments: cases)
  func selection(_ c: Case) {
    let port = KubeService.Port(name: c.name, protocol: c.kubernetesProtocol, port: 1234, appProtocol: c.appProtocol)
    #expect(ServiceProtocol(port: port) == c.expected)
  }

  @Test func parseIsCaseInsensitiveAndRejectsUnknown() {
    for p in ServiceProtocol.allCases {
      #expect(ServiceProtocol.parse(p.rawValue) == p)
      #expect(ServiceProtocol.parse(p.rawValue.lowercased()) == p)
      #expect(ServiceProtocol.parse(p.rawValue.uppercased()) == p)
    }
    #expect(ServiceProtocol.parse("http_proxy") == nil)
    #expect(ServiceProtocol.parse("") == nil)
  }

  @Test func httpClassification() {
    #expect(ServiceProtocol.grpcWeb.isHTTP && ServiceProtocol.grpcWeb.isHTTP2)
    #expect(ServiceProtocol.http.isHTTP && !ServiceProtocol.http.isHTTP2)
    #expect(!ServiceProtocol.https.isHTTP && !ServiceProtocol.tcp.isHTTP)
  }

  @Test func servicePortsCarryTheSelectedProtocol() {
    let view = Fx.build([
      Fx.service(
        "multi",
        ports: [
          KubeService.Port(name: "grpc-api", port: 7070),
          KubeService.Port(name: "dns", protocol: "UDP", port: 53),
          KubeService.Port(port: 8080, appProtocol: "kubernetes.io/h2c"),
        ]
      )
    ])
    let ports = view.services["multi.default.svc.cluster.local"]!.ports
    #expect(ports.map(\.port) == [53, 7070, 8080])
    #expect(ports.map(\.protocol) == [.udp, .grpc, .http2])
    #expect(ports.map(\.name) == ["dns", "grpc-api", ""])
  }
}
