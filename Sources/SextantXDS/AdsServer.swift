import EnvoyAPI
import GRPCCore
import Logging
import Metrics
import SextantRegistry
import Synchronization

/// Envoy's AggregatedDiscoveryService, state of the world: CDS, EDS, LDS and RDS on one stream per proxy.
///
/// The first request must carry the node; its id is parsed as istiod does and a malformed one ends the stream with
/// INVALID_ARGUMENT. Each request is classified by ``WatchState``; pushes come from ``PushPipeline`` through the
/// connection's mailbox. Delta xDS is not served (UNIMPLEMENTED), so clients fall back to state of the world.
public struct AdsServer: Envoy_Service_Discovery_V3_AggregatedDiscoveryService.ServiceProtocol {
  let connections: ConnectionRegistry
  let pushed: PushedSnapshot
  let generator: ConfigGenerator
  let logger: Logger
  let identifier: String
  private let counter = Counter()

  /// Sequence numbers for connection ids and nonces.
  final class Counter: Sendable {
    private let value = Atomic<UInt64>(0)
    func next() -> UInt64 { value.add(1, ordering: .relaxed).newValue }
  }

  public init(
    connections: ConnectionRegistry,
    pushed: PushedSnapshot,
    generator: ConfigGenerator,
    identifier: String = "sextant",
    logger: Logger
  ) {
    self.connections = connections
    self.pushed = pushed
    self.generator = generator
    self.identifier = identifier
    self.logger = logger
  }

  public func streamAggregatedResources(
    request: StreamingServerRequest<Envoy_Service_Discovery_V3_DiscoveryRequest>,
    context: ServerContext
  ) async throws -> StreamingServerResponse<Envoy_Service_Discovery_V3_DiscoveryResponse> {
    StreamingServerResponse { writer in
      try await serve(requests: request.messages, writer: writer, peer: context.remotePeer)
      return [:]
    }
  }

  public func deltaAggregatedResources(
    request: StreamingServerRequest<Envoy_Service_Discovery_V3_DeltaDiscoveryRequest>,
    context: ServerContext
  ) async throws -> StreamingServerResponse<Envoy_Service_Discovery_V3_DeltaDiscoveryResponse> {
    StreamingServerResponse(
      error: RPCError(code: .unimplemented, message: "delta xDS is not served; use state-of-the-world ADS")
    )
  }

  /// Runs one stream until the proxy closes it or a request is invalid.
  func serve(
    requests: RPCAsyncSequence<Envoy_Service_Discovery_V3_DiscoveryRequest, any Error>,
    writer: RPCWriter<Envoy_Service_Discovery_V3_DiscoveryResponse>,
    peer: String
  ) async throws {
    let (events, continuation) = AsyncStream.makeStream(of: AdsConnection.Event.self)
    let connection = AdsConnection(id: "\(peer)-\(counter.next())", peer: peer, events: continuation)
    connections.add(connection)
    defer {
      connections.remove(connection)
      XDSMetrics.connected(count: connections.count)
    }
    try await withThrowingTaskGroup(of: Void.self) { group in
      group.addTask {
        do {
          for try await request in requests {
            continuation.yield(.request(request))
          }
          continuation.yield(.closed(nil))
        } catch {
          continuation.yield(.closed(error))
        }
        continuation.finish()
      }
      var session = AdsSession(
        connection: connection,
        connections: connections,
        pushed: pushed,
        generator: generator,
        identifier: identifier,
        nonces: counter,
        logger: logger
      )
      defer { group.cancelAll() }
      for await event in events {
        switch event {
        case .request(let request):
          try await session.handle(request, writer: writer)
        case .push:
          if let push = connection.takePending() {
            try await session.push(push, writer: writer)
          }
        case .closed(let error):
          if let error { session.logger.debug("stream ended", metadata: ["error": "\(error)"]) }
          return
        }
      }
    }
  }
}

/// The per-stream logic: the proxy, one WatchState per type, and what to send when.
struct AdsSession {
  let connection: AdsConnection
  let connections: ConnectionRegistry
  let pushed: PushedSnapshot
  let generator: ConfigGenerator
  let identifier: String
  let nonces: AdsServer.Counter
  var logger: Logger
  var proxy: Proxy?
  var watches: [XDSType: WatchState] = [:]
  var ignoredTypes: Set<String> = []

  init(
    connection: AdsConnection,
    connections: ConnectionRegistry,
    pushed: PushedSnapshot,
    generator: ConfigGenerator,
    identifier: String,
    nonces: AdsServer.Counter,
    logger: Logger
  ) {
    self.connection = connection
    self.connections = connections
    self.pushed = pushed
    self.generator = generator
    self.identifier = identifier
    self.nonces = nonces
    self.logger = logger
    self.logger[metadataKey: "connection"] = "\(connection.id)"
  }

