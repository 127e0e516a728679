import EnvoyAPI
import SextantRegistry
import SwiftProtobuf

/// Generates a sidecar's route configurations (RDS), one per HTTP port, named by the port number.
///
/// Each service with an HTTP port equal to the route's port gets a virtual host `HOST:PORT` with the domains Istio
/// gives it: the FQDN, the short names valid from the proxy's namespace, and the cluster IPs, each with and without
/// `:PORT`. A domain already claimed by an earlier virtual host (services sorted by hostname) is left out, because
/// Envoy rejects duplicates. A final catch-all virtual host sends everything else to PassthroughCluster (BlackHoleCluster with REGISTRY_ONLY).
/// A pure function of the services, the route name and the proxy's namespace: the cache key is
/// `(servicesVersion, route name, view.namespace)`.
package enum RouteGenerator {
  package static func generate(
    snapshot: MeshSnapshot,
    routeName: String,
    view: ProxyView,
    mesh: MeshConfig = .defaults
  ) -> Envoy_Config_Route_V3_RouteConfiguration {
    var configuration = Envoy_Config_Route_V3_RouteConfiguration()
    configuration.name = routeName
    configuration.validateClusters = Google_Protobuf_BoolValue(false)
    guard let port = Int(routeName) else {
      configuration.virtualHosts = [catchAll(mesh)]
      return configuration
    }
    var claimed = Set<String>()
    var hosts: [Envoy_Config_Route_V3_VirtualHost] = []
    for hostname in snapshot.sortedHostnames {
      guard let service = snapshot.services[hostname], let servicePort = service.port(port), servicePort.protocol.isHTTP
      else { continue }
      let domains = domains(service: service, port: port, proxyNamespace: view.namespace).filter {
        claimed.insert($0).inserted
      }
      guard !domains.isEmpty else { continue }
      var host = Envoy_Config_Route_V3_VirtualHost()
      host.name = "\(hostname):\(port)"
      host.domains = domains
      host.routes = [route(to: ResourceNames.outboundCluster(port: port, host: hostname), name: "default")]
      hosts.append(host)
    }
    hosts.append(catchAll(mesh))
    configuration.virtualHosts = hosts
    return configuration
  }

  /// The domains of a service on one port as seen from `proxyNamespace`, in a stable order.
  static func domains(service: MeshService, port: Int, proxyNamespace: String) -> [String] {
    var names = [service.hostname]
    let domainSuffixFree = "\(service.name).\(service.namespace)"
    if service.namespace == proxyNamespace { names.append(service.name) }
    names.append(domainSuffixFree)
    names.append("\(domainSuffixFree).svc")
    names.append(contentsOf: service.allAddresses)
    var seen = Set<String>()
    return names.filter { seen.insert($0).inserted }.flatMap { [$0, "\($0):\(port)"] }
  }

  static func route(to cluster: String, name: String) -> Envoy_Config_Route_V3_Route {
    var match = Envoy_Config_Route_V3_RouteMatch()
    match.prefix = "/"
    var action = Envoy_Config_Route_V3_RouteAction()
    action.cluster = cluster
    action.timeout = EnvoyBuild.duration(seconds: 0)
    var route = Envoy_Config_Route_V3_Route()
    route.name = name
    route.match = match
    route.route = action
    return route
  }

  /// The catch-all virtual host: unknown authorities go to PassthroughCluster (`allow_any`), or with REGISTRY_ONLY to
  /// BlackHoleCluster (`block_all`), as istiod does.
  static func catchAll(_ mesh: MeshConfig) -> Envoy_Config_Route_V3_VirtualHost {
    let allow = mesh.outboundTrafficPolicy == .allowAny
    var host = Envoy_Config_Route_V3_VirtualHost()
    host.name = allow ? "allow_any" : "block_all"
    host.domains = ["*"]
    host.routes = [
      route(to: allow ? ResourceNames.passthroughCluster : ResourceNames.blackHoleCluster, name: host.name)
    ]
    return host
  }
}
