import EnvoyAPI
import SextantRegistry
import SwiftProtobuf

/// Generates ClusterLoadAssignments (EDS) from the snapshot's endpoint shards, network-aware.
///
/// - `outbound|PORT||HOST` (every proxy): split horizon by the proxy's NETWORK (see `SplitHorizon`).
/// - `outbound_.PORT_._.HOST` (a gateway's SNI cluster): only the endpoints a gateway may forward to — those on the
///   gateway's own network (or on no network) that accept Istio mTLS, since the client's mTLS passes through.
///
/// A pure function of one hostname's endpoints, the proxy's network and the network topology: the cache key is
/// `(resource name, endpointVersions[HOST], view.network, networksVersion)`. Endpoints are grouped by locality
/// (sorted); a locality's weight is the sum of its endpoints' weights.
package enum EndpointGenerator {
  /// The metadata key Envoy's transport_socket_matches read the endpoint's TLS mode from.
  package static let transportSocketMatchKey = "envoy.transport_socket_match"

  /// The assignment for `clusterName`; a name Sextant does not know gets an assignment with no endpoints, so the
  /// proxy's request is answered and its cluster warms.
  package static func generate(
    snapshot: MeshSnapshot,
    clusterName: String,
    view: ProxyView
  ) -> Envoy_Config_Endpoint_V3_ClusterLoadAssignment {
    var assignment = Envoy_Config_Endpoint_V3_ClusterLoadAssignment()
    assignment.clusterName = clusterName
    if let parsed = ResourceNames.parseOutboundCluster(clusterName), let shards = snapshot.endpoints[parsed.host] {
      let endpoints = shards.endpoints(servicePort: parsed.port)
      let split = SplitHorizon.apply(endpoints, proxyNetwork: view.network, topology: snapshot.networks)
      assignment.endpoints = localityGroups(split)
    } else if let parsed = ResourceNames.parseOutboundSNI(clusterName), let shards = snapshot.endpoints[parsed.host] {
      let local = shards.endpoints(servicePort: parsed.port).filter {
        SplitHorizon.sameNetwork($0.network, view.network) && $0.tlsMode == WellKnownLabels.tlsModeIstio
      }
      assignment.endpoints = localityGroups(local)
    }
    return assignment
  }

  /// Groups endpoints by locality, sorted by locality, endpoints sorted within each.
  static func localityGroups(_ endpoints: [MeshEndpoint]) -> [Envoy_Config_Endpoint_V3_LocalityLbEndpoints] {
    let byLocality = Dictionary(grouping: endpoints, by: \.locality)
    return byLocality.keys.sorted().map { locality in
      let members = byLocality[locality]!.sorted()
      var group = Envoy_Config_Endpoint_V3_LocalityLbEndpoints()
      var envoyLocality = Envoy_Config_Core_V3_Locality()
      envoyLocality.region = locality.region
      envoyLocality.zone = locality.zone
      envoyLocality.subZone = locality.subzone
      group.locality = envoyLocality
      group.lbEndpoints = members.map(lbEndpoint)
      let total = members.reduce(UInt64(0)) { $0 + UInt64($1.weight) }
      group.loadBalancingWeight = Google_Protobuf_UInt32Value(UInt32(clamping: total))
      return group
    }
  }

  static func lbEndpoint(_ endpoint: MeshEndpoint) -> Envoy_Config_Endpoint_V3_LbEndpoint {
    var inner = Envoy_Config_Endpoint_V3_Endpoint()
    inner.address = EnvoyBuild.address(endpoint.address, endpoint.port)
    var lb = Envoy_Config_Endpoint_V3_LbEndpoint()
    lb.endpoint = inner
    lb.healthStatus = endpoint.health == .healthy ? .healthy : .unhealthy
    lb.loadBalancingWeight = Google_Protobuf_UInt32Value(endpoint.weight)
    var metadata = Envoy_Config_Core_V3_Metadata()
    if endpoint.tlsMode == WellKnownLabels.tlsModeIstio {
      metadata.filterMetadata[transportSocketMatchKey] = EnvoyBuild.structValue(["tlsMode": "istio"])
    }
    var istio: [String: String] = [:]
    if !endpoint.workload.isEmpty { istio["workload"] = endpoint.workload }
    if !endpoint.cluster.isEmpty { istio["cluster"] = endpoint.cluster }
    if !endpoint.network.isEmpty { istio["network"] = endpoint.network }
    if !istio.isEmpty { metadata.filterMetadata["istio"] = EnvoyBuild.structValue(istio) }
    if !metadata.filterMetadata.isEmpty { lb.metadata = metadata }
    return lb
  }
}
