import EnvoyAPI
import EnvoyServices
import Foundation
import GRPCCore
import Logging
import Metrics
import SextantGeneration
import SextantPKI
import SextantRegistry
import Synchronization

/// How an ADS server authenticates its streams and answers SDS.
package struct StreamSecurity: Sendable {
  /// Authenticates a new stream from its remote peer and request metadata; throws an `RPCError` (UNAUTHENTICATED,
  /// UNAVAILABLE) to refuse it. Nil: streams are not authenticated (the plaintext port).
  package var authenticate: (@Sendable (_ remotePeer: String, _ metadata: Metadata) async throws -> CallerIdentity)?
  /// The mesh CA for SDS; nil: SDS requests are ignored.
  package var secrets: WorkloadSecrets?

  package init(
    authenticate: (@Sendable (_ remotePeer: String, _ metadata: Metadata) async throws -> CallerIdentity)? = nil,
    secrets: WorkloadSecrets? = nil
  ) {
    self.authenticate = authenticate
    self.secrets = secrets
  }

  /// No authentication, no SDS.
  package static let none = StreamSecurity()
}

/// Envoy's AggregatedDiscoveryService: CDS, EDS, LDS, RDS and SDS on one stream per proxy, state of the world
/// (`StreamAggregatedResources`, ``AdsSession``) or delta (`DeltaAggregatedResources`, ``DeltaAdsSession``).
///
/// Both protocols share one stream loop (``runStream(requests:writer:peer:identity:makeSession:)``), the push
/// pipeline, the generator and its cache, and these rules. With `StreamSecurity.authenticate` set (the secure port),
/// a stream is authenticated before its first request is read and a refused caller gets the authenticator's error;
/// an authenticated caller whose identity's namespace is not the node's NAMESPACE, or whose service account is not
/// the node's SERVICE_ACCOUNT (when sent), ends with PERMISSION_DENIED. The first request must carry the node (later
/// ones need not: `set_node_on_first_message_only`); its id is parsed as istiod does and a malformed one ends the
/// stream with INVALID_ARGUMENT. Pushes come from ``PushPipeline`` through the connection's mailbox. SDS answers
/// `ROOTCA` (the mesh roots) to anyone and `default` (a certificate Sextant issues, with a key it generates) only to
/// an authenticated caller, for its own identity (``StreamSecrets``); both are pushed again when the mesh CA changes,
/// and `default` when two thirds of its lifetime passed. State-of-the-world requests are classified by
/// ``WatchState``; delta requests by ``DeltaWatchState``, and a delta response carries only the resources whose
/// version (a hash of the serialized bytes) the proxy does not hold, plus `removed_resources`.
package struct AdsServer: Envoy_Service_Discovery_V3_AggregatedDiscoveryService.ServiceProtocol {
  let connections: ConnectionRegistry
  let pushed: PushedSnapshot
  let generator: ConfigGenerator
  let logger: Logger
  let identifier: String
  let security: StreamSecurity
  /// The per-stream bounds (unknown types, names, send deadline, streams at once).
  let limits: XDSLimits
  /// Names this server's streams in the connection registry (e.g. `plaintext`, `secure`).
  package let listener: String
  /// Whether streams may be served yet; until then they end at once with UNAVAILABLE (as istiod's "server is not
  /// ready to serve discovery information"), so a reconnecting proxy keeps its config and retries instead of being
  /// answered from an empty mesh.
  let ready: @Sendable () -> Bool
  let counter = SequenceNumbers()

  /// Sequence numbers for connection ids and nonces.
  final class SequenceNumbers: Sendable {
    private let value = Atomic<UInt64>(0)
    func next() -> UInt64 { value.add(1, ordering: .relaxed).newValue }
  }

  package init(
    connections: ConnectionRegistry,
    pushed: PushedSnapshot,
    generator: ConfigGenerator,
    identifier: String = "sextant",
    security: StreamSecurity = .none,
    listener: String = "",
    limits: XDSLimits = .defaults,
    ready: @escaping @Sendable () -> Bool = { true },
    logger: Logger
  ) {
    self.listener = listener
    self.limits = limits
    self.ready = ready
    self.connections = connections
    self.pushed = pushed
    self.generator = generator
    self.identifier = identifier
    self.security = security
    self.logger = logger
  }

  package func streamAggregatedResources(
    request: StreamingServerRequest<Envoy_Service_Discovery_V3_DiscoveryRequest>,
    context: ServerContext
  ) async throws -> StreamingServerResponse<Envoy_Service_Discovery_V3_DiscoveryResponse> {
    if let refusal = notReady(peer: context.remotePeer) { return StreamingServerResponse(error: refusal) }
    let (identity, reauthenticate): (CallerIdentity?, (@Sendable () async throws -> CallerIdentity)?)
    switch await authenticateStream(peer: context.remotePeer, metadata: request.metadata) {
    case .success(let authenticated): (identity, reauthenticate) = authenticated
    case .failure(let error): return StreamingServerResponse(error: error)
    }
    return StreamingServerResponse { [identity, reauthenticate] writer in
      try await runStream(requests: request.messages, writer: writer, peer: context.remotePeer, identity: identity) {
        connection in
        AdsSession(
          connection: connection, connections: connections, pushed: pushed, generator: generator,
          identifier: identifier, nonces: counter, identity: identity, reauthenticate: reauthenticate,
          secrets: security.secrets, limits: limits, logger: logger)
      }
      return [:]
    }
  }

  package func deltaAggregatedResources(
    request: StreamingServerRequest<Envoy_Service_Discovery_V3_DeltaDiscoveryRequest>,
    context: ServerContext
  ) async throws -> StreamingServerResponse<Envoy_Service_Discovery_V3_DeltaDiscoveryResponse> {
    if let refusal = notReady(peer: context.remotePeer) { return StreamingServerResponse(error: refusal) }
    let (identity, reauthenticate): (CallerIdentity?, (@Sendable () async throws -> CallerIdentity)?)
    switch await authenticateStream(peer: context.remotePeer, metadata: request.metadata) {
    case .success(let authenticated): (identity, reauthenticate) = authenticated
    case .failure(let error): return StreamingServerResponse(error: error)
    }
    return StreamingServerResponse { [identity, reauthenticate] writer in
      try await runStream(requests: request.messages, writer: writer, peer: context.remotePeer, identity: identity) {
        connection in
        DeltaAdsSession(
          connection: connection, connections: connections, pushed: pushed, generator: generator,
          identifier: identifier, nonces: counter, identity: identity, reauthenticate: reauthenticate,
          secrets: security.secrets, limits: limits, logger: logger)
      }
      return [:]
    }
  }
}

