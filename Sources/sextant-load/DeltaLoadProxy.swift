import EnvoyAPI
import SwiftProtobuf

typealias DeltaDiscoveryRequest = Envoy_Service_Discovery_V3_DeltaDiscoveryRequest
typealias DeltaDiscoveryResponse = Envoy_Service_Discovery_V3_DeltaDiscoveryResponse

/// The subscriptions of one delta stream and the requests each response calls for, as Envoy on `DELTA_GRPC` with
/// `set_node_on_first_message_only`: the node on the first request only; CDS and LDS wildcard; EDS and RDS names
/// subscribed and unsubscribed as the held clusters and listeners change; every response ACKed by its nonce.
///
/// Only what subscribing needs is decoded: each added or changed cluster (its EDS name) and listener (its route
/// names), once per distinct resource across all proxies. Assignments and routes are counted by name.
struct DeltaProxySession {
  let index: Int
  let board: LoadBoard
  /// The EDS name of every held cluster of type EDS.
  private var edsNames: [String: String] = [:]
  /// The route names of every held listener.
  private var routeNames: [String: Set<String>] = [:]
  /// The names subscribed, per named type (EDS, RDS).
  private var subscribed: [String: Set<String>] = [:]
  /// Names subscribed and not received since, per named type.
  private var awaited: [String: Set<String>] = [:]
  /// Wildcard types asked for and not answered yet.
  private var pending: Set<String> = [TypeURL.cluster]
  private var listenersRequested = false

  init(index: Int, board: LoadBoard) {
    self.index = index
    self.board = board
  }

  /// The first request of the stream: the node and a wildcard CDS subscription.
  static func start(node: Envoy_Config_Core_V3_Node) -> DeltaDiscoveryRequest {
    var request = DeltaDiscoveryRequest()
    request.node = node
    request.typeURL = TypeURL.cluster
    return request
  }

  /// The ACK (or, for a response that does not decode, the NACK) of `response`, and the subscription changes it
  /// calls for.
  mutating func handle(_ response: DeltaDiscoveryResponse) -> [DeltaDiscoveryRequest] {
    let type = response.typeURL
    board.responded(index, bytes: response.resources.reduce(0) { $0 + $1.resource.value.count })
    pending.remove(type)
    var ack = DeltaDiscoveryRequest()
    ack.typeURL = type
    ack.responseNonce = response.nonce
    var next: [DeltaDiscoveryRequest] = []
    do {
      switch type {
      case TypeURL.cluster:
        for resource in response.resources {
          let name = try board.clusterEDSName(resource.resource) { try ProxySession.edsName(resource.resource) }
          edsNames[resource.name] = name
        }
        for name in response.removedResources { edsNames[name] = nil }
        next += resubscribe(TypeURL.endpoint, to: Set(edsNames.values))
        if !listenersRequested {
          listenersRequested = true
          pending.insert(TypeURL.listener)
          var listeners = DeltaDiscoveryRequest()
          listeners.typeURL = TypeURL.listener
          next.append(listeners)
        }
      case TypeURL.listener:
        for resource in response.resources {
          routeNames[resource.name] = try board.listenerRoutes(resource.resource) {
            try ProxySession.routeNames(resource.resource)
          }
        }
        for name in response.removedResources { routeNames[name] = nil }
        next += resubscribe(TypeURL.route, to: routeNames.values.reduce(into: []) { $0.formUnion($1) })
      case TypeURL.endpoint:
        awaited[type]?.subtract(response.resources.lazy.map(\.name))
        board.arrived(index, names: response.resources.lazy.map(\.name), at: .now)
      default:
        awaited[type]?.subtract(response.resources.lazy.map(\.name))
      }
    } catch {
      // Envoy NACKs a response it cannot read and keeps what it held: the same here.
      board.nacked(index)
      ack.errorDetail.message = "\(error)"
      next = []
    }
    if listenersRequested && pending.isEmpty && awaited.values.allSatisfy(\.isEmpty) {
      board.synced(index, at: .now)
    }
    return [ack] + next
  }

  /// The request that changes the subscription of named `type` to `names`, if they differ from it.
  private mutating func resubscribe(_ type: String, to names: Set<String>) -> [DeltaDiscoveryRequest] {
    let current = subscribed[type, default: []]
    let added = names.subtracting(current)
    let removed = current.subtracting(names)
    guard !added.isEmpty || !removed.isEmpty else { return [] }
    subscribed[type] = names
    awaited[type, default: []].formUnion(added)
    awaited[type]?.subtract(removed)
    var request = DeltaDiscoveryRequest()
    request.typeURL = type
    request.resourceNamesSubscribe = added.sorted()
    request.resourceNamesUnsubscribe = removed.sorted()
    return [request]
  }
}
