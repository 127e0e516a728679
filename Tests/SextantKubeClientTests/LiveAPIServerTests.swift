import Foundation
import Logging
import NIOCore
import NIOHTTP1
import SextantKube
import SextantTestSupport
import Synchronization
import Testing

@testable import SextantKubeClient
@testable import SextantSources

/// Opt-in checks against a real API server: set `SEXTANT_TEST_KUBECONFIG` to a kubeconfig file with admin rights
/// (for example one written by Tests/E2E/kube/harness.py's `ApiServer.write_kubeconfig`). With
/// `SEXTANT_TEST_EXPECT_SERVICE=NAMESPACE/NAME` the source test also waits until that Service shows up; with
/// `SEXTANT_TEST_SYNCED_MARKER=PATH` it creates that file once synced, so a driver can create the Service then and see
/// it arrive through the watch. With `SEXTANT_TEST_EXPECT_SECRET=NAMESPACE/NAME` the secret watcher test waits for
/// that Secret (labelled `istio/multiCluster=true`). The TokenReview and Secret tests make their own namespace,
/// service account and Secrets; the Istio config test installs (and at its end removes) the networking.istio.io
/// CRDs for Gateway and VirtualService.
@Suite(
  "Live API server",
  .enabled(if: ProcessInfo.processInfo.environment["SEXTANT_TEST_KUBECONFIG"] != nil),
  .timeLimit(.minutes(1)))
struct LiveAPIServerTests {
  private let environment = ProcessInfo.processInfo.environment

