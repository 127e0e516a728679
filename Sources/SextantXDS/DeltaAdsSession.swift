import EnvoyAPI
import GRPCCore
import Logging
import SextantGeneration
import SextantPKI
import SextantRegistry

/// One delta (incremental) ADS stream: CDS, EDS, LDS, RDS and SDS for one proxy, from the same pushes, generator
/// and shared cache as state of the world.
///
/// The node, authentication and SDS rules are those of ``AdsSession`` (``AdsSessionState``, ``StreamSecrets``); the
/// node is read from the first request only (`set_node_on_first_message_only`). Per type a ``DeltaWatchState``
/// holds the subscription and the version of each resource the proxy holds (a hash of its serialized bytes,
/// ``SerializedResource/version``); a response carries only resources whose version the proxy does not hold, and
/// `removed_resources` for held ones that stopped existing (``DeltaResourceExistence``). Pushes follow the
/// SotW rules (``AdsSession/push(_:writer:)``); a full push considers every subscribed resource, but sends only the
/// changed ones. A response is sent only when it adds or removes something, except that the first request of a
/// wildcard subscription is always answered (possibly empty), so the proxy knows its set is complete. Clusters sent
/// over CDS get their assignment sent again even when unchanged (Envoy issue 33607, as istiod does: a cluster
/// updated over delta CDS waits for its EDS).
struct DeltaAdsSession: AdsStreamSession {
  static func event(carrying request: Envoy_Service_Discovery_V3_DeltaDiscoveryRequest) -> AdsConnection.Event {
    .deltaRequest(request)
  }

  static func request(carriedBy event: AdsConnection.Event) -> Envoy_Service_Discovery_V3_DeltaDiscoveryRequest? {
    if case .deltaRequest(let request) = event { return request }
    return nil
  }

