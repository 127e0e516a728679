import EnvoyAPI
import SextantRegistry
import SwiftProtobuf

/// Produces the serialized resources of one type for one proxy, through the shared cache.
///
/// The only place that maps (type, snapshot, proxy view, requested names) to generator calls and cache keys.
package struct ConfigGenerator: Sendable {
  package let cache: ResourceCache
  /// Fixed for the life of the generator, so cache keys need not name it.
  package let mesh: MeshConfig

  package init(cache: ResourceCache = ResourceCache(), mesh: MeshConfig = .defaults) {
    self.cache = cache
    self.mesh = mesh
  }

  /// The resources of `type` for a proxy: every resource for wildcard types, the requested `names` otherwise (in the
  /// order given, each answered even when unknown so the proxy does not wait for it).
  ///
  /// `inbound` is the proxy's `InboundPlan` in `snapshot` (computed by the caller once per send, so the caller can
  /// tell when it changes). Secrets are not generated here: they belong to the stream (see `AdsSession`), and asking
  /// for them returns nothing.
  package func resources(
    _ type: XDSType,
    names: [String],
    snapshot: MeshSnapshot,
    view: ProxyView,
    inbound: InboundPlan = .none
  ) throws(XDSError) -> [SerializedResource] {
    switch type {
    case .secret:
      return []
    case .cluster:
      let gateway = GatewayPlan(snapshot: snapshot, view: view)
      let key = ResourceCacheKey.clusters(
        servicesVersion: snapshot.servicesVersion, type: view.type, interceptionMode: view.interceptionMode,
        inbound: inbound, mutualTLS: view.mutualTLS, gateway: gateway)
      return try cache.resources(for: key) { () throws(XDSError) in
        try ClusterGenerator.generate(snapshot: snapshot, view: view, inbound: inbound, gateway: gateway, mesh: mesh)
          .map {
            cluster throws(XDSError) in
            SerializedResource(name: cluster.name, resource: try EnvoyBuild.any(cluster))
          }
      }
    case .listener:
      let gateway = GatewayPlan(snapshot: snapshot, view: view)
      let key = ResourceCacheKey.listeners(
        servicesVersion: snapshot.servicesVersion,
        type: view.type,
        interceptionMode: view.interceptionMode,
        bindAddress: view.type == .sidecar && view.interceptionMode == .none ? view.ipAddress : "",
        inbound: inbound,
        mutualTLS: view.mutualTLS,
        gateway: gateway
      )
      return try cache.resources(for: key) { () throws(XDSError) in
        try ListenerGenerator.generate(snapshot: snapshot, view: view, inbound: inbound, gateway: gateway, mesh: mesh)
          .map {
            listener throws(XDSError) in
            SerializedResource(name: listener.name, resource: try EnvoyBuild.any(listener))
          }
      }
    case .route:
      var result: [SerializedResource] = []
      for name in names {
        let build = { () throws(XDSError) -> [SerializedResource] in
          let route = RouteGenerator.generate(snapshot: snapshot, routeName: name, view: view, mesh: mesh)
          return [SerializedResource(name: name, resource: try EnvoyBuild.any(route))]
        }
        // A name that matches no HTTP port is built for this request only: caching it would let a client grow the
        // shared cache by one entry per name it makes up.
        guard Self.isKnownRoute(name, in: snapshot) else {
          result += try build()
          continue
        }
        let key = ResourceCacheKey.route(
          name: name, servicesVersion: snapshot.servicesVersion, namespace: view.namespace)
        result += try cache.resources(for: key, build: build)
      }
      return result
    case .endpoint:
      var result: [SerializedResource] = []
      for name in names {
        let host = ResourceNames.endpointHost(name) ?? ""
        // A name of no known service gets an empty assignment built for this request only, never cached (see RDS).
        guard snapshot.services[host] != nil else {
          let assignment = EndpointGenerator.generate(snapshot: snapshot, clusterName: name, view: view)
          result.append(SerializedResource(name: name, resource: try EnvoyBuild.any(assignment)))
          continue
        }
        let key = ResourceCacheKey.endpoints(
          cluster: name,
          endpointVersion: snapshot.endpointVersions[host] ?? 0,
          network: view.network,
          networksVersion: snapshot.networksVersion
        )
        result += try cache.resources(for: key) { () throws(XDSError) in
          let assignment = EndpointGenerator.generate(snapshot: snapshot, clusterName: name, view: view)
          return [SerializedResource(name: name, resource: try EnvoyBuild.any(assignment))]
        }
      }
      return result
    }
  }

  /// Whether RDS `name` is a port number that some service has as an HTTP port (only such routes are cached).
  static func isKnownRoute(_ name: String, in snapshot: MeshSnapshot) -> Bool {
    guard let port = Int(name), String(port) == name else { return false }
    return snapshot.services.values.contains { $0.port(port)?.protocol.isHTTP == true }
  }
}
