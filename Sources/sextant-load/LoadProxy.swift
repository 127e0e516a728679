import EnvoyAPI
import EnvoyServices
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import SwiftProtobuf

typealias DiscoveryRequest = Envoy_Service_Discovery_V3_DiscoveryRequest
typealias DiscoveryResponse = Envoy_Service_Discovery_V3_DiscoveryResponse

enum TypeURL {
  static let cluster = "type.googleapis.com/envoy.config.cluster.v3.Cluster"
  static let endpoint = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"
  static let listener = "type.googleapis.com/envoy.config.listener.v3.Listener"
  static let route = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration"
  static let httpConnectionManager =
    "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
}

/// The ADS protocol of the simulated proxies.
enum XDSProtocol: String, CaseIterable {
  /// State of the world: StreamAggregatedResources (Envoy's `api_type: GRPC`).
  case sotw
  /// Incremental: DeltaAggregatedResources (`DELTA_GRPC`, as Istio's proxies).
  case delta
}

/// One simulated sidecar: its own HTTP/2 connection and ADS stream, subscribing as Envoy does (CDS, then EDS for the
/// EDS clusters, LDS, then RDS for the listeners' route names) and ACKing every response.
struct LoadProxy {
  let index: Int
  let port: Int
  let board: LoadBoard
  let xdsProtocol: XDSProtocol

  var node: Envoy_Config_Core_V3_Node {
    var node = Envoy_Config_Core_V3_Node()
    let address = "10.200.\(index / 256).\(index % 256)"
    node.id = "sidecar~\(address)~load-\(index).\(MeshFiles.namespace)~\(MeshFiles.namespace).svc.cluster.local"
    node.userAgentName = "envoy"
    var metadata = Google_Protobuf_Struct()
    metadata.fields["CLUSTER_ID"] = Google_Protobuf_Value(stringValue: MeshFiles.cluster)
    metadata.fields["NAMESPACE"] = Google_Protobuf_Value(stringValue: MeshFiles.namespace)
    node.metadata = metadata
    return node
  }

  /// Runs the stream until the task is cancelled (normal end) or the stream fails or is ended by the server (both
  /// reported to the board).
  func run() async {
    do {
      try await withGRPCClient(
        transport: .http2NIOPosix(target: .ipv4(address: "127.0.0.1", port: port), transportSecurity: .plaintext)
      ) { client in
        let ads = Envoy_Service_Discovery_V3_AggregatedDiscoveryService.Client(wrapping: client)
        var options = CallOptions.defaults
        options.maxResponseMessageBytes = 256 << 20
        switch xdsProtocol {
        case .sotw: try await runStateOfTheWorld(ads, options: options)
        case .delta: try await runDelta(ads, options: options)
        }
      }
    } catch {
      if !Task.isCancelled { board.failed(index, "\(error)") }
    }
  }

  /// One StreamAggregatedResources stream, driven by a ``ProxySession``.
  private func runStateOfTheWorld(
    _ ads: Envoy_Service_Discovery_V3_AggregatedDiscoveryService.Client<some ClientTransport>, options: CallOptions
  ) async throws {
    let (requests, continuation) = AsyncStream.makeStream(of: DiscoveryRequest.self)
    var first = DiscoveryRequest()
    first.node = node
    first.typeURL = TypeURL.cluster
    continuation.yield(first)
    board.connected(index, at: .now)
    try await ads.streamAggregatedResources(options: options) { writer in
      for await request in requests { try await writer.write(request) }
    } onResponse: { response in
      var session = ProxySession(index: index, board: board)
      for try await message in response.messages {
        for request in session.handle(message) { continuation.yield(request) }
      }
      continuation.finish()
      // Sextant ends streams only when it shuts down, which a run never asks for while it measures.
      if !Task.isCancelled { board.failed(index, "the server ended the stream") }
    }
  }

  /// One DeltaAggregatedResources stream, driven by a ``DeltaProxySession``.
  private func runDelta(
    _ ads: Envoy_Service_Discovery_V3_AggregatedDiscoveryService.Client<some ClientTransport>, options: CallOptions
  ) async throws {
    let (requests, continuation) = AsyncStream.makeStream(of: DeltaDiscoveryRequest.self)
    continuation.yield(DeltaProxySession.start(node: node))
    board.connected(index, at: .now)
    try await ads.deltaAggregatedResources(options: options) { writer in
      for await request in requests { try await writer.write(request) }
    } onResponse: { response in
      var session = DeltaProxySession(index: index, board: board)
      for try await message in response.messages {
        for request in session.handle(message) { continuation.yield(request) }
      }
      continuation.finish()
      if !Task.isCancelled { board.failed(index, "the server ended the stream") }
    }
  }
}

/// The subscriptions of one stream and the requests each response calls for.
struct ProxySession {
  let index: Int
  let board: LoadBoard
  private var names: [String: [String]] = [:]
  private var versions: [String: String] = [:]
  private var nonces: [String: String] = [:]
  /// Types asked for and not answered since.
  private var pending: Set<String> = [TypeURL.cluster]
  private var listenersRequested = false