  typealias Writer = RPCWriter<Envoy_Service_Discovery_V3_DeltaDiscoveryResponse>

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
  var watches: [XDSType: DeltaWatchState] = [:]
  /// Type URLs asked for that Sextant does not serve (bounded by ``XDSLimits/maximumUnknownTypes``).
  var unknownTypes = UnknownTypes()
  /// The inbound plan the last CDS and the last LDS were generated with; a change needs that type considered again.
  var sentInbound: [XDSType: InboundPlan] = [:]
  /// The EDS subscription by hostname, rebuilt when it changes (see ``AdsSession/endpointNamesByHost``).
  var endpointNamesByHost: [String: [String]] = [:]
  /// EDS names of clusters sent over CDS since their assignment was last sent: sent with the next EDS response.
  var clustersAwaitingEndpoints: Set<String> = []
  /// The stream's SDS.
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
    self.logger[metadataKey: "protocol"] = "delta"
    if let identity { self.logger[metadataKey: "identity"] = "\(identity.spiffe.uri)" }
  }

  mutating func close() { state.close() }

  mutating func handle(_ request: Envoy_Service_Discovery_V3_DeltaDiscoveryRequest, writer: Writer) async throws {
    let proxy: Proxy
    switch state.receive(node: request.hasNode ? request.node : nil) {
    case .connected(let connected):
      proxy = connected
      logger[metadataKey: "proxy"] = "\(proxy.nodeID)"
      publish(proxy)
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
    try limits.checkNames(request.resourceNamesSubscribe.count, of: type, what: "a request")
    var watch = watches[type] ?? DeltaWatchState(type: type)
    let previousNack = watch.lastNack
    let classification = watch.receive(
      DeltaWatchState.Request(
        subscribe: request.resourceNamesSubscribe,
        unsubscribe: request.resourceNamesUnsubscribe,
        initialVersions: request.initialResourceVersions,
        nonce: request.responseNonce,
        errorMessage: request.hasErrorDetail ? request.errorDetail.message : nil
      ))
    try limits.checkNames(watch.names.count, of: type, what: "the stream's subscription")
    watches[type] = watch
    if type == .endpoint
      && (classification.initial || !classification.subscribed.isEmpty || !classification.unsubscribed.isEmpty)
    {
      endpointNamesByHost = Dictionary(grouping: watch.requestedNames) { ResourceNames.endpointHost($0) ?? "" }
    }
    publish(proxy)
    switch classification.acknowledgement {
    case .nack(let nonce, let reason):
      XDSMetrics.rejected(type)
      if reason != previousNack {
        logger.warning(
          "proxy rejected config (NACK)",
          metadata: [
            "type": "\(type.shortName)", "nonce": "\(nonce)", "reason": "\(XDSMetrics.reasonTail(reason))",
          ])
      }
    case .stale(let nonce):
      logger.trace("stale nonce ignored", metadata: ["type": "\(type.shortName)", "nonce": "\(nonce)"])
    case .ack, .none:
      break
    }
    if classification.declaredVersions > 0 {
      logger.info(
        "delta stream resumed", metadata: ["type": "\(type.shortName)", "held": "\(classification.declaredVersions)"])
    }
    guard let scope = classification.answer else { return }
    let snapshot = pushed.snapshot
    try await send(type, snapshot: snapshot, scope: scope, writer: writer, always: classification.initial)
    if type == .cluster { try await sendAwaitedEndpoints(snapshot: snapshot, writer: writer) }
  }

  /// Sends what a push changes, by the state-of-the-world rules (``AdsSession/push(_:writer:)``); every response
  /// carries only the resources that changed for this proxy.
  mutating func push(_ request: PushRequest, writer: Writer) async throws {
    guard let proxy = state.proxy else { return }
    let current = pushed.snapshot
    let snapshot = current.version > request.snapshot.version ? current : request.snapshot
    if request.change.services || (request.change.istioConfig && proxy.type == .router) {
      // EDS follows CDS in this order, so the assignments of clusters just sent go out with it.
      for type in XDSType.pushOrder where watches[type] != nil {
        try await send(type, snapshot: snapshot, scope: .everything, writer: writer)
      }
      return
    }
    let tracked = [XDSType.cluster, .listener].filter { watches[$0] != nil && sentInbound[$0] != nil }
    if !tracked.isEmpty {
      let inbound = InboundPlan(snapshot: snapshot, view: state.view(of: proxy))
      for type in tracked where sentInbound[type] != inbound {
        try await send(type, snapshot: snapshot, scope: .everything, writer: writer)
        if type == .cluster { try await sendAwaitedEndpoints(snapshot: snapshot, writer: writer) }
      }
    }
    guard watches[.endpoint] != nil else { return }
    if request.change.networks {
      try await send(.endpoint, snapshot: snapshot, scope: .everything, writer: writer)
      return
    }
    let touched = Set(request.change.endpointHostnames.flatMap { endpointNamesByHost[$0] ?? [] })
    if !touched.isEmpty {
      try await send(.endpoint, snapshot: snapshot, scope: .names(touched), writer: writer)
    }
  }

  /// Resends SDS when the CA changed since it was sent or the workload certificate is due for renewal (only what
  /// changed goes out).
  mutating func refreshSecrets(writer: Writer) async throws {
    guard let watch = watches[.secret], !watch.names.isEmpty, secrets.needsRefresh(names: watch.names) else { return }
    try await send(.secret, snapshot: pushed.snapshot, scope: .everything, writer: writer)
  }

  /// Sends the assignments of clusters CDS sent since their EDS went out, when the proxy subscribes to them.
  mutating func sendAwaitedEndpoints(snapshot: MeshSnapshot, writer: Writer) async throws {
    guard let watch = watches[.endpoint] else { return }
    let awaited = clustersAwaitingEndpoints.filter { watch.isSubscribed($0) }
    guard !awaited.isEmpty else { return }
    try await send(.endpoint, snapshot: snapshot, scope: .names(awaited), writer: writer)
  }

  /// The resources of `type` in `scope` that exist in `snapshot` for this proxy.
  mutating func currentResources(
    _ type: XDSType, for proxy: Proxy, snapshot: MeshSnapshot, scope: DeltaWatchState.Scope, watch: DeltaWatchState
  ) async throws -> [SerializedResource] {
    let inScope: (String) -> Bool = { name in
      guard watch.isSubscribed(name) else { return false }
      if case .names(let names) = scope { return names.contains(name) }
      return true
    }
    let named: [String]
    switch scope {
    case .everything: named = watch.requestedNames
    case .names(let names): named = names.filter { watch.isSubscribed($0) }.sorted()
    }
    if type == .secret {
      try await secrets.recheckCredentialBeforeReissue(names: named, logger: logger)
      return try secrets.resources(names: named, logger: logger)
    }
    let view = state.view(of: proxy)
    let inbound = type == .cluster || type == .listener ? InboundPlan(snapshot: snapshot, view: view) : .none
    let resources: [SerializedResource]
    if type.isWildcard {
      resources = try generator.resources(type, names: [], snapshot: snapshot, view: view, inbound: inbound)
        .filter { inScope($0.name) }
      sentInbound[type] = inbound
    } else {
      let existence = DeltaResourceExistence(snapshot: snapshot, type: type)
      let names = named.filter { existence.exists(type, $0) }
      resources =
        names.isEmpty
        ? [] : try generator.resources(type, names: names, snapshot: snapshot, view: view, inbound: inbound)
    }
    return resources
  }

  /// Sends the resources of `type` in `scope` whose version the proxy does not hold, and removals of those it holds
  /// that no longer exist; nothing when there is neither, unless `always`.
  mutating func send(
    _ type: XDSType, snapshot: MeshSnapshot, scope: DeltaWatchState.Scope, writer: Writer, always: Bool = false
  ) async throws {
    guard let proxy = state.proxy, var watch = watches[type] else { return }
    let resources: [SerializedResource]
    do {
      resources = try await currentResources(type, for: proxy, snapshot: snapshot, scope: scope, watch: watch)
    } catch let error as XDSError {
      logger.error("cannot generate config", metadata: ["type": "\(type.shortName)", "error": "\(error)"])
      return
    }
    let force = type == .endpoint ? clustersAwaitingEndpoints : []
    let (names, removed) = watch.changes(
      current: resources.map { ($0.name, $0.version) }, scope: scope, force: force)
    if type == .endpoint { clustersAwaitingEndpoints.subtract(names) }
    guard !names.isEmpty || !removed.isEmpty || (always && watch.wildcard) else { return }
    let chosen = Set(names)
    var response = Envoy_Service_Discovery_V3_DeltaDiscoveryResponse()
    response.systemVersionInfo = String(snapshot.version)
    response.typeURL = type.rawValue
    response.nonce = String(nonces.next(), radix: 16)
    response.resources = resources.filter { chosen.contains($0.name) }.map { serialized in
      var resource = Envoy_Service_Discovery_V3_Resource()
      resource.name = serialized.name
      resource.version = serialized.version
      resource.resource = serialized.resource
      return resource
    }
    response.removedResources = removed
    response.controlPlane.identifier = identifier
    try await writer.write(response)
    watch.sent(
      nonce: response.nonce, systemVersion: response.systemVersionInfo,
      resources: Dictionary(response.resources.map { ($0.name, $0.version) }, uniquingKeysWith: { $1 }),
      removed: removed)
    watches[type] = watch
    if type == .cluster {
      clustersAwaitingEndpoints.formUnion(names.filter { ResourceNames.endpointHost($0) != nil })
      clustersAwaitingEndpoints.subtract(removed)
    }
    publish(proxy)
    XDSMetrics.pushed(type)
    logger.debug(
      "sent",
      metadata: [
        "type": "\(type.shortName)", "version": "\(response.systemVersionInfo)", "nonce": "\(response.nonce)",
        "resources": "\(response.resources.count)", "removed": "\(removed.count)",
        "unchanged": "\(resources.count - response.resources.count)",
      ]
    )
  }

  /// Publishes the proxy and its subscriptions for debug endpoints (`/debug/syncz`).
  func publish(_ proxy: Proxy) {
    connection.update(proxy: proxy, watches: watches.mapValues(\.syncView))
  }
}