extension AdsServer {
  /// The error that ends a stream arriving before the server is ready, or nil once it is.
  func notReady(peer: String) -> RPCError? {
    guard !ready() else { return nil }
    logger.debug("stream refused: not ready to serve discovery information", metadata: ["peer": "\(peer)"])
    return RPCError(code: .unavailable, message: "server is not ready to serve discovery information")
  }
}

/// The per-stream logic: the stream's state (``AdsSessionState``), one WatchState per type, and what to send when.
struct AdsSession: AdsStreamSession {
  static func event(carrying request: Envoy_Service_Discovery_V3_DiscoveryRequest) -> AdsConnection.Event {
    .request(request)
  }

  static func request(carriedBy event: AdsConnection.Event) -> Envoy_Service_Discovery_V3_DiscoveryRequest? {
    if case .request(let request) = event { return request }
    return nil
  }

  let connection: AdsConnection
  let connections: ConnectionRegistry
  let pushed: PushedSnapshot
  let generator: ConfigGenerator
  let identifier: String
  let nonces: AdsServer.SequenceNumbers
  /// The stream's bounds: unknown types, names per type.
  let limits: XDSLimits
  var logger: Logger
  /// Awaiting the node, serving its proxy, or closed.
  var state: AdsSessionState
  var watches: [XDSType: WatchState] = [:]
  /// Type URLs asked for that Sextant does not serve (bounded by ``XDSLimits/maximumUnknownTypes``).
  var unknownTypes = UnknownTypes()
  /// The inbound plan the last CDS and the last LDS were generated with; a change needs that type sent again.
  var sentInbound: [XDSType: InboundPlan] = [:]
  /// The EDS subscription by hostname (`ResourceNames.endpointHost`), rebuilt when the subscription changes, so a
  /// push finds the assignments it touches without parsing every subscribed name.
  var endpointNamesByHost: [String: [String]] = [:]
  /// The stream's SDS: which secrets it may have, its certificate, the root generation sent.
  var secrets: StreamSecrets

