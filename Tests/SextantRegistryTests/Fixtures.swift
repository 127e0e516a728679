import SextantKube
import SextantRegistry

/// Small builders for Kubernetes objects used across the registry tests.
enum Fx {
  static func namespace(_ name: String, labels: [String: String]? = nil) -> KubeObject {
    .namespace(Namespace(metadata: ObjectMeta(name: name, labels: labels)))
  }

  static func service(
    _ name: String,
    namespace: String = "default",
    type: String? = nil,
    clusterIP: String? = "10.0.0.1",
    clusterIPs: [String]? = nil,
    ports: [KubeService.Port] = [KubeService.Port(name: "http", port: 80)],
    labels: [String: String]? = nil,
    externalName: String? = nil
  ) -> KubeObject {
    .service(
      KubeService(
        metadata: ObjectMeta(name: name, namespace: namespace, labels: labels),
        spec: KubeService.Spec(
          type: type, clusterIP: clusterIP, clusterIPs: clusterIPs, ports: ports, externalName: externalName)
      )
    )
  }

  static func slice(
    _ name: String,
    namespace: String = "default",
    service: String,
    addressType: String? = "IPv4",
    ports: [EndpointSlice.Port]? = [EndpointSlice.Port(name: "http", port: 8080)],
    endpoints: [EndpointSlice.Endpoint]
  ) -> KubeObject {
    .endpointSlice(
      EndpointSlice(
        metadata: ObjectMeta(name: name, namespace: namespace, labels: [EndpointSlice.serviceNameLabel: service]),
        addressType: addressType,
        endpoints: endpoints,
        ports: ports
      )
    )
  }

  static func endpoint(
    _ address: String,
    ready: Bool? = true,
    terminating: Bool? = nil,
    pod: String? = nil,
    namespace: String? = nil,
    nodeName: String? = nil,
    zone: String? = nil,
    topology: [String: String]? = nil
  ) -> EndpointSlice.Endpoint {
    EndpointSlice.Endpoint(
      addresses: [address],
      conditions: EndpointSlice.Conditions(ready: ready, terminating: terminating),
      nodeName: nodeName,
      zone: zone,
      targetRef: pod.map { ObjectReference(kind: "Pod", namespace: namespace, name: $0) },
      topology: topology
    )
  }

  static func pod(
    _ name: String,
    namespace: String = "default",
    ip: String,
    labels: [String: String]? = nil,
    node: String? = nil,
    serviceAccount: String? = nil,
    phase: String? = "Running"
  ) -> KubeObject {
    .pod(
      Pod(
        metadata: ObjectMeta(name: name, namespace: namespace, labels: labels),
        spec: Pod.Spec(nodeName: node, serviceAccountName: serviceAccount),
        status: Pod.Status(podIP: ip, podIPs: [Pod.PodIP(ip: ip)], phase: phase)
      )
    )
  }

  static func node(_ name: String, labels: [String: String]? = nil) -> KubeObject {
    .node(Node(metadata: ObjectMeta(name: name, labels: labels)))
  }

  /// `reviews` in `default`: port 9080 (http) → slice port 9080, with the given ready addresses.
  static func simpleService(
    name: String = "reviews",
    clusterIP: String = "10.0.0.1",
    addresses: [String],
    ports: [KubeService.Port] = [KubeService.Port(name: "http", port: 9080)],
    slicePorts: [EndpointSlice.Port] = [EndpointSlice.Port(name: "http", port: 9080)]
  ) -> [KubeObject] {
    [
      service(name, clusterIP: clusterIP, ports: ports),
      slice("\(name)-abc", service: name, ports: slicePorts, endpoints: addresses.map { endpoint($0) }),
    ]
  }

  static func objects(_ list: [KubeObject]...) -> ClusterObjects {
    ClusterObjects(list.joined())
  }

  static func build(_ objects: [KubeObject], cluster: ClusterID = "c1") -> ClusterView {
    ClusterRegistry.build(cluster: cluster, objects: ClusterObjects(objects), options: .defaults)
  }
}

// MARK: - Networks and Istio config

extension Fx {
  /// A Service in `namespace` declaring a network gateway (label `topology.istio.io/network`, when `network` is
  /// given), with its load-balancer ingress, external IPs and ports.
  static func gatewayService(
    _ name: String = "istio-eastwestgateway",
    namespace: String = "istio-system",
    network: String? = "network1",
    type: String? = "LoadBalancer",
    ingress: [KubeService.Ingress] = [],
    externalIPs: [String]? = nil,
    ports: [KubeService.Port] = [
      KubeService.Port(name: "status-port", port: 15021, nodePort: 30021),
      KubeService.Port(name: "tls", port: 15443, nodePort: 31443),
    ],
    labels: [String: String] = [:],
    annotations: [String: String]? = nil
  ) -> KubeObject {
    var allLabels = labels
    if let network { allLabels["topology.istio.io/network"] = network }
    return .service(
      KubeService(
        metadata: ObjectMeta(name: name, namespace: namespace, labels: allLabels, annotations: annotations),
        spec: KubeService.Spec(type: type, clusterIP: "10.0.0.99", ports: ports, externalIPs: externalIPs),
        status: ingress.isEmpty ? nil : KubeService.Status(loadBalancer: KubeService.LoadBalancer(ingress: ingress))
      ))
  }

  /// A node with `status.addresses` given as (type, address) pairs.
  static func node(_ name: String, addresses: [(String, String)], labels: [String: String]? = nil) -> KubeObject {
    .node(
      Node(
        metadata: ObjectMeta(name: name, labels: labels),
        status: Node.Status(addresses: addresses.map { Node.Address(type: $0.0, address: $0.1) })))
  }

  /// The objects of a YAML manifest, decoded as the file source decodes them.
  static func manifest(_ yaml: String, path: String = "manifest.yaml") throws -> [KubeObject] {
    try ObjectDecoder().decode(yaml, path: path).objects
  }

  static func build(_ objects: [KubeObject], cluster: ClusterID = "c1", options: RegistryOptions) -> ClusterView {
    ClusterRegistry.build(cluster: cluster, objects: ClusterObjects(objects), options: options)
  }
}
