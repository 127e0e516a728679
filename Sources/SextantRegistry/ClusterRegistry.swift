import SextantKube

/// Turns one cluster's Kubernetes objects into its `ClusterView`.
///
/// `build` is a pure function of its arguments: the same objects (and answers of `resolve`) always give an equal view,
/// so callers can compare views to detect change. The rules (istiod's, unless noted):
/// - Every Service except `type: ExternalName` becomes a `MeshService` named `NAME.NAMESPACE.svc.DOMAIN_SUFFIX`.
///   Its VIPs are `clusterIPs` (or `clusterIP`), without `None`/empty, in the API's order. Ports are sorted by number;
///   when two Service ports share a number (e.g. 53/TCP and 53/UDP) the first declared one is kept.
/// - Endpoints come from the EndpointSlices labelled `kubernetes.io/service-name: NAME` in the Service's namespace
///   (FQDN slices are ignored), in slice-name order. An endpoint counts when `conditions.ready` is true or unset and
///   `conditions.terminating` is not true. A Service with no slice at all falls back to the core v1 Endpoints object
///   of the same name (`addresses` only; `notReadyAddresses` are left out).
/// - Each service port yields one `MeshEndpoint` per address whose endpoint object serves it (see
///   `PortResolution`): `port` is the endpoint port, `servicePort` the service port. A (servicePort, address) pair
///   seen twice is kept once (the first slice by name wins).
/// - Pod, node, network and locality facts come from `WorkloadIndex`.
/// - Services labelled with a network are that network's gateways (`GatewayDiscovery`); Gateways and
///   VirtualServices are checked one by one (`IstioConfigParser`). A gateway Service's unreadable annotation is
///   listed with the rejected Istio config.
package enum ClusterRegistry {
  /// The view of `cluster` holding `objects`.
  ///
  /// `resolve` gives the addresses of a gateway Service's load-balancer hostname (with `resolveHostnameGateways`);
  /// `MeshRegistry` passes the `resolve` it was given (SextantSources' `GatewayHostnames`, which answers without
  /// waiting). The hostnames asked are recorded in the view.
  package static func build(
    cluster: ClusterID, objects: ClusterObjects, options: RegistryOptions, resolve: (String) -> [String] = { _ in [] }
  ) -> ClusterView {
    var asked: Set<String> = []
    let recording = { (hostname: String) -> [String] in
      asked.insert(hostname)
      return resolve(hostname)
    }
    let namespaceNetwork = objects.namespaces[options.systemNamespace]?.metadata.labels?[WellKnownLabels.network] ?? ""
    let registryNetwork = options.meshNetworks.network(ofCluster: cluster) ?? ""
    let network = namespaceNetwork.isEmpty ? registryNetwork : namespaceNetwork
    let workloads = WorkloadIndex(
      objects: objects, namespaceNetwork: namespaceNetwork, registryNetwork: registryNetwork,
      meshNetworks: options.meshNetworks)

    var slicesByService: [NamespacedName: [EndpointSlice]] = [:]
    for key in objects.endpointSlices.keys.sorted() {
      let slice = objects.endpointSlices[key]!
      guard let serviceName = slice.serviceName else { continue }
      slicesByService[NamespacedName(namespace: key.namespace, name: serviceName), default: []].append(slice)
    }

    var services: [String: MeshService] = [:]
    var endpoints: [String: [MeshEndpoint]] = [:]
    // External addresses are only needed for meshNetworks gateways named by hostname (and only those are resolved).
    let namedGateways = options.meshNetworks.registryServiceNames
    var externalAddresses: [String: [String]] = [:]
    for (key, service) in objects.services where service.spec.type != "ExternalName" {
      let hostname = options.hostname(name: key.name, namespace: key.namespace)
      if namedGateways.contains(hostname) {
        let external = GatewayDiscovery.externalAddresses(
          of: service, resolveHostnames: options.resolveHostnameGateways, resolve: recording)
        if !external.isEmpty { externalAddresses[hostname] = external }
      }
      let ports = uniquePorts(of: service)
      let addresses = vips(of: service)
      services[hostname] = MeshService(
        hostname: hostname,
        name: key.name,
        namespace: key.namespace,
        ports: ports.map { MeshPort(name: $0.name ?? "", port: $0.port, protocol: ServiceProtocol(port: $0)) },
        addresses: addresses.isEmpty ? [:] : [cluster: addresses],
        clusters: [cluster],
        labels: service.metadata.labels ?? [:]
      )
      var collector = EndpointCollector(cluster: cluster, workloads: workloads, ports: ports)
      if let slices = slicesByService[key] {
        for slice in slices { collector.add(slice: slice, namespace: key.namespace) }
      } else if let legacy = objects.endpoints[key] {
        collector.add(endpoints: legacy, namespace: key.namespace)
      }
      endpoints[hostname] = collector.result.sorted()
    }

    var counts: [ObjectKind: Int] = [:]
    counts[.namespace] = objects.namespaces.count
    counts[.service] = objects.services.count
    counts[.endpointSlice] = objects.endpointSlices.count
    counts[.endpoints] = objects.endpoints.count
    counts[.pod] = objects.pods.count
    counts[.node] = objects.nodes.count
    counts[.gateway] = objects.gateways.count
    counts[.virtualService] = objects.virtualServices.count

    let discovery = GatewayDiscovery.discover(
      in: objects, cluster: cluster, resolveHostnames: options.resolveHostnameGateways, resolve: recording)
    var istioConfig = IstioConfigParser.parse(objects, cluster: cluster, options: options)
    istioConfig.rejected += discovery.rejected
    return ClusterView(
      cluster: cluster,
      services: services,
      endpoints: endpoints,
      networkOfCluster: network,
      gateways: discovery.gateways,
      externalAddresses: externalAddresses,
      istioConfig: istioConfig,
      gatewayHostnames: asked,
      objectCounts: counts
    )
  }

  /// The Service's VIPs: `clusterIPs`, else `clusterIP`, without `None` and empty values or duplicates.
  static func vips(of service: KubeService) -> [String] {
    let candidates = service.spec.clusterIPs.flatMap { $0.isEmpty ? nil : $0 } ?? [service.spec.clusterIP ?? ""]
    var seen: Set<String> = []
    return candidates.filter { !$0.isEmpty && $0 != "None" && seen.insert($0).inserted }
  }

  /// The Service's ports sorted by number, keeping the first declared port of each number.
  static func uniquePorts(of service: KubeService) -> [KubeService.Port] {
    var seen: Set<Int> = []
    return (service.spec.ports ?? []).filter { seen.insert($0.port).inserted }.sorted { $0.port < $1.port }
  }
}