  init(
    connection: AdsConnection,
    connections: ConnectionRegistry,
    pushed: PushedSnapshot,
    generator: ConfigGenerator,
    identifier: String,
    nonces: AdsServer.SequenceNumbers,
    identity: CallerIdentity? = nil,
    reauthenticate: (@Sendable () async throws -> CallerIdentity)? = nil,
    secrets: WorkloadSecrets? = nil,
    limits: XDSLimits = .defaults,
    logger: Logger
  ) {
    self.limits = limits
    self.connection = connection
    self.connections = connections
    self.pushed = pushed
    self.generator = generator
    self.identifier = identifier
    self.nonces = nonces
    self.secrets = StreamSecrets(secrets: secrets, identity: identity, reauthenticate: reauthenticate)
    self.state = AdsSessionState(identity: identity, servesSecrets: secrets != nil)
    self.logger = logger
    self.logger[metadataKey: "connection"] = "\(connection.id)"
    if let identity { self.logger[metadataKey: "identity"] = "\(identity.spiffe.uri)" }
  }

  mutating func handle(
    _ request: Envoy_Service_Discovery_V3_DiscoveryRequest,
    writer: RPCWriter<Envoy_Service_Discovery_V3_DiscoveryResponse>
  ) async throws {
    let proxy: Proxy
    switch state.receive(node: request.hasNode ? request.node : nil) {
    case .connected(let connected):
      proxy = connected
      logger[metadataKey: "proxy"] = "\(proxy.nodeID)"
      connection.update(proxy: proxy, watches: watches)
      XDSMetrics.connected(count: connections.count)
      logger.info("proxy connected", metadata: ["cluster": "\(proxy.clusterID)", "network": "\(proxy.network)"])
    case .serve(let serving):
      proxy = serving
    case .refuse(let refusal):
      logRefusal(refusal, logger: &logger)
      throw refusal.rpcError
    case .drop:
      return
    }
    guard let type = XDSType(rawValue: request.typeURL) else {
      try unknownTypes.note(request.typeURL, limit: limits.maximumUnknownTypes, logger: logger)
      return
    }
    try limits.checkNames(request.resourceNames.count, of: type, what: "a request")
    var watch = watches[type] ?? WatchState(type: type)
    let classification = watch.receive(
      versionInfo: request.versionInfo,
      nonce: request.responseNonce,
      resourceNames: request.resourceNames,
      errorMessage: request.hasErrorDetail ? request.errorDetail.message : nil
    )
    let previousNack = watches[type]?.lastNack
    if type == .endpoint && watch.names != watches[type]?.names {
      endpointNamesByHost = Dictionary(grouping: watch.requestedNames) { ResourceNames.endpointHost($0) ?? "" }
    }
    watches[type] = watch
    connection.update(proxy: proxy, watches: watches)
    var answer: [String]? = nil
    switch classification {
    case .nack(let reason), .nackAndGrew(let reason, _):
      if case .nackAndGrew(_, let added) = classification { answer = added.sorted() }
      XDSMetrics.rejected(type)
      if reason != previousNack {
        logger.warning(
          "proxy rejected config (NACK)",
          metadata: [
            "type": "\(type.shortName)", "nonce": "\(request.responseNonce)",
            "reason": "\(XDSMetrics.reasonTail(reason))",
          ]
        )
      }
    case .stale(let nonce):
      logger.trace("stale nonce ignored", metadata: ["type": "\(type.shortName)", "nonce": "\(nonce)"])
    case .initial, .ack, .subscriptionGrew, .subscriptionShrank:
      logger.trace("request", metadata: ["type": "\(type.shortName)", "classification": "\(classification)"])
    }
    if WatchState.needsResponse(classification) {
      try await send(type, snapshot: pushed.snapshot, writer: writer, only: answer)
    }
  }

