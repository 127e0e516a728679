import Foundation
import Hummingbird
import Logging

/// Builds the HTTP applications for readiness (the HTTP port, 8080) and monitoring (15014: /metrics and /debug/*).
///
/// Each returned application is a swift-service-lifecycle Service; SextantControlPlane runs them as parts of its
/// `admin` stage (`AdminAssembly`).
package enum AdminServer {
  /// How long a connection may stay idle before it is closed, unless the caller says otherwise.
  package static let defaultIdleTimeout: Duration = .seconds(60)

  /// The readiness and debug application: `/ready` plus the debug endpoints.
  ///
  /// - Parameter idleTimeout: A connection with no request in progress for this long is closed, so idle clients
  ///   cannot hold connections open for ever.
  package static func http(
    host: String, port: Int, idleTimeout: Duration = defaultIdleTimeout, state: AdminState, logger: Logger
  ) -> some ApplicationProtocol {
    let router = Router()
    addReady(router, state)
    addDebug(router, state)
    return application(router, host: host, port: port, idleTimeout: idleTimeout, logger: logger)
  }

  /// The monitoring application: `/metrics` (Prometheus text), the debug endpoints and `/ready`.
  ///
  /// - Parameter idleTimeout: As for `http`.
  package static func monitoring(
    host: String, port: Int, idleTimeout: Duration = defaultIdleTimeout, state: AdminState, logger: Logger
  ) -> some ApplicationProtocol {
    let router = Router()
    router.get("/metrics") { _, _ in
      Response(
        status: .ok,
        headers: [.contentType: "text/plain; version=0.0.4"],
        body: .init(byteBuffer: ByteBuffer(string: state.metrics()))
      )
    }
    addReady(router, state)
    addDebug(router, state)
    return application(router, host: host, port: port, idleTimeout: idleTimeout, logger: logger)
  }

  /// An HTTP/1 application on `host:port` whose idle connections are closed after `idleTimeout`.
  private static func application(
    _ router: Router<BasicRequestContext>, host: String, port: Int, idleTimeout: Duration, logger: Logger
  ) -> some ApplicationProtocol {
    let (seconds, attoseconds) = idleTimeout.components
    let nanoseconds = seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    return Application(
      router: router,
      server: .http1(configuration: .init(idleTimeout: .nanoseconds(max(1, nanoseconds)))),
      configuration: .init(address: .hostname(host, port: port)),
      logger: logger)
  }

  static func addReady(_ router: Router<BasicRequestContext>, _ state: AdminState) {
    router.get("/ready") { _, _ in
      let readiness = state.readiness()
      let text = readiness.ready ? "ready\n" : "not ready: " + readiness.waitingFor.joined(separator: "; ") + "\n"
      return Response(
        status: readiness.ready ? .ok : .serviceUnavailable,
        headers: [.contentType: "text/plain"],
        body: .init(byteBuffer: ByteBuffer(string: text))
      )
    }
  }

  static func addDebug(_ router: Router<BasicRequestContext>, _ state: AdminState) {
    router.get("/debug/syncz") { _, _ in json(DebugViews.syncz(state.connections)) }
    router.get("/debug/registryz") { _, _ in json(DebugViews.registryz(state.snapshot())) }
    router.get("/debug/endpointz") { _, _ in json(DebugViews.endpointz(state.snapshot())) }
    router.get("/debug/clusterz") { _, _ in json(DebugViews.clusterz(state.snapshot())) }
    router.get("/debug/sourcez") { _, _ in json(state.sourceErrors()) }
    router.get("/debug/networkz") { _, _ in json(NetworkViews.networkz(state.snapshot())) }
    router.get("/debug/configz") { _, _ in json(NetworkViews.configz(state.snapshot())) }
  }

  static func json(_ value: some Encodable) -> Response {
    let encoder = JSONEncoder()
    encoder.keyEncodingStrategy = .convertToSnakeCase
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    let data = (try? encoder.encode(value)) ?? Data("null".utf8)
    return Response(
      status: .ok,
      headers: [.contentType: "application/json"],
      body: .init(byteBuffer: ByteBuffer(bytes: data))
    )
  }
}
