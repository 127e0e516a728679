import SextantKube

/// Which endpoint port serves a service port, as Kubernetes decides it.
///
/// The endpoints controller names each EndpointSlice/Endpoints port after the Service port it serves, so a service
/// port is served by the endpoint port of the same name; a missing name is the empty name (a Service's single unnamed
/// port matches the unnamed endpoint port). When the endpoint object lists no ports at all, the Service's
/// `targetPort` is used if it is a number (a missing `targetPort` defaults to the port itself, as the API server
/// defaults it); a named `targetPort` cannot be resolved without ports and gives nil.
enum PortResolution {
  /// A port of an EndpointSlice or Endpoints subset, reduced to what resolution needs.
  struct EndpointPort: Hashable {
    var name: String
    var port: Int?
  }

  /// The endpoint port number for `servicePort`, or nil when the endpoint object does not serve it.
  static func targetPort(for servicePort: KubeService.Port, in endpointPorts: [EndpointPort]) -> Int? {
    if endpointPorts.isEmpty {
      switch servicePort.targetPort {
      case .int(let number): return number
      case nil: return servicePort.port
      case .string: return nil
      }
    }
    let name = servicePort.name ?? ""
    return endpointPorts.first { $0.name == name }?.port
  }

  static func ports(of slice: EndpointSlice) -> [EndpointPort] {
    (slice.ports ?? []).map { EndpointPort(name: $0.name ?? "", port: $0.port) }
  }

  static func ports(of subset: Endpoints.Subset) -> [EndpointPort] {
    (subset.ports ?? []).map { EndpointPort(name: $0.name ?? "", port: $0.port) }
  }
}
