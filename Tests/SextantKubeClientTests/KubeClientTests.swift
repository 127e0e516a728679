import Foundation
import Logging
import NIOCore
import SextantKube
import SextantTestSupport
import Testing

@testable import SextantKubeClient

@Suite("KubeClient")
struct KubeClientTests {
  private let logger = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }

  @Test("URLs: path under the server prefix, query percent-encoded, TLS server name only in the request URL")
  func urls() async {
    let plain = KubeClient(
      clusterID: "c", config: KubeClientConfig(server: "https://10.0.0.2:6443/prefix/"), logger: logger)
    let target = plain.target(
      "/api/v1/namespaces/istio-system/secrets", [("labelSelector", "istio/multiCluster=true"), ("limit", "500")])
    #expect(
      target.display
        == "https://10.0.0.2:6443/prefix/api/v1/namespaces/istio-system/secrets?labelSelector=istio%2FmultiCluster%3Dtrue&limit=500"
    )
    #expect(target.request == target.display)
    await plain.shutdown()

    let named = KubeClient(
      clusterID: "c",
      config: KubeClientConfig(
        server: "https://10.0.0.2:6443", caPEM: try? Fixture.bytes("ca.crt"), tlsServerName: "kubernetes.default.svc"),
      logger: logger)
    let rewritten = named.target("/version", [])
    #expect(rewritten.display == "https://10.0.0.2:6443/version")
    #expect(rewritten.request == "https://kubernetes.default.svc:6443/version")
    await named.shutdown()
  }

  @Test("the cluster ID defaults to the logger's cluster metadata, else the server host")
  func clusterIDDefault() async {
    var tagged = LogRecorder().logger
    tagged[metadataKey: "cluster"] = "cluster7"
    let fromLogger = KubeClient(config: KubeClientConfig(server: "https://api.example.com"), logger: tagged)
    #expect(fromLogger.clusterID == "cluster7")
    await fromLogger.shutdown()
    let fromHost = KubeClient(config: KubeClientConfig(server: "https://api.example.com:443"), logger: logger)
    #expect(fromHost.clusterID == "api.example.com")
    await fromHost.shutdown()
  }

  @Test("an unusable configuration fails every request with invalidConfiguration, naming cluster and URL")
  func invalidConfiguration() async {
    let badCA = KubeClientConfig(server: "https://10.0.0.2:6443", caPEM: Array("not a certificate".utf8))
    #expect(throws: KubeClientError.self) { try KubeClient.tlsConfiguration(for: badCA, clusterID: "c") }
    let client = KubeClient(clusterID: "cluster9", config: badCA, logger: logger)
    let error = await #expect(throws: KubeClientError.self) { try await client.get("/version") }
    #expect(error?.code == .invalidConfiguration)
    #expect(error?.clusterID == "cluster9")
    #expect(error?.url == "https://10.0.0.2:6443/version")
    await client.shutdown()

    let ftp = KubeClient(clusterID: "c", config: KubeClientConfig(server: "ftp://x"), logger: logger)
    let ftpError = await #expect(throws: KubeClientError.self) { try await ftp.get("/version") }
    #expect(ftpError?.code == .invalidConfiguration)
    await ftp.shutdown()
  }

  @Test("a refused connection is classified as connectionFailed, at once, with cluster and URL")
  func connectionRefused() async throws {
    let port = try closedPort()
    let client = KubeClient(
      clusterID: "cluster2", config: KubeClientConfig(server: "https://127.0.0.1:\(port)"), logger: logger)
    let error = await #expect(throws: KubeClientError.self) {
      try await client.list("/api/v1/pods", as: SextantKubeClientTestsPod.self)
    }
    #expect(error?.code == .connectionFailed)
    #expect(error?.description.hasPrefix("cluster cluster2: https://127.0.0.1:\(port)/api/v1/pods?limit=500: ") == true)
    let watchError = await #expect(throws: KubeClientError.self) {
      let _: AsyncThrowingStream<[WatchEvent<SextantKubeClientTestsPod>], any Error> = try await client.watchBatches(
        "/api/v1/pods", resourceVersion: "1", timeout: .seconds(5))
    }
    #expect(watchError?.code == .connectionFailed)
    var events = client.watch(
      "/api/v1/pods", as: SextantKubeClientTestsPod.self, resourceVersion: "1", timeout: .seconds(5)
    ).makeAsyncIterator()
    await #expect(throws: KubeClientError.self) { _ = try await events.next() }
    await client.shutdown()
  }

  @Test(
    "HTTP statuses map to codes",
    arguments: [
      (401, KubeClientError.Code.unauthorized), (403, .forbidden), (404, .notFound), (410, .gone),
      (429, .tooManyRequests),
      (500, .serverError), (503, .serverError), (400, .unexpectedStatus), (409, .unexpectedStatus),
    ])
  func statusCodes(status: Int, code: KubeClientError.Code) {
    let error = KubeClientError.forStatus(status, reason: "Reason", apiMessage: "details", clusterID: "c", url: "u")
    #expect(error.code == code)
    #expect(error.status == status)
    #expect(error.message == "HTTP \(status) Reason: details")
    #expect(error.isRetryable)
  }

  @Test("a paginated list leaves out undecodable items, numbering them across pages")
  func skippedAcrossPages() async throws {
    let first = """
      {"kind":"GatewayList","apiVersion":"networking.istio.io/v1","metadata":{"resourceVersion":"30","continue":"next"},
       "items":[{"metadata":{"name":"a","namespace":"n"}},{"metadata":{"name":"b","namespace":"n"}}]}
      """
    let second = """
      {"kind":"GatewayList","apiVersion":"networking.istio.io/v1","metadata":{"resourceVersion":"30"},
       "items":[{"metadata":{"name":"c","namespace":"n"}},{"metadata":{"namespace":"n"}},{"metadata":{"name":"d"}}]}
      """
    let server = try FixtureHTTPServer([
      FixtureHTTPServer.Response(status: 200, body: Array(first.utf8)),
      FixtureHTTPServer.Response(status: 200, body: Array(second.utf8)),
    ])
    var options = KubeClientOptions()
    options.pageSize = 2
    let client = KubeClient(
      clusterID: "c", config: KubeClientConfig(server: server.url), options: options, logger: logger)
    let list = try await client.list("/apis/networking.istio.io/v1/gateways", as: IstioGateway.self)
    await client.shutdown()
    server.stop()
    #expect(list.items.map(\.metadata.name) == ["a", "b", "c", "d"])
    #expect(list.skipped.map(\.description) == ["n (item 3): metadata.name: required field is missing"])
    #expect(
      server.targets == [
        "/apis/networking.istio.io/v1/gateways?limit=2", "/apis/networking.istio.io/v1/gateways?limit=2&continue=next",
      ])
  }

  @Test("a list whose continue tokens never end stops at maximumListPages with an error naming the bound")
  func endlessContinueTokens() async throws {
    let page = """
      {"kind":"GatewayList","apiVersion":"networking.istio.io/v1","metadata":{"resourceVersion":"30","continue":"more"},
       "items":[{"metadata":{"name":"a","namespace":"n"}}]}
      """
    let server = try FixtureHTTPServer { _ in FixtureHTTPServer.Response(status: 200, body: Array(page.utf8)) }
    var options = KubeClientOptions()
    options.pageSize = 1
    options.maximumListPages = 3
    let client = KubeClient(
      clusterID: "c", config: KubeClientConfig(server: server.url), options: options, logger: logger)
    let error = await #expect(throws: KubeClientError.self) {
      _ = try await client.list("/apis/networking.istio.io/v1/gateways", as: IstioGateway.self)
    }
    await client.shutdown()
    server.stop()
    #expect(error?.code == .responseTooLarge)
    #expect(error?.clusterID == "c")
    #expect(
      error?.message
        == "the list has more than 3 pages of 1 items (maximumListPages); is the server sending continue tokens forever?"
    )
    #expect(error?.url.contains("/apis/networking.istio.io/v1/gateways") == true)
    #expect(server.targets.count == 3)
  }

  @Test("a list page over maximumResponseSize ends the list with an error naming the cluster and bound")
  func oversizedPage() async throws {
    let server = try FixtureHTTPServer { _ in
      FixtureHTTPServer.Response(status: 200, body: Array(repeating: UInt8(ascii: " "), count: 64 << 10))
    }
    var options = KubeClientOptions()
    options.maximumResponseSize = 1_024
    let client = KubeClient(
      clusterID: "c", config: KubeClientConfig(server: server.url), options: options, logger: logger)
    let error = await #expect(throws: KubeClientError.self) {
      _ = try await client.list("/apis/networking.istio.io/v1/gateways", as: IstioGateway.self)
    }
    await client.shutdown()
    server.stop()
    #expect(error?.code == .responseTooLarge)
    #expect(error?.clusterID == "c")
    #expect(error?.message == "the response is larger than 1024 bytes")
  }

  @Test("a watch line that never ends stops at maximumWatchEventSize with an error naming the bound")
  func endlessWatchLine() async throws {
    let server = try FixtureHTTPServer { _ in
      FixtureHTTPServer.Response(status: 200, body: Array(repeating: UInt8(ascii: "x"), count: 64 << 10))
    }
    var options = KubeClientOptions()
    options.maximumWatchEventSize = 1_024
    let client = KubeClient(
      clusterID: "c", config: KubeClientConfig(server: server.url), options: options, logger: logger)
    let events = client.watch(
      "/apis/networking.istio.io/v1/gateways", as: IstioGateway.self, resourceVersion: "1", timeout: .seconds(30))
    let error = await #expect(throws: KubeClientError.self) {
      for try await _ in events {}
    }
    await client.shutdown()
    server.stop()
    #expect(error?.code == .responseTooLarge)
    #expect(error?.clusterID == "c")
    #expect(error?.message == "a watch event is larger than 1024 bytes")
  }

  @Test("the defaults bound one list page, one watch event and the pages of a list")
  func defaultBounds() {
    let options = KubeClientOptions()
    #expect(options.maximumResponseSize == 32 << 20)
    #expect(options.maximumWatchEventSize == 8 << 20)
    #expect(options.maximumListPages == 1_000)
  }

  @Test("failures of the HTTP stack are classified")
  func classification() async {
    let client = KubeClient(clusterID: "c", config: KubeClientConfig(server: "https://x"), logger: logger)
    let target = client.target("/api", [])
    #expect(client.classify(CancellationError(), target).code == .cancelled)
    #expect(client.classify(KubeClient.TimeoutError.exceeded, target).code == .timeout)
    #expect(client.classify(WatchLineSplitter.LineTooLong(limit: 3), target).code == .responseTooLarge)
    #expect(client.classify(IOError(errnoCode: ECONNRESET, reason: "read"), target).code == .connectionFailed)
    let decoding = DecodingError.keyNotFound(
      AnyKey("name"), DecodingError.Context(codingPath: [AnyKey("metadata")], debugDescription: ""))
    let decoded = client.classify(decoding, target)
    #expect(decoded.code == .decodingFailed)
    #expect(decoded.message == "metadata.name: required field is missing")
    await client.shutdown()
  }

  /// A TCP port on loopback that nothing listens on.
  private func closedPort() throws -> Int {
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(descriptor) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) { pointer in
      pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
        bind(descriptor, $0, length) == 0 && getsockname(descriptor, $0, &length) == 0
      }
    }
    try #require(bound)
    return Int(UInt16(bigEndian: address.sin_port))
  }
}

/// A minimal decodable object for client-level tests.
struct SextantKubeClientTestsPod: Decodable, Sendable {
  var metadata: [String: String]?
}

struct AnyKey: CodingKey {
  var stringValue: String
  var intValue: Int? { nil }
  init(_ string: String) { stringValue = string }
  init?(stringValue: String) { self.stringValue = stringValue }
  init?(intValue: Int) { nil }
}
