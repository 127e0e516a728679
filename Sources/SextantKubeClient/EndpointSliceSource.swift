import Logging
import SextantKube

/// EndpointSlices in whichever version the server serves: discovery.k8s.io/v1 (Kubernetes 1.21 and later), else
/// v1beta1 (1.17-1.24; the only one 1.20 serves), through a `VersionedResourceSource`.
///
/// The version is looked up before every list, so a server upgraded under a running control plane is followed at
/// the next relist. When neither is served (Kubernetes before 1.17) the collection stays empty, with a warning:
/// only Endpoints are used. v1beta1 objects decode into the same `EndpointSlice` model; `converted` fills `zone` and
/// `nodeName` from v1beta1's `topology`.
package enum EndpointSliceSource {
  /// The versions tried, preferred first.
  package static let candidates: [KubeResource] = [.endpointSlicesV1, .endpointSlicesV1beta1]

  /// The list-watch source of a cluster's EndpointSlices.
  package static func make(client: KubeClient, clusterID: String, logger: Logger) -> VersionedResourceSource<
    EndpointSlice
  > {
    VersionedResourceSource(
      client: client, clusterID: clusterID, name: "EndpointSlices", candidates: candidates,
      notServedLevel: .warning, notServedConsequence: "only Endpoints are used", logger: logger)
  }

  /// A slice as v1 reads it: endpoint `zone` and `nodeName` taken from v1beta1's `topology` when not set (as the
  /// API server converts them). A no-op for v1 slices, which have no `topology`.
  package static func converted(_ slice: EndpointSlice) -> EndpointSlice {
    guard var endpoints = slice.endpoints, endpoints.contains(where: { $0.topology != nil }) else { return slice }
    var slice = slice
    for index in endpoints.indices {
      guard let topology = endpoints[index].topology else { continue }
      if endpoints[index].zone == nil { endpoints[index].zone = topology["topology.kubernetes.io/zone"] }
      if endpoints[index].nodeName == nil { endpoints[index].nodeName = topology["kubernetes.io/hostname"] }
    }
    slice.endpoints = endpoints
    return slice
  }
}