  mutating func push(
    _ request: PushRequest,
    writer: RPCWriter<Envoy_Service_Discovery_V3_DiscoveryResponse>
  ) async throws {
    guard let proxy = state.proxy else { return }
    // A request answered since this push was enqueued may have used a newer snapshot: never go back to an older one
    // (the newer snapshot's own change is pending and follows).
    let current = pushed.snapshot
    let snapshot = current.version > request.snapshot.version ? current : request.snapshot
    // Istio config (Gateways, VirtualServices) only shapes routers' config: sidecars skip a config-only change.
    if request.change.services || (request.change.istioConfig && proxy.type == .router) {
      for type in XDSType.pushOrder where watches[type] != nil {
        try await send(type, snapshot: snapshot, writer: writer)
      }
      return
    }
    // The proxy's own endpoints moved: its inbound clusters and listeners follow.
    let tracked = [XDSType.cluster, .listener].filter { watches[$0] != nil && sentInbound[$0] != nil }
    if !tracked.isEmpty {
      let inbound = InboundPlan(snapshot: snapshot, view: state.view(of: proxy))
      for type in tracked where sentInbound[type] != inbound {
        try await send(type, snapshot: snapshot, writer: writer)
      }
    }
    guard watches[.endpoint] != nil else { return }
    // Gateways moved: every assignment may differ, since other networks' endpoints are replaced by gateways.
    if request.change.networks {
      try await send(.endpoint, snapshot: snapshot, writer: writer)
      return
    }
    // Only the assignments whose hostname changed, as istiod does: EDS responses are incremental even in the
    // state-of-the-world protocol (a subscribed assignment left out of a response keeps its last value).
    let touched = request.change.endpointHostnames.flatMap { endpointNamesByHost[$0] ?? [] }.sorted()
    if !touched.isEmpty {
      try await send(.endpoint, snapshot: snapshot, writer: writer, only: touched)
    }
  }

  /// Sends the proxy's resources of `type` in `snapshot`: every subscribed one, or `only` those (named types: EDS
  /// pushes, and names added in a NACK).
  mutating func send(
    _ type: XDSType,
    snapshot: MeshSnapshot,
    writer: RPCWriter<Envoy_Service_Discovery_V3_DiscoveryResponse>,
    only subset: [String]? = nil
  ) async throws {
    guard let proxy = state.proxy, var watch = watches[type] else { return }
    if type == .secret { try await secrets.recheckCredentialBeforeReissue(names: watch.requestedNames, logger: logger) }
    let resources: [SerializedResource]
    do {
      if type == .secret {
        resources = try secrets.resources(names: watch.requestedNames, logger: logger)
      } else {
        let view = state.view(of: proxy)
        // Only clusters and listeners depend on the inbound plan; EDS and RDS pushes do not compute it.
        let inbound = type == .cluster || type == .listener ? InboundPlan(snapshot: snapshot, view: view) : .none
        resources = try generator.resources(
          type,
          names: type.isWildcard ? [] : subset ?? watch.requestedNames,
          snapshot: snapshot,
          view: view,
          inbound: inbound
        )
        if type == .cluster || type == .listener { sentInbound[type] = inbound }
      }
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

extension AdsSession {
  /// The stream ended: later requests are dropped.
  mutating func close() { state.close() }

  /// Resends SDS when the CA changed since it was sent or the workload certificate is due for renewal.
  mutating func refreshSecrets(writer: RPCWriter<Envoy_Service_Discovery_V3_DiscoveryResponse>) async throws {
    guard let watch = watches[.secret], !watch.requestedNames.isEmpty else { return }
    if secrets.needsRefresh(names: watch.names) {
      try await send(.secret, snapshot: pushed.snapshot, writer: writer)
    }
  }
}

/// Logs (and counts) a refused first request, as the stream ends with its error.
func logRefusal(_ refusal: AdsSessionState.Refusal, logger: inout Logger) {
  if let proxy = refusal.proxy { logger[metadataKey: "proxy"] = "\(proxy.nodeID)" }
  switch refusal.reason {
  case .missingNode:
    break
  case .invalidNode(let error):
    logger.warning("rejected proxy", metadata: ["error": "\(error)"])
  case .namespaceMismatch, .serviceAccountMismatch:
    XDSMetrics.authenticationFailed()
    logger.warning("refused an ADS stream", metadata: ["error": "\(refusal.message)"])
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

  static func authenticationFailed() {
    Counter(label: "pilot_xds_auth_failures_total").increment()
  }

  static func connected(count: Int) {
    Gauge(label: "pilot_xds").record(count)
  }

  /// Envoy's NACK message starts with a dump of the resource; the reason is at the end.
  static func reasonTail(_ message: String) -> String {
    message.count <= 400 ? message : "…" + String(message.suffix(400))
  }
}