/// Gathers one service's endpoints in one cluster, de-duplicating (servicePort, address).
private struct EndpointCollector {
  let cluster: ClusterID
  let workloads: WorkloadIndex
  let ports: [KubeService.Port]
  private(set) var result: [MeshEndpoint] = []
  private var seen: Set<Key> = []

  private struct Key: Hashable {
    var servicePort: Int
    var address: String
  }

  init(cluster: ClusterID, workloads: WorkloadIndex, ports: [KubeService.Port]) {
    self.cluster = cluster
    self.workloads = workloads
    self.ports = ports
  }

  mutating func add(slice: EndpointSlice, namespace: String) {
    if slice.addressType == "FQDN" { return }
    let endpointPorts = PortResolution.ports(of: slice)
    let resolved = ports.compactMap { port in
      PortResolution.targetPort(for: port, in: endpointPorts).map { (service: port.port, target: $0) }
    }
    for endpoint in slice.endpoints ?? [] {
      let conditions = endpoint.conditions
      guard conditions?.ready ?? true, !(conditions?.terminating ?? false) else { continue }
      let zone = nonEmpty(endpoint.zone) ?? nonEmpty(endpoint.topology?[WellKnownLabels.zone])
      for address in endpoint.addresses {
        let source = WorkloadIndex.Source(
          address: address,
          namespace: namespace,
          targetRef: endpoint.targetRef,
          nodeName: endpoint.nodeName,
          zone: zone
        )
        add(source: source, resolved: resolved)
      }
    }
  }

  mutating func add(endpoints: Endpoints, namespace: String) {
    for subset in endpoints.subsets ?? [] {
      let endpointPorts = PortResolution.ports(of: subset)
      let resolved = ports.compactMap { port in
        PortResolution.targetPort(for: port, in: endpointPorts).map { (service: port.port, target: $0) }
      }
      for address in subset.addresses ?? [] {
        let source = WorkloadIndex.Source(
          address: address.ip,
          namespace: namespace,
          targetRef: address.targetRef,
          nodeName: address.nodeName,
          zone: nil
        )
        add(source: source, resolved: resolved)
      }
    }
  }

  private mutating func add(source: WorkloadIndex.Source, resolved: [(service: Int, target: Int)]) {
    guard !source.address.isEmpty else { return }
    var template: MeshEndpoint?
    for (servicePort, target) in resolved
    where seen.insert(Key(servicePort: servicePort, address: source.address)).inserted {
      var endpoint = template ?? workloads.endpoint(for: source, cluster: cluster)
      template = endpoint
      endpoint.port = target
      endpoint.servicePort = servicePort
      result.append(endpoint)
    }
  }
}