  private func config() throws -> KubeClientConfig {
    try Kubeconfig.load(path: try #require(environment["SEXTANT_TEST_KUBECONFIG"])).clientConfig()
  }

  private var logger: Logger {
    var logger = Logger(label: "live")
    logger.logLevel = .debug
    return logger
  }

  /// Runs `body` with a client, shutting the client down however `body` ends.
  private func withClient(
    _ config: KubeClientConfig, options: KubeClientOptions = KubeClientOptions(),
    _ body: (KubeClient) async throws -> Void
  ) async throws {
    let client = KubeClient(clusterID: "live", config: config, options: options, logger: logger)
    do {
      try await body(client)
    } catch {
      await client.shutdown()
      throw error
    }
    await client.shutdown()
  }

  @Test("discovery, list and watch against the server")
  func clientCalls() async throws {
    try await withClient(try config()) { client in try await clientCalls(client) }
  }

  private func clientCalls(_ client: KubeClient) async throws {
    let v1 = try await client.isServed(group: "discovery.k8s.io", version: "v1", resource: "endpointslices")
    let v1beta1 = try await client.isServed(group: "discovery.k8s.io", version: "v1beta1", resource: "endpointslices")
    #expect(v1 || v1beta1)
    #expect(try await client.isServed(group: "", version: "v1", resource: "pods"))
    #expect(try await !client.isServed(group: "sextant.invalid", version: "v1", resource: "things"))
    let namespaces = try await client.list("/api/v1/namespaces", as: Namespace.self)
    #expect(namespaces.items.contains { $0.metadata.name == "default" })
    // Small pages: the same items, over several requests. Other tests of this suite create namespaces while this
    // one runs, so the compared lists hold only namespaces made here, chosen by a label.
    let selector = [("labelSelector", "sextant.test/paging=live")]
    for index in 0..<5 {
      try await create(
        client, "/api/v1/namespaces",
        ["metadata": ["name": "sextant-live-paging-\(index)", "labels": ["sextant.test/paging": "live"]]])
    }
    let labelled = try await client.list("/api/v1/namespaces", as: Namespace.self, query: selector)
    #expect(labelled.items.count == 5)
    var options = KubeClientOptions()
    options.pageSize = 2
    try await withClient(try config(), options: options) { paging in
      let paged = try await paging.list("/api/v1/namespaces", as: Namespace.self, query: selector)
      #expect(paged.items.map(\.metadata.name) == labelled.items.map(\.metadata.name))
    }
    // A watch from "0" starts with the current objects as ADDED events.
    var events = client.watch(
      "/api/v1/namespaces", as: Namespace.self, resourceVersion: "0", timeout: .seconds(2)
    ).makeAsyncIterator()
    guard case .added(let first)? = try await events.next() else {
      Issue.record("the watch did not start with ADDED")
      return
    }
    #expect(!first.metadata.name.isEmpty)
  }

  @Test("a wrong token is unauthorized, an unknown CA a TLS failure, tls-server-name works")
  func failures() async throws {
    let good = try config()
    var badToken = good
    badToken.token = "not-a-token"
    try await withClient(badToken) { client in
      let error = await #expect(throws: KubeClientError.self) { try await client.get("/api/v1/namespaces") }
      #expect(error?.code == .unauthorized)
      #expect(error?.status == 401)
    }

    var otherCA = good
    otherCA.caPEM = try Fixture.bytes("client.crt")
    try await withClient(otherCA) { client in
      let error = await #expect(throws: KubeClientError.self) { try await client.get("/version") }
      #expect(error?.code == .tlsFailure)
    }

    // The harness's certificate names kubernetes.default.svc; SNI and verification use that name. (A wrong name
    // is not tested here: the certificate also has an IP SAN for 127.0.0.1, and NIOSSL accepts a certificate valid
    // for the connected address whatever the name.)
    var named = good
    named.tlsServerName = "kubernetes.default.svc"
    try await withClient(named) { client in
      let status = try await client.get("/version").status
      #expect(status == 200)
    }
  }

  @Test("the cluster source syncs and reports changes")
  func source() async throws {
    let source = try KubeClusterSource(
      clusterID: "live", config: try config(), options: KubeSourceOptions(watchTimeout: .seconds(5)), logger: logger)
    let updates = Collector<[ClusterSourceUpdate]>()
    let states = Collector<KubeConnectionState>()
    let expected: NamespacedName? = environment["SEXTANT_TEST_EXPECT_SERVICE"].map { text in
      let parts = text.split(separator: "/", maxSplits: 1).map(String.init)
      return NamespacedName(namespace: parts[0], name: parts.count > 1 ? parts[1] : "")
    }
    let seen = Gate()
    let task = Task {
      await source.run(
        onUpdates: { batch in
          updates.append(batch)
          for update in batch {
            guard case .state(let objects) = update.event else { continue }
            if let expected, objects.services[expected] != nil { seen.open() }
          }
        },
        onState: { states.append($0) })
    }
    await updates.wait(for: 1)
    #expect(updates.values[0].last?.event == .synced)
    if let marker = environment["SEXTANT_TEST_SYNCED_MARKER"] {
      _ = FileManager.default.createFile(atPath: marker, contents: Data())
    }
    if expected != nil { await seen.wait() }
    task.cancel()
    await task.value
    #expect(states.values.prefix(2) == [.syncing, .synced])
    let arrivedLate = updates.values.count > 1
    Logger(label: "live").info(
      "source updates: \(updates.values.count) (expected service via watch: \(arrivedLate)); states: \(states.values)")
  }

  @Test(
    "the secret watcher reports labelled secrets",
    .enabled(if: ProcessInfo.processInfo.environment["SEXTANT_TEST_EXPECT_SECRET"] != nil))
  func secrets() async throws {
    let parts = try #require(environment["SEXTANT_TEST_EXPECT_SECRET"]).split(separator: "/").map(String.init)
    let expected = NamespacedName(namespace: parts[0], name: parts[1])
    try await withClient(try config()) { client in
      let watcher = SecretWatcher(client: client, namespace: expected.namespace, logger: logger)
      let sets = Collector<[NamespacedName: Secret]>()
      let task = Task { await watcher.run(onChange: { sets.append($0) }, onState: { _ in }) }
      await sets.wait(for: 1)
      task.cancel()
      await task.value
      let secret = try #require(sets.values.first?[expected])
      #expect(try secret.decodedData().isEmpty == false)
      #expect(sets.values.first?.values.allSatisfy { $0.metadata.labels?["istio/multiCluster"] == "true" } == true)
    }
  }
  // MARK: - TokenReview and Secrets

  /// POSTs a JSON object; a 409 (already exists) is fine.
  private func create(_ client: KubeClient, _ path: String, _ object: [String: Any]) async throws {
    let body = try JSONSerialization.data(withJSONObject: object)
    do throws(KubeClientError) {
      _ = try await client.post(path, body: ByteBuffer(bytes: body))
    } catch {
      guard error.isConflict else { throw error }
    }
  }

  /// A bound token of `namespace/name` for `audiences`, from the TokenRequest API.
  private func serviceAccountToken(
    _ client: KubeClient, namespace: String, name: String, audiences: [String]
  ) async throws -> String {
    let request: [String: Any] = [
      "apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
      "spec": ["audiences": audiences, "expirationSeconds": 3600],
    ]
    let answer = try await client.post(
      "/api/v1/namespaces/\(namespace)/serviceaccounts/\(name)/token",
      body: ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: request))
    ).body
    let json = try JSONSerialization.jsonObject(with: Data(answer.readableBytesView)) as? [String: Any]
    return try #require((json?["status"] as? [String: Any])?["token"] as? String)
  }

  @Test("TokenReview: a token for istio-ca names its service account; one for another audience is refused")
  func tokenReview() async throws {
    try await withClient(try config()) { client in
      let namespace = "sextant-live-tokenreview"
      try await create(client, "/api/v1/namespaces", ["metadata": ["name": namespace]])
      try await create(
        client, "/api/v1/namespaces/\(namespace)/serviceaccounts", ["metadata": ["name": "reviewed"]])

      let good = try await serviceAccountToken(client, namespace: namespace, name: "reviewed", audiences: ["istio-ca"])
      let status = try await client.reviewToken(good, audiences: ["istio-ca"])
      #expect(status.authenticated)
      #expect(status.user?.username == "system:serviceaccount:\(namespace):reviewed")
      #expect(status.user?.groups?.contains("system:serviceaccounts") == true)
      #expect(status.audiences == ["istio-ca"])
      #expect(status.error == nil)

      let other = try await serviceAccountToken(client, namespace: namespace, name: "reviewed", audiences: ["other"])
      let refused = try await client.reviewToken(other, audiences: ["istio-ca"])
      #expect(!refused.authenticated)
      #expect(refused.error?.contains("invalid for the target audiences") == true)

      let garbage = try await client.reviewToken("not-a-token", audiences: ["istio-ca"])
      #expect(!garbage.authenticated)
      #expect(garbage.error == "invalid bearer token")
    }
  }

  @Test("Secrets: create, read back, a second create conflicts, a missing one is nil")
  func secretRequests() async throws {
    try await withClient(try config()) { client in
      let namespace = "sextant-live-secrets"
      try await create(client, "/api/v1/namespaces", ["metadata": ["name": namespace]])
      let name = "sextant-live-\(UInt32.random(in: 0...UInt32.max))"
      let secret = Secret(
        namespace: namespace, name: name, type: "istio.io/ca-root", values: ["ca-cert.pem": Array("pem".utf8)])
      let created = try await client.createSecret(secret)
      #expect(created.metadata.resourceVersion?.isEmpty == false)
      let read = try #require(try await client.secret(namespace: namespace, name: name))
      #expect(try read.decodedData() == ["ca-cert.pem": Array("pem".utf8)])
      #expect(read.type == "istio.io/ca-root")
      let conflict = await #expect(throws: KubeClientError.self) { try await client.createSecret(secret) }
      #expect(conflict?.isConflict == true)
      #expect(try await client.secret(namespace: namespace, name: name + "-missing") == nil)
    }
  }

  // MARK: - Istio config (CRDs)

  /// A CustomResourceDefinition of networking.istio.io `kind` as Istio installs it in shape: v1alpha3, v1beta1 and
  /// v1 served, v1 stored, any spec accepted.
  private func istioCRD(kind: String, plural: String) -> [String: Any] {
    [
      "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
      "metadata": ["name": "\(plural).networking.istio.io"],
      "spec": [
        "group": "networking.istio.io", "scope": "Namespaced",
        "names": ["kind": kind, "listKind": "\(kind)List", "plural": plural, "singular": kind.lowercased()],
        "versions": ["v1alpha3", "v1beta1", "v1"].map { version in
          [
            "name": version, "served": true, "storage": version == "v1",
            "schema": ["openAPIV3Schema": ["type": "object", "x-kubernetes-preserve-unknown-fields": true]],
          ] as [String: Any]
        },
      ] as [String: Any],
    ]
  }

  /// Polls `condition` every 100 ms until it holds; throws (recording `what`) once `timeout` passed.
  private func waitUntil(
    _ what: String, timeout: Duration = .seconds(30), _ condition: () async throws -> Bool
  ) async throws {
    guard try await eventually(timeout: timeout, every: .milliseconds(100), condition) else {
      Issue.record("timed out waiting until \(what)")
      throw CancellationError()
    }
  }

  /// Whether discovery serves both Istio kinds in `version`.
  private func istioServed(_ client: KubeClient, _ version: String = "v1") async throws -> Bool {
    let gateways = try await client.isServed(group: "networking.istio.io", version: version, resource: "gateways")
    let virtualServices = try await client.isServed(
      group: "networking.istio.io", version: version, resource: "virtualservices")
    return gateways && virtualServices
  }

  /// Whether discovery serves neither Istio kind in any version.
  private func istioGone(_ client: KubeClient) async throws -> Bool {
    for version in ["v1", "v1beta1", "v1alpha3"] {
      for resource in ["gateways", "virtualservices"] {
        if try await client.isServed(group: "networking.istio.io", version: version, resource: resource) {
          return false
        }
      }
    }
    return true
  }

  private func json(_ body: ByteBuffer) throws -> [String: Any] {
    try #require(try JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any])
  }

  @Test("Istio config: no CRDs, synced and empty; CRDs installed, a Gateway arrives, is updated, deleted; CRDs removed")
  func istioConfig() async throws {
    let crdPaths = ["gateways", "virtualservices"].map {
      "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/\($0).networking.istio.io"
    }
    try await withClient(try config()) { client in
      // A run that was cut short may have left the CRDs behind: start without them.
      for path in crdPaths {
        do throws(KubeClientError) {
          _ = try await client.send(.DELETE, path)
        } catch {
          guard error.code == .notFound else { throw error }
        }
      }
      try await waitUntil("the Istio CRDs are gone") { try await istioGone(client) }

      let logs = LogRecorder()
      let source = try KubeClusterSource(
        clusterID: "live", config: try config(),
        options: KubeSourceOptions(watchTimeout: .seconds(2), watchIstioConfig: true), logger: logs.logger)
      let latest = LatestObjects()
      let states = Collector<KubeConnectionState>()
      let task = Task {
        await source.run(
          onUpdates: { batch in
            for update in batch { if case .state(let objects) = update.event { latest.set(objects) } }
          },
          onState: { states.append($0) })
      }
      defer { task.cancel() }
      func objects() -> ClusterObjects { latest.objects ?? ClusterObjects() }

      // Not installed: synced at once, with no Istio objects.
      try await waitUntil("synced without the CRDs") { states.values.last == .synced && latest.objects != nil }
      #expect(objects().gateways.isEmpty)
      #expect(logs.messages(atLeast: .info).contains { $0.hasPrefix("Gateways are not served") })

      // Installed: discovery serves them within seconds.
      for (kind, plural) in [("Gateway", "gateways"), ("VirtualService", "virtualservices")] {
        try await create(
          client, "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", istioCRD(kind: kind, plural: plural))
      }
      try await waitUntil("networking.istio.io serves v1 and v1beta1") {
        let v1 = try await istioServed(client)
        let v1beta1 = try await istioServed(client, "v1beta1")
        return v1 && v1beta1
      }
      let namespace = "sextant-live-istio"
      try await create(client, "/api/v1/namespaces", ["metadata": ["name": namespace]])
      let name = "istiod-gateway-\(UInt32.random(in: 0...UInt32.max))"
      let key = NamespacedName(namespace: namespace, name: name)
      // Written in v1beta1 (as Istio's samples are), read by the source in v1.
      try await create(
        client, "/apis/networking.istio.io/v1beta1/namespaces/\(namespace)/gateways",
        [
          "apiVersion": "networking.istio.io/v1beta1", "kind": "Gateway",
          "metadata": ["name": name, "namespace": namespace],
          "spec": [
            "selector": ["istio": "eastwestgateway"],
            "servers": [
              [
                "port": ["name": "tls-istiod", "number": 15012, "protocol": "tls"], "tls": ["mode": "PASSTHROUGH"],
                "hosts": ["*"],
              ]
            ],
          ] as [String: Any],
        ])
      try await waitUntil("the Gateway arrives through the source") { objects().gateways[key] != nil }
      let arrived = try #require(objects().gateways[key])
      #expect(arrived.spec?["selector"] == .object(["istio": .string("eastwestgateway")]))
      #expect(serverHosts(arrived) == [["*"]])
      #expect(arrived.metadata.resourceVersion == nil)
      #expect(logs.messages(atLeast: .info).contains("Gateways: using networking.istio.io/v1"))
      #expect(states.values.last == .synced)

      // Updated (in v1): the watch brings the change.
      let path = "/apis/networking.istio.io/v1/namespaces/\(namespace)/gateways/\(name)"
      var object = try json(try await client.get(path).body)
      var spec = try #require(object["spec"] as? [String: Any])
      var servers = try #require(spec["servers"] as? [[String: Any]])
      servers[0]["hosts"] = ["istiod.istio-system.svc.cluster.local"]
      spec["servers"] = servers
      object["spec"] = spec
      _ = try await client.send(.PUT, path, body: ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: object)))
      try await waitUntil("the update arrives") {
        objects().gateways[key].map(serverHosts) == [["istiod.istio-system.svc.cluster.local"]]
      }

      // Deleted: gone from the state.
      _ = try await client.send(.DELETE, path)
      try await waitUntil("the deletion arrives") { objects().gateways[key] == nil }

      // The CRDs removed while watched: the collections are listed again (empty), and the source ends synced.
      try await create(
        client, "/apis/networking.istio.io/v1/namespaces/\(namespace)/gateways",
        ["apiVersion": "networking.istio.io/v1", "kind": "Gateway", "metadata": ["name": name], "spec": [:]])
      try await waitUntil("the second Gateway arrives") { objects().gateways[key] != nil }
      for path in crdPaths { _ = try await client.send(.DELETE, path) }
      try await waitUntil("the source sees the CRDs removed") {
        objects().gateways.isEmpty
          && logs.messages(atLeast: .info).filter { $0.hasPrefix("Gateways are not served") }.count == 2
          && states.values.last == .synced
      }
      task.cancel()
      await task.value
      Logger(label: "live").info(
        "istio config: states \(states.values); log: \(logs.messages(atLeast: .info).joined(separator: " | "))")
    }
  }
}

/// The newest objects a source reported, readable from the test while the source runs.
final class LatestObjects: Sendable {
  private let latest = Mutex<ClusterObjects?>(nil)

  var objects: ClusterObjects? { latest.withLock { $0 } }

  func set(_ objects: ClusterObjects) { latest.withLock { $0 = objects } }
}
