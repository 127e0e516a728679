import Foundation
import Logging
import SextantKube
import SextantTestSupport
import Testing

@testable import SextantKubeClient

/// TokenReview and Secret requests against a local server answering with responses recorded from kube-apiserver
/// 1.20.2 (Fixtures/tokenreview-*.json, secret-*.json; the echoed token replaced by REDACTED).
@Suite("TokenReview and Secret requests")
struct TokenReviewTests {
  private let token = "eyJhbGciOiJSUzI1NiJ9.secret-token-value.signature"

  private func withServer(
    _ responses: [FixtureHTTPServer.Response], _ body: (KubeClient, FixtureHTTPServer) async throws -> Void
  ) async throws {
    let server = try FixtureHTTPServer(responses)
    let logs = LogRecorder()
    let client = KubeClient(
      clusterID: "cluster2", config: KubeClientConfig(server: server.url, token: "sextant-credentials"),
      logger: logs.logger)
    do {
      try await body(client, server)
    } catch {
      await client.shutdown()
      server.stop()
      throw error
    }
    await client.shutdown()
    server.stop()
    // The reviewed token never reaches a log.
    #expect(!logs.allText.contains(token))
  }

  @Test("recorded TokenReview answers decode: authenticated, wrong audience, invalid token, a non-service-account user")
  func decoding() throws {
    let good = try TokenReviewStatus.decode(answer: try Fixture.bytes("tokenreview-good.json"))
    #expect(good.authenticated)
    #expect(good.user?.username == "system:serviceaccount:sample:sleep")
    #expect(good.user?.groups == ["system:serviceaccounts", "system:serviceaccounts:sample", "system:authenticated"])
    #expect(good.audiences == ["istio-ca"])
    #expect(good.error == nil)

    let other = try TokenReviewStatus.decode(answer: try Fixture.bytes("tokenreview-other.json"))
    #expect(!other.authenticated)
    #expect(
      other.error
        == #"[invalid bearer token, token audiences ["other"] is invalid for the target audiences ["istio-ca"]]"#)
    #expect(other.user?.username == nil)

    let garbage = try TokenReviewStatus.decode(answer: try Fixture.bytes("tokenreview-garbage.json"))
    #expect(garbage == TokenReviewStatus(authenticated: false, user: .init(), error: "invalid bearer token"))

    let staticUser = try TokenReviewStatus.decode(answer: try Fixture.bytes("tokenreview-static-user.json"))
    #expect(staticUser.authenticated)
    #expect(staticUser.user?.username == "limited")
    #expect(staticUser.audiences == ["https://kubernetes.default.svc.cluster1.local"])
  }

  @Test("reviewToken POSTs a TokenReview with the token and audiences and returns the recorded status")
  func reviewPosts() async throws {
    try await withServer([
      try .fixture(201, "tokenreview-good.json"), try .fixture(201, "tokenreview-other.json"),
    ]) { client, server in
      let status = try await client.reviewToken(token, audiences: ["istio-ca"])
      #expect(status.authenticated)
      #expect(status.user?.username == "system:serviceaccount:sample:sleep")
      let rejected = try await client.reviewToken(token, audiences: [])
      #expect(!rejected.authenticated)

      let requests = server.requests
      #expect(requests.map(\.method) == ["POST", "POST"])
      #expect(requests.map(\.target) == Array(repeating: "/apis/authentication.k8s.io/v1/tokenreviews", count: 2))
      #expect(requests[0].headers["content-type"] == "application/json")
      #expect(requests[0].headers["authorization"] == "Bearer sextant-credentials")
      let first = try #require(requests[0].json)
      #expect(first["apiVersion"] as? String == "authentication.k8s.io/v1")
      #expect(first["kind"] as? String == "TokenReview")
      let spec = try #require(first["spec"] as? [String: Any])
      #expect(spec["token"] as? String == token)
      #expect(spec["audiences"] as? [String] == ["istio-ca"])
      // No audiences: the field is left out, so the server's own audiences apply.
      let second = try #require(requests[1].json?["spec"] as? [String: Any])
      #expect(second["audiences"] == nil)
    }
  }

