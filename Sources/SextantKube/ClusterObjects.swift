/// The kinds of Kubernetes object Sextant watches.
package enum ObjectKind: String, Sendable, Hashable, CaseIterable, Comparable {
  case namespace = "Namespace"
  case service = "Service"
  case endpointSlice = "EndpointSlice"
  case endpoints = "Endpoints"
  case pod = "Pod"
  case node = "Node"
  /// networking.istio.io Gateway (read from the primary cluster and file-backed clusters only).
  case gateway = "Gateway"
  /// networking.istio.io VirtualService (read from the primary cluster and file-backed clusters only).
  case virtualService = "VirtualService"

  /// The kinds every cluster source watches: the service registry's inputs.
  package static let registryKinds: [ObjectKind] = [.namespace, .service, .endpointSlice, .endpoints, .pod, .node]
  /// The Istio configuration kinds, watched only where mesh config is read.
  package static let istioConfigKinds: [ObjectKind] = [.gateway, .virtualService]

  package static func < (lhs: ObjectKind, rhs: ObjectKind) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// Identifies one object in one cluster: kind, namespace (empty for cluster-scoped kinds) and name.
package struct ObjectKey: Sendable, Hashable, Comparable, CustomStringConvertible {
  package var kind: ObjectKind
  package var namespace: String
  package var name: String

  package init(kind: ObjectKind, namespace: String, name: String) {
    self.kind = kind
    self.namespace = namespace
    self.name = name
  }

  package static func < (lhs: ObjectKey, rhs: ObjectKey) -> Bool {
    (lhs.kind, lhs.namespace, lhs.name) < (rhs.kind, rhs.namespace, rhs.name)
  }

  package var description: String {
    namespace.isEmpty ? "\(kind.rawValue)/\(name)" : "\(kind.rawValue)/\(namespace)/\(name)"
  }
}

/// One decoded object of a watched kind.
package enum KubeObject: Sendable, Hashable {
  case namespace(Namespace)
  case service(KubeService)
  case endpointSlice(EndpointSlice)
  case endpoints(Endpoints)
  case pod(Pod)
  case node(Node)
  case gateway(IstioGateway)
  case virtualService(IstioVirtualService)

  /// The object's key; namespaced kinds without a namespace are placed in `default`, as the API server does.
  package var key: ObjectKey {
    switch self {
    case .namespace(let o): ObjectKey(kind: .namespace, namespace: "", name: o.metadata.name)
    case .service(let o): ObjectKey(kind: .service, namespace: o.metadata.namespace ?? "default", name: o.metadata.name)
    case .endpointSlice(let o):
      ObjectKey(kind: .endpointSlice, namespace: o.metadata.namespace ?? "default", name: o.metadata.name)
    case .endpoints(let o):
      ObjectKey(kind: .endpoints, namespace: o.metadata.namespace ?? "default", name: o.metadata.name)
    case .pod(let o): ObjectKey(kind: .pod, namespace: o.metadata.namespace ?? "default", name: o.metadata.name)
    case .node(let o): ObjectKey(kind: .node, namespace: "", name: o.metadata.name)
    case .gateway(let o): ObjectKey(kind: .gateway, namespace: o.metadata.namespace ?? "default", name: o.metadata.name)
    case .virtualService(let o):
      ObjectKey(kind: .virtualService, namespace: o.metadata.namespace ?? "default", name: o.metadata.name)
    }
  }
}

/// Everything one cluster's source currently holds: the input of that cluster's registry.
///
/// A value type: a source builds a new one (cheaply, by copy-on-write) for every change and hands it over whole, so
/// the registry never sees a half-applied update.
package struct ClusterObjects: Sendable, Hashable {
  package var namespaces: [String: Namespace] = [:]
  package var services: [NamespacedName: KubeService] = [:]
  package var endpointSlices: [NamespacedName: EndpointSlice] = [:]
  package var endpoints: [NamespacedName: Endpoints] = [:]
  package var pods: [NamespacedName: Pod] = [:]
  package var nodes: [String: Node] = [:]
  package var gateways: [NamespacedName: IstioGateway] = [:]
  package var virtualServices: [NamespacedName: IstioVirtualService] = [:]

  package init() {}

  /// Builds the state holding exactly `objects`; a later object with the same key replaces an earlier one.
  package init(_ objects: some Sequence<KubeObject>) {
    for object in objects { upsert(object) }
  }

  /// Inserts or replaces an object.
  package mutating func upsert(_ object: KubeObject) {
    switch object {
    case .namespace(let o): namespaces[o.metadata.name] = o
    case .service(let o): services[NamespacedName(o.metadata)] = o
    case .endpointSlice(let o): endpointSlices[NamespacedName(o.metadata)] = o
    case .endpoints(let o): endpoints[NamespacedName(o.metadata)] = o
    case .pod(let o): pods[NamespacedName(o.metadata)] = o
    case .node(let o): nodes[o.metadata.name] = o
    case .gateway(let o): gateways[NamespacedName(o.metadata)] = o
    case .virtualService(let o): virtualServices[NamespacedName(o.metadata)] = o
    }
  }

  /// Removes the object with `key`, if present.
  package mutating func remove(_ key: ObjectKey) {
    let name = NamespacedName(namespace: key.namespace, name: key.name)
    switch key.kind {
    case .namespace: namespaces[key.name] = nil
    case .service: services[name] = nil
    case .endpointSlice: endpointSlices[name] = nil
    case .endpoints: endpoints[name] = nil
    case .pod: pods[name] = nil
    case .node: nodes[key.name] = nil
    case .gateway: gateways[name] = nil
    case .virtualService: virtualServices[name] = nil
    }
  }

  /// The number of objects held, of every kind.
  package var count: Int {
    namespaces.count + services.count + endpointSlices.count + endpoints.count + pods.count + nodes.count
      + gateways.count + virtualServices.count
  }
}

/// A namespace and a name: how namespaced objects are keyed.
package struct NamespacedName: Sendable, Hashable, Comparable, CustomStringConvertible {
  package var namespace: String
  package var name: String

  package init(namespace: String, name: String) {
    self.namespace = namespace
    self.name = name
  }

  /// The key of an object's metadata; a missing namespace is `default`, as the API server treats it.
  package init(_ metadata: ObjectMeta) {
    self.init(namespace: metadata.namespace ?? "default", name: metadata.name)
  }

  package static func < (lhs: NamespacedName, rhs: NamespacedName) -> Bool {
    (lhs.namespace, lhs.name) < (rhs.namespace, rhs.name)
  }

  package var description: String { "\(namespace)/\(name)" }
}

/// What a cluster source reports to its registry.
package enum ClusterSourceEvent: Sendable, Hashable {
  /// The complete current state of the cluster replaced the previous one.
  case state(ClusterObjects)
  /// The initial load finished (sent once, after the first `state`).
  case synced
  /// The cluster is gone (its directory was deleted, its secret removed): drop everything it contributed. A cluster
  /// that comes back starts again with `state` then `synced`.
  case removed
}

/// One event of one cluster, as a multi-cluster source reports it.
package struct ClusterSourceUpdate: Sendable, Hashable, CustomStringConvertible {
  /// The cluster the event is about (its ID: the directory name for `FileClusterSource`).
  package var clusterID: String
  package var event: ClusterSourceEvent

  package init(clusterID: String, event: ClusterSourceEvent) {
    self.clusterID = clusterID
    self.event = event
  }

  package var description: String {
    switch event {
    case .state(let objects): "\(clusterID): state (\(objects.count) objects)"
    case .synced: "\(clusterID): synced"
    case .removed: "\(clusterID): removed"
    }
  }
}