  mutating func handle(
    _ request: Envoy_Service_Discovery_V3_DiscoveryRequest,
    writer: RPCWriter<Envoy_Service_Discovery_V3_DiscoveryResponse>
  ) async throws {
    if proxy == nil {
      guard request.hasNode else {
        throw RPCError(code: .invalidArgument, message: "the first DiscoveryRequest of a stream must carry the node")
      }
      do {
        proxy = try Proxy(node: request.node)
      } catch {
        logger.warning("rejected proxy", metadata: ["error": "\(error)"])
        throw RPCError(code: .invalidArgument, message: error.description)
      }
      logger[metadataKey: "proxy"] = "\(proxy!.nodeID)"
      connection.update(proxy: proxy, watches: watches)
      XDSMetrics.connected(count: connections.count)
      logger.info("proxy connected", metadata: ["cluster": "\(proxy!.clusterID)", "network": "\(proxy!.network)"])
    }
    guard let type = XDSType(rawValue: request.typeURL) else {
      if ignoredTypes.insert(request.typeURL).inserted {
        logger.info("ignoring requests for a type Sextant does not serve", metadata: ["type": "\(request.typeURL)"])
      }
      return
    }
    var watch = watches[type] ?? WatchState(type: type)
    let classification = watch.receive(
      versionInfo: request.versionInfo,
      nonce: request.responseNonce,
      resourceNames: request.resourceNames,
      errorMessage: request.hasErrorDetail ? request.errorDetail.message : nil
    )
    let previousNack = watches[type]?.lastNack
    watches[type] = watch
    connection.update(proxy: proxy, watches: watches)
    switch classification {
    case .nack(let reason):
      XDSMetrics.rejected(type)
      if reason != previousNack {
        logger.warning(
          "proxy rejected config (NACK)",
          metadata: ["type": "\(type.shortName)", "nonce": "\(request.responseNonce)", "reason": "\(XDSMetrics.reasonTail(reason))"]
        )
      }
    case .stale(let nonce):
      logger.trace("stale nonce ignored", metadata: ["type": "\(type.shortName)", "nonce": "\(nonce)"])
    case .initial, .ack, .subscriptionGrew, .subscriptionShrank:
      logger.trace("request", metadata: ["type": "\(type.shortName)", "classification": "\(classification)"])
    }
    if WatchState.needsResponse(classification) {
      try await send(type, snapshot: pushed.snapshot, writer: writer)
    }
  }

  mutating func push(
    _ request: PushRequest,
    writer: RPCWriter<Envoy_Service_Discovery_V3_DiscoveryResponse>
  ) async throws {
    guard proxy != nil else { return }
    if request.change.services {
      for type in XDSType.pushOrder where watches[type] != nil {
        try await send(type, snapshot: request.snapshot, writer: writer)
      }
      return
    }
    guard let endpoints = watches[.endpoint] else { return }
    let touched = endpoints.names.contains { name in
      guard let host = ResourceNames.parseOutboundCluster(name)?.host else { return false }
      return request.change.endpointHostnames.contains(host)
    }
    if touched {
      try await send(.endpoint, snapshot: request.snapshot, writer: writer)
    }
  }

  mutating func send(
    _ type: XDSType,
    snapshot: MeshSnapshot,
    writer: RPCWriter<Envoy_Service_Discovery_V3_DiscoveryResponse>
  ) async throws {
    guard let proxy, var watch = watches[type] else { return }
    let resources: [SerializedResource]
    do {
      resources = try generator.resources(
        type,
        names: type.isWildcard ? [] : watch.requestedNames,
        snapshot: snapshot,
        view: proxy.view
      )
    } catch {
      logger.error("cannot generate config", metadata: ["type": "\(type.shortName)", "error": "\(error)"])
      return
    }
    var response = Envoy_Service_Discovery_V3_DiscoveryResponse()
    response.versionInfo = String(snapshot.version)
    response.typeURL = type.rawValue
    response.nonce = String(nonces.next(), radix: 16)
    response.resources = resources.map(\.resource)
    response.controlPlane.identifier = identifier
    try await writer.write(response)
    watch.sent(version: response.versionInfo, nonce: response.nonce)
    watches[type] = watch
    connection.update(proxy: proxy, watches: watches)
    XDSMetrics.pushed(type)
    logger.debug(
      "sent",
      metadata: [
        "type": "\(type.shortName)", "version": "\(response.versionInfo)", "nonce": "\(response.nonce)",
        "resources": "\(resources.count)",
      ]
    )
  }
}

/// The xDS metrics, under istiod's names.
enum XDSMetrics {
  static func rejected(_ type: XDSType) {
    Counter(label: "pilot_total_xds_rejects", dimensions: [("type", type.shortName.lowercased())]).increment()
  }

  static func pushed(_ type: XDSType) {
    Counter(label: "pilot_xds_pushes", dimensions: [("type", type.shortName.lowercased())]).increment()
  }

  static func connected(count: Int) {
    Gauge(label: "pilot_xds").record(count)
  }

  /// Envoy's NACK message starts with a dump of the resource; the reason is at the end.
  static func reasonTail(_ message: String) -> String {
    message.count <= 400 ? message : "…" + String(message.suffix(400))
  }
}
