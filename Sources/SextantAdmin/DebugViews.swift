import SextantGeneration
import SextantRegistry
import SextantXDS

/// The JSON shapes of the debug endpoints (snake_case keys, as istiod's debug output uses).
enum DebugViews {
  /// One type's sync state; absent values are written as null, never left out.
  struct TypeSync: Encodable {
    var status: String
    var sentVersion: String?
    var sentNonce: String?
    var ackedVersion: String?
    var lastNack: String?
    var resourceNames: [String]

    enum CodingKeys: String, CodingKey {
      case status, sentVersion, sentNonce, ackedVersion, lastNack, resourceNames
    }

    func encode(to encoder: any Encoder) throws {
      var container = encoder.container(keyedBy: CodingKeys.self)
      try container.encode(status, forKey: .status)
      try container.encode(sentVersion, forKey: .sentVersion)
      try container.encode(sentNonce, forKey: .sentNonce)
      try container.encode(ackedVersion, forKey: .ackedVersion)
      try container.encode(lastNack, forKey: .lastNack)
      try container.encode(resourceNames, forKey: .resourceNames)
    }
  }

  struct ProxySync: Encodable {
    var proxy: String
    var connectionId: String
    var clusterId: String
    var network: String
    var namespace: String
    /// The authenticated caller, when the stream came over the secure port.
    var identity: String?
    var cds: TypeSync
    var eds: TypeSync
    var lds: TypeSync
    var rds: TypeSync
    var sds: TypeSync
  }

  static func syncz(_ connections: ConnectionRegistry) -> [ProxySync] {
    connections.all.compactMap { connection in
      let info = connection.snapshot
      guard let proxy = info.proxy else { return nil }
      func sync(_ type: XDSType) -> TypeSync {
        guard let watch = info.watches[type] else {
          return TypeSync(status: SyncStatus.notSent.rawValue, resourceNames: [])
        }
        return TypeSync(
          status: watch.syncStatus.rawValue,
          sentVersion: watch.sentVersion,
          sentNonce: watch.sentNonce,
          ackedVersion: watch.ackedVersion,
          lastNack: watch.lastNack,
          resourceNames: type.isWildcard ? [] : watch.requestedNames
        )
      }
      return ProxySync(
        proxy: proxy.nodeID,
        connectionId: info.id,
        clusterId: proxy.clusterID,
        network: proxy.network,
        namespace: proxy.namespace,
        identity: info.identity,
        cds: sync(.cluster),
        eds: sync(.endpoint),
        lds: sync(.listener),
        rds: sync(.route),
        sds: sync(.secret)
      )
    }
  }

  struct ServiceView: Encodable {
    var hostname: String
    var namespace: String
    var ports: [PortView]
    var addresses: [String: [String]]
    var clusters: [String]
  }

  struct PortView: Encodable {
    var name: String
    var port: Int
    var `protocol`: String
  }

  static func registryz(_ snapshot: MeshSnapshot) -> [ServiceView] {
    snapshot.sortedHostnames.compactMap { hostname in
      guard let service = snapshot.services[hostname] else { return nil }
      return ServiceView(
        hostname: hostname,
        namespace: service.namespace,
        ports: service.ports.map { PortView(name: $0.name, port: $0.port, protocol: $0.protocol.rawValue) },
        addresses: service.addresses,
        clusters: service.clusters
      )
    }
  }

  struct ClusterStateView: Encodable {
    var id: String
    var state: String
    var reason: String
    var hasSynced: Bool
    var network: String
    var services: Int
    var endpoints: Int
    var objects: [String: Int]
  }

  static func clusterz(_ snapshot: MeshSnapshot) -> [ClusterStateView] {
    snapshot.sortedClusterIDs.compactMap { id in
      guard let info = snapshot.clusters[id] else { return nil }
      return ClusterStateView(
        id: id,
        state: info.state.rawValue,
        reason: info.reason,
        hasSynced: info.hasSynced,
        network: info.network,
        services: info.serviceCount,
        endpoints: info.endpointCount,
        objects: Dictionary(uniqueKeysWithValues: info.objectCounts.map { ($0.key.rawValue, $0.value) })
      )
    }
  }

  struct EndpointView: Encodable {
    var address: String
    var port: Int
    var servicePort: Int
    var health: String
    var locality: String
    var cluster: String
    var network: String
    var tlsMode: String
    var workload: String
  }

  static func endpointz(_ snapshot: MeshSnapshot) -> [String: [EndpointView]] {
    var result: [String: [EndpointView]] = [:]
    for (hostname, shards) in snapshot.endpoints {
      result[hostname] = shards.all.map {
        EndpointView(
          address: $0.address,
          port: $0.port,
          servicePort: $0.servicePort,
          health: $0.health.rawValue,
          locality: $0.locality.description,
          cluster: $0.cluster,
          network: $0.network,
          tlsMode: $0.tlsMode,
          workload: $0.workload
        )
      }
    }
    return result
  }
}