  init(index: Int, board: LoadBoard) {
    self.index = index
    self.board = board
  }

  mutating func handle(_ response: DiscoveryResponse) -> [DiscoveryRequest] {
    let type = response.typeURL
    board.responded(index, bytes: response.resources.reduce(0) { $0 + $1.value.count })
    nonces[type] = response.nonce
    pending.remove(type)
    var next: [DiscoveryRequest] = []
    do {
      switch type {
      case TypeURL.cluster:
        let eds = try edsClusters(response)
        versions[type] = response.versionInfo
        next.append(request(type))
        if eds != names[TypeURL.endpoint, default: []] { next.append(subscribe(TypeURL.endpoint, eds)) }
        if !listenersRequested {
          listenersRequested = true
          next.append(subscribe(TypeURL.listener, []))
        }
      case TypeURL.listener:
        let routes = try routeNames(response)
        versions[type] = response.versionInfo
        next.append(request(type))
        if routes != names[TypeURL.route, default: []] { next.append(subscribe(TypeURL.route, routes)) }
      case TypeURL.endpoint:
        versions[type] = response.versionInfo
        next.append(request(type))
        board.arrived(index, names: response.resources.lazy.compactMap(Self.assignmentName), at: .now)
      default:
        versions[type] = response.versionInfo
        next.append(request(type))
      }
    } catch {
      // Envoy would NACK a response it cannot read: the same here, with the previous version.
      board.nacked(index)
      var nack = request(type)
      nack.versionInfo = versions[type] ?? ""
      nack.errorDetail.message = "\(error)"
      next = [nack]
    }
    if pending.isEmpty && listenersRequested { board.synced(index, at: .now) }
    return next
  }

  /// A request of `type` with the current subscription, version and nonce (an ACK after a response).
  private func request(_ type: String) -> DiscoveryRequest {
    var request = DiscoveryRequest()
    request.typeURL = type
    request.resourceNames = names[type] ?? []
    request.versionInfo = versions[type] ?? ""
    request.responseNonce = nonces[type] ?? ""
    return request
  }

  /// Changes the subscription of `type` to `resources` (a response is then expected).
  private mutating func subscribe(_ type: String, _ resources: [String]) -> DiscoveryRequest {
    names[type] = resources
    pending.insert(type)
    return request(type)
  }

  /// The EDS clusters of a CDS response (the cluster's EDS service name, else its name), decoded once per distinct
  /// response across all proxies.
  private func edsClusters(_ response: DiscoveryResponse) throws -> [String] {
    var hasher = Hasher()
    for resource in response.resources { hasher.combine(resource.value) }
    return try board.edsNames(key: hasher.finalize()) {
      try response.resources.compactMap(Self.edsName).sorted()
    }
  }

  /// The route configuration names the listeners' HTTP connection managers ask for over RDS.
  private func routeNames(_ response: DiscoveryResponse) throws -> [String] {
    var routes: Set<String> = []
    for resource in response.resources { routes.formUnion(try Self.routeNames(resource)) }
    return routes.sorted()
  }

  /// The name a cluster's assignment is asked for by over EDS (its EDS service name, else its name); nil for a
  /// cluster that is not of type EDS.
  static func edsName(_ resource: Google_Protobuf_Any) throws -> String? {
    let cluster = try Envoy_Config_Cluster_V3_Cluster(unpackingAny: resource)
    guard cluster.type == .eds else { return nil }
    return cluster.edsClusterConfig.serviceName.isEmpty ? cluster.name : cluster.edsClusterConfig.serviceName
  }

  /// The route configuration names one listener's HTTP connection managers ask for over RDS.
  static func routeNames(_ resource: Google_Protobuf_Any) throws -> Set<String> {
    var routes: Set<String> = []
    let listener = try Envoy_Config_Listener_V3_Listener(unpackingAny: resource)
    for chain in listener.filterChains + [listener.defaultFilterChain] {
      for filter in chain.filters where filter.typedConfig.typeURL == TypeURL.httpConnectionManager {
        let manager = try Envoy_Extensions_Filters_Network_HttpConnectionManager_V3_HttpConnectionManager(
          unpackingAny: filter.typedConfig)
        if !manager.rds.routeConfigName.isEmpty { routes.insert(manager.rds.routeConfigName) }
      }
    }
    return routes
  }

  /// A ClusterLoadAssignment's `cluster_name` (field 1, serialized first) read from its bytes without decoding the
  /// rest; nil when the bytes do not start with it.
  static func assignmentName(_ resource: Google_Protobuf_Any) -> String? {
    let bytes = resource.value
    guard bytes.first == 0x0A else { return nil }
    var length = 0
    var shift = 0
    var index = bytes.startIndex + 1
    while index < bytes.endIndex {
      let byte = bytes[index]
      length |= Int(byte & 0x7F) << shift
      index += 1
      if byte & 0x80 == 0 { break }
      shift += 7
      if shift > 28 { return nil }
    }
    guard length >= 0, bytes.endIndex - index >= length else { return nil }
    return String(decoding: bytes[index..<index + length], as: UTF8.self)
  }
}
