import SextantGeneration
import SextantRegistry
import SextantXDS

/// The JSON shapes of `/debug/networkz` (networks and their gateways) and `/debug/configz` (Istio config).
enum NetworkViews {
  struct Networkz: Encodable {
    /// True when any network has a gateway: endpoints are then sent per proxy network (split horizon).
    var multiNetwork: Bool
    var networks: [Network]
  }

  struct Network: Encodable {
    /// The network's name; empty is the default network.
    var network: String
    /// Clusters whose default network this is.
    var clusters: [String]
    var gateways: [Gateway]
    /// Endpoints (one per service port and address) on this network.
    var endpoints: Int
    /// Of those, how many proxies on other networks cannot reach, by reason (`no_gateway`, `no_mtls`).
    var unreachable: [String: Int]
  }

  struct Gateway: Encodable {
    var address: String
    var port: Int
    var cluster: String
    var source: String
  }

  static func networkz(_ snapshot: MeshSnapshot) -> Networkz {
    var names = Set(snapshot.networks.gateways.keys)
    var clusters: [String: [String]] = [:]
    for info in snapshot.clusters.values {
      names.insert(info.network)
      clusters[info.network, default: []].append(info.id)
    }
    var endpoints: [String: Int] = [:]
    for shards in snapshot.endpoints.values {
      for shard in shards.shards.values {
        for endpoint in shard { endpoints[endpoint.network, default: 0] += 1 }
      }
    }
    names.formUnion(endpoints.keys)
    let unreachable = snapshot.unreachableEndpoints()
    let networks = names.sorted().map { name in
      Network(
        network: name,
        clusters: (clusters[name] ?? []).sorted(),
        gateways: snapshot.networks.gateways(of: name).map {
          Gateway(address: $0.address, port: $0.port, cluster: $0.cluster, source: $0.source)
        },
        endpoints: endpoints[name] ?? 0,
        unreachable: Dictionary(
          uniqueKeysWithValues: SplitHorizon.Unreachable.allCases.map { ($0.rawValue, unreachable[name]?[$0] ?? 0) })
      )
    }
    return Networkz(multiNetwork: snapshot.networks.isMultiNetwork, networks: networks)
  }

  struct Configz: Encodable {
    var gateways: [GatewayView]
    var virtualServices: [VirtualServiceView]
    /// Objects left out, each with the field and the reason.
    var rejected: [Rejection]
    /// Accepted servers no gateway gets a listener for (Sextant serves TLS PASSTHROUGH and AUTO_PASSTHROUGH only).
    var notServed: [String]
    /// PASSTHROUGH routes that lost server names to earlier chains of their listener (Envoy takes each name once).
    var shadowed: [String]
  }

  struct GatewayView: Encodable {
    var name: String
    var namespace: String
    var cluster: String
    var selector: [String: String]
    var servers: [Server]
  }

  struct Server: Encodable {
    var port: Int
    var `protocol`: String
    var hosts: [String]
    var bind: String
    var tlsMode: String?
  }

  struct VirtualServiceView: Encodable {
    var name: String
    var namespace: String
    var cluster: String
    var hosts: [String]
    var gateways: [String]
    var tlsRoutes: Int
  }

  struct Rejection: Encodable {
    var kind: String
    var namespace: String
    var name: String
    var cluster: String
    var field: String
    var message: String
  }

  static func configz(_ snapshot: MeshSnapshot) -> Configz {
    let config = snapshot.istioConfig
    return Configz(
      gateways: config.gateways.map { gateway in
        GatewayView(
          name: gateway.name, namespace: gateway.namespace, cluster: gateway.cluster, selector: gateway.selector,
          servers: gateway.servers.map {
            Server(port: $0.port, protocol: $0.protocol, hosts: $0.hosts, bind: $0.bind, tlsMode: $0.tlsMode?.rawValue)
          })
      },
      virtualServices: config.virtualServices.map {
        VirtualServiceView(
          name: $0.name, namespace: $0.namespace, cluster: $0.cluster, hosts: $0.hosts, gateways: $0.gateways,
          tlsRoutes: $0.tlsRoutes.count)
      },
      rejected: config.rejected.map {
        Rejection(
          kind: $0.kind, namespace: $0.namespace, name: $0.name, cluster: $0.cluster, field: $0.field,
          message: $0.message)
      },
      notServed: config.gateways.flatMap { gateway in
        gateway.servers.enumerated().compactMap { index, server -> String? in
          if server.tlsMode == .passthrough || server.tlsMode == .autoPassthrough { return nil }
          return
            "Gateway \(gateway.qualifiedName) in \(gateway.cluster): spec.servers[\(index)]: protocol \(server.protocol)"
            + (server.tlsMode.map { " with TLS mode \($0.rawValue)" } ?? "") + " is not served yet"
        }
      },
      shadowed: GatewayShadowing.shadowedRoutes(in: snapshot)
    )
  }
}
