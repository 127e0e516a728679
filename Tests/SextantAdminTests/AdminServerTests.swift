import HummingbirdTesting
import SextantAdmin
import Testing

/// `/ready`, `/metrics` and unknown paths on both admin applications, in router mode.
///
/// Readiness is read at request time from a real `MeshRegistry` (see `AdminMesh`), so each test moves the registry
/// and asks again on the same application.
@Suite("Admin server")
struct AdminServerTests {
  /// 503 with what is awaited (nothing known yet, then an unsynced cluster in error), then 200 once all synced.
  @Test(arguments: AdminApp.allCases)
  func readyWaitsForEveryClusterThenAnswersReady(app: AdminApp) async throws {
    let mesh = AdminMesh()
    try await app.test(mesh) { client in
      let empty = try await client.execute(uri: "/ready", method: .get)
      #expect(empty.status == .serviceUnavailable)
      #expect(empty.text == "not ready: first push of the initial load\n")

      try await mesh.load(synced: ["c1"])
      await mesh.registry.report(cluster: "c2", state: .error, reason: "connection refused")
      let waiting = try await client.execute(uri: "/ready", method: .get)
      #expect(waiting.status == .serviceUnavailable)
      #expect(waiting.headers[.contentType] == "text/plain")
      #expect(waiting.text == "not ready: cluster c2: error (connection refused)\n")

      await mesh.registry.markSynced(cluster: "c2")
      let ready = try await client.execute(uri: "/ready", method: .get)
      #expect(ready.status == .ok)
      #expect(ready.headers[.contentType] == "text/plain")
      #expect(ready.text == "ready\n")
    }
  }

  @Test func readyListsEveryClusterStillSyncing() async throws {
    let mesh = AdminMesh()
    try await mesh.load(synced: [])
    try await AdminApp.http.test(mesh) { client in
      let response = try await client.execute(uri: "/ready", method: .get)
      #expect(response.status == .serviceUnavailable)
      #expect(response.text == "not ready: cluster c1: syncing; cluster c2: syncing\n")
    }
  }

  /// Readiness waits only for the initial load: a cluster failing after it synced keeps `/ready` at 200.
  @Test func readyStaysReadyWhenASyncedClusterFails() async throws {
    let mesh = AdminMesh()
    try await mesh.load()
    await mesh.registry.report(cluster: "c2", state: .error, reason: "watch failed")
    try await AdminApp.http.test(mesh) { client in
      let response = try await client.execute(uri: "/ready", method: .get)
      #expect(response.status == .ok)
      #expect(response.text == "ready\n")
    }
  }

  /// The metrics closure is read per request, not once when the application is built.
  @Test func metricsAnswersTheMetricsTextAtEachRequest() async throws {
    let mesh = AdminMesh()
    try await AdminApp.monitoring.test(mesh) { client in
      let first = try await client.execute(uri: "/metrics", method: .get)
      #expect(first.status == .ok)
      #expect(first.headers[.contentType] == "text/plain; version=0.0.4")
      #expect(first.text == "sextant_xds_pushes_total 3\n")

      mesh.metricsText.withLock { $0 = "sextant_xds_pushes_total 4\nsextant_xds_connections 1\n" }
      let second = try await client.execute(uri: "/metrics", method: .get)
      #expect(second.text == "sextant_xds_pushes_total 4\nsextant_xds_connections 1\n")
    }
  }

  @Test func metricsIsServedOnTheMonitoringAppOnly() async throws {
    let mesh = AdminMesh()
    try await AdminApp.http.test(mesh) { client in
      let response = try await client.execute(uri: "/metrics", method: .get)
      #expect(response.status == .notFound)
    }
  }

  @Test(arguments: AdminApp.allCases, ["/", "/debug", "/debug/unknownz", "/readyz", "/ready/extra"])
  func unknownPathIsNotFound(app: AdminApp, path: String) async throws {
    let mesh = AdminMesh()
    try await mesh.load()
    try await app.test(mesh) { client in
      let response = try await client.execute(uri: path, method: .get)
      #expect(response.status == .notFound)
    }
  }

  @Test(arguments: AdminApp.allCases, DebugPath.allCases)
  func everyDebugPathAnswersJSON(app: AdminApp, path: DebugPath) async throws {
    let mesh = AdminMesh()
    try await mesh.load()
    mesh.connectProxies()
    try await app.test(mesh) { client in
      let response = try await client.execute(uri: path.rawValue, method: .get)
      #expect(response.status == .ok)
      #expect(response.headers[.contentType] == "application/json")
      let object = try response.json()
      switch path.shape {
      case .list: #expect(object is [Any])
      case .object: #expect(object is [String: Any])
      }
    }
  }
}

/// Every debug endpoint, with the JSON shape at its top level.
enum DebugPath: String, CaseIterable, Sendable {
  case syncz = "/debug/syncz"
  case registryz = "/debug/registryz"
  case endpointz = "/debug/endpointz"
  case clusterz = "/debug/clusterz"
  case sourcez = "/debug/sourcez"
  case networkz = "/debug/networkz"
  case configz = "/debug/configz"

  enum Shape { case list, object }

  var shape: Shape {
    switch self {
    case .syncz, .registryz, .clusterz: .list
    case .endpointz, .sourcez, .networkz, .configz: .object
    }
  }
}
