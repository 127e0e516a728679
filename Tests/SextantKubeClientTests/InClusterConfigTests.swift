import Foundation
import Testing

@testable import SextantKubeClient

@Suite("In-cluster configuration")
struct InClusterConfigTests {
  /// A temporary root holding a service-account directory; removed by `cleanUp`.
  private func makeRoot(token: String? = "  the-token\n", ca: Bool = true) throws -> String {
    let root = FileManager.default.temporaryDirectory.appendingPathComponent("sextant-incluster-\(UUID().uuidString)")
    let directory = root.appendingPathComponent(KubeClientConfig.serviceAccountDirectory)
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    if let token { try Data(token.utf8).write(to: directory.appendingPathComponent("token")) }
    if ca { try Data(try Fixture.bytes("ca.crt")).write(to: directory.appendingPathComponent("ca.crt")) }
    return root.path
  }

  private func cleanUp(_ root: String) { try? FileManager.default.removeItem(atPath: root) }

  @Test("reads the service account's token and CA under the given root")
  func inCluster() throws {
    let root = try makeRoot()
    defer { cleanUp(root) }
    let config = try KubeClientConfig.inCluster(
      environment: ["KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"], fileSystemRoot: root)
    #expect(config.server == "https://10.96.0.1:443")
    #expect(config.token == "the-token")
    #expect(config.tokenFile == root + "/var/run/secrets/kubernetes.io/serviceaccount/token")
    #expect(config.caPEM == (try Fixture.bytes("ca.crt")))
    #expect(!config.insecureSkipTLSVerify)
  }

  @Test("brackets an IPv6 service host")
  func ipv6() throws {
    let root = try makeRoot()
    defer { cleanUp(root) }
    let config = try KubeClientConfig.inCluster(
      environment: ["KUBERNETES_SERVICE_HOST": "fd00:10:96::1", "KUBERNETES_SERVICE_PORT": "6443"], fileSystemRoot: root
    )
    #expect(config.server == "https://[fd00:10:96::1]:6443")
  }

  @Test("outside a pod, or without a token, it fails precisely")
  func failures() throws {
    let outside = #expect(throws: KubeconfigError.self) {
      try KubeClientConfig.inCluster(environment: ["KUBERNETES_SERVICE_HOST": "10.96.0.1"], fileSystemRoot: "/")
    }
    #expect(outside?.code == .notInCluster)

    let root = try makeRoot(token: nil)
    defer { cleanUp(root) }
    let noToken = #expect(throws: KubeconfigError.self) {
      try KubeClientConfig.inCluster(
        environment: ["KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"], fileSystemRoot: root)
    }
    #expect(noToken?.code == .fileUnreadable)
    #expect(noToken?.message.contains("serviceaccount/token") == true)

    let badPort = #expect(throws: KubeconfigError.self) {
      try KubeClientConfig.inCluster(
        environment: ["KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "https"], fileSystemRoot: root)
    }
    #expect(badPort?.code == .invalidValue)
  }
}
