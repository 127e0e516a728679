import SextantKube

/// An object an informer can store: decodable, comparable, with metadata naming it.
package protocol KubeResourceObject: Decodable, Sendable, Hashable {
  /// The object's kind as the API names it (`Service`), for messages about objects left out.
  static var kind: String { get }

  var metadata: ObjectMeta { get set }

  /// The first value the API server's validation would reject (a port outside 1-65535, ...), nil when there is none.
  /// Checked as the object is decoded from a list or a watch event, so such an object is left out alone.
  var validationProblem: ObjectProblem? { get }
}

extension KubeResourceObject {
  /// The informer's key: namespace (empty for cluster-scoped objects) and name.
  package var informerKey: NamespacedName {
    NamespacedName(namespace: metadata.namespace ?? "", name: metadata.name)
  }

  /// No checks beyond the types.
  package var validationProblem: ObjectProblem? { nil }
}

extension Namespace: KubeResourceObject {
  package static let kind = ObjectKind.namespace.rawValue
  package var validationProblem: ObjectProblem? { KubeObject.namespace(self).validationProblem }
}

extension KubeService: KubeResourceObject {
  package static let kind = ObjectKind.service.rawValue
  package var validationProblem: ObjectProblem? { KubeObject.service(self).validationProblem }
}

extension EndpointSlice: KubeResourceObject {
  package static let kind = ObjectKind.endpointSlice.rawValue
  package var validationProblem: ObjectProblem? { KubeObject.endpointSlice(self).validationProblem }
}

extension Endpoints: KubeResourceObject {
  package static let kind = ObjectKind.endpoints.rawValue
  package var validationProblem: ObjectProblem? { KubeObject.endpoints(self).validationProblem }
}

extension Pod: KubeResourceObject {
  package static let kind = ObjectKind.pod.rawValue
  package var validationProblem: ObjectProblem? { KubeObject.pod(self).validationProblem }
}

extension Node: KubeResourceObject {
  package static let kind = ObjectKind.node.rawValue
  package var validationProblem: ObjectProblem? { KubeObject.node(self).validationProblem }
}

extension IstioGateway: KubeResourceObject {
  package static let kind = ObjectKind.gateway.rawValue
  package var validationProblem: ObjectProblem? { KubeObject.gateway(self).validationProblem }
}

extension IstioVirtualService: KubeResourceObject {
  package static let kind = ObjectKind.virtualService.rawValue
  package var validationProblem: ObjectProblem? { KubeObject.virtualService(self).validationProblem }
}