  @Test("a refused TokenReview (403) is a forbidden error naming cluster and URL, without the token")
  func reviewForbidden() async throws {
    try await withServer([try .fixture(403, "tokenreview-403.json")]) { client, _ in
      let error = await #expect(throws: KubeClientError.self) {
        try await client.reviewToken(token, audiences: ["istio-ca"])
      }
      #expect(error?.code == .forbidden)
      #expect(error?.clusterID == "cluster2")
      #expect(error?.description.contains("/apis/authentication.k8s.io/v1/tokenreviews: HTTP 403") == true)
      #expect(error?.message.contains(#"cannot create resource "tokenreviews""#) == true)
      #expect(error?.description.contains(token) == false)
    }
  }

  @Test("an answer that is not a TokenReview is decodingFailed, without the token")
  func reviewUndecodable() async throws {
    let echo = Array(#"{"kind":"TokenReview","spec":{"token":"x"},"status":{"authenticated":"yes"}}"#.utf8)
    try await withServer([.init(status: 201, body: echo)]) { client, _ in
      let error = await #expect(throws: KubeClientError.self) {
        try await client.reviewToken(token, audiences: ["istio-ca"])
      }
      #expect(error?.code == .decodingFailed)
      #expect(error?.message.hasPrefix("unexpected TokenReview answer: status.authenticated: expected Bool") == true)
    }
  }

  @Test("the token fingerprint is the SHA-256 of the token in hex")
  func fingerprint() {
    #expect(
      KubeClient.tokenFingerprint("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
  }

  @Test("secret(namespace:name:) reads a Secret, nil on 404; other failures are errors")
  func readSecret() async throws {
    try await withServer([
      try .fixture(404, "secret-404.json"), try .fixture(200, "secret-created.json"),
      try .fixture(403, "tokenreview-403.json"),
    ]) { client, server in
      #expect(try await client.secret(namespace: "istio-system", name: "cacerts") == nil)
      let secret = try #require(try await client.secret(namespace: "istio-system", name: "istio-ca-secret"))
      #expect(secret.name == NamespacedName(namespace: "istio-system", name: "istio-ca-secret"))
      #expect(secret.type == "istio.io/ca-root")
      #expect(try secret.decodedData() == ["ca-cert.pem": Array("a".utf8)])
      await #expect(throws: KubeClientError.self) {
        try await client.secret(namespace: "istio-system", name: "cacerts")
      }
      #expect(
        server.requests.map(\.target) == [
          "/api/v1/namespaces/istio-system/secrets/cacerts", "/api/v1/namespaces/istio-system/secrets/istio-ca-secret",
          "/api/v1/namespaces/istio-system/secrets/cacerts",
        ])
      #expect(server.requests.allSatisfy { $0.method == "GET" })
    }
  }

  @Test("createSecret POSTs apiVersion, kind, metadata, type and base64 data; 409 is a conflict")
  func createSecret() async throws {
    try await withServer([try .fixture(201, "secret-created.json"), try .fixture(409, "secret-409.json")]) {
      client, server in
      let secret = Secret(
        namespace: "istio-system", name: "istio-ca-secret", type: "istio.io/ca-root",
        values: ["ca-cert.pem": Array("a".utf8)])
      let stored = try await client.createSecret(secret)
      #expect(stored.metadata.resourceVersion == "200")
      let error = await #expect(throws: KubeClientError.self) { try await client.createSecret(secret) }
      #expect(error?.isConflict == true)
      #expect(error?.code == .unexpectedStatus)
      #expect(error?.message == #"HTTP 409 Conflict: secrets "istio-ca-secret" already exists"#)

      let request = try #require(server.requests.first)
      #expect(request.method == "POST")
      #expect(request.target == "/api/v1/namespaces/istio-system/secrets")
      let json = try #require(request.json)
      #expect(json["apiVersion"] as? String == "v1")
      #expect(json["kind"] as? String == "Secret")
      #expect(json["type"] as? String == "istio.io/ca-root")
      #expect(json["data"] as? [String: String] == ["ca-cert.pem": "YQ=="])
      let metadata = try #require(json["metadata"] as? [String: Any])
      #expect(metadata["name"] as? String == "istio-ca-secret")
      #expect(metadata["namespace"] as? String == "istio-system")
    }
  }
}
