import SextantKube

/// An object an informer can store: decodable, comparable, with metadata naming it.
package protocol KubeResourceObject: Decodable, Sendable, Hashable {
  var metadata: ObjectMeta { get set }
}

extension KubeResourceObject {
  /// The informer's key: namespace (empty for cluster-scoped objects) and name.
  package var informerKey: NamespacedName {
    NamespacedName(namespace: metadata.namespace ?? "", name: metadata.name)
  }
}

extension Namespace: KubeResourceObject {}
extension KubeService: KubeResourceObject {}
extension EndpointSlice: KubeResourceObject {}
extension Endpoints: KubeResourceObject {}
extension Pod: KubeResourceObject {}
extension Node: KubeResourceObject {}
extension IstioGateway: KubeResourceObject {}
extension IstioVirtualService: KubeResourceObject {}
