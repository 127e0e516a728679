import ServiceLifecycle
import SextantRegistry

/// Looks up gateway hostnames (RESOLVE_HOSTNAME_GATEWAYS) in the background until graceful shutdown, rebuilding
/// what used a hostname whose addresses changed.
///
/// The registry answers hostnames from `hostnames` without waiting (build it with `resolve: hostnames.addresses`).
package struct GatewayHostnameService: ServiceLifecycle.Service {
  let hostnames: GatewayHostnames
  let registry: MeshRegistry

  package init(hostnames: GatewayHostnames, registry: MeshRegistry) {
    self.hostnames = hostnames
    self.registry = registry
  }

  package func run() async throws {
    let (hostnames, registry) = (hostnames, registry)
    await cancelWhenGracefulShutdown {
      await hostnames.run { [weak registry] changed in
        await registry?.gatewayHostnamesChanged(changed)
      }
    }
  }
}
