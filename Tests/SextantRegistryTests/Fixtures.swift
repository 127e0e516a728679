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
    ports: [Service.Port] = [Service.Port(name: "http", port: 80)],
    labels: [String: String]? = nil,
    externalName: String? = nil
  ) -> KubeObject {
    .service(
      Service(
        metadata: ObjectMeta(name: name, namespace: namespace, labels: labels),
        spec: Service.Spec(type: type, clusterIP: clusterIP, clusterIPs: clusterIPs, ports: ports, externalName: externalName)
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
    ports: [Service.Port] = [Service.Port(name: "http", port: 9080)],
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
