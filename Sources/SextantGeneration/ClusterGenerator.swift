import EnvoyAPI
import SextantRegistry
import SwiftProtobuf

/// Generates a proxy's clusters (CDS): one EDS cluster per service port, istiod's fixed clusters, and for a sidecar
/// one `inbound|PORT||` cluster per port of the proxy's own workload (plus `InboundPassthroughCluster` with
/// capture); for a gateway, one SNI cluster `outbound_.PORT_._.HOST` per service port its AUTO_PASSTHROUGH servers
/// serve (`GatewayPlan`).
///
/// Outbound clusters use auto mTLS: endpoints marked `tlsMode: istio` are reached with ISTIO_MUTUAL (SAN match on
/// the service's service accounts in the mesh trust domain), the others in plaintext. A proxy whose stream gets no
/// certificate (`view.mutualTLS` false: the plaintext port) gets plaintext clusters, as it could not present one. A pure function of the
/// snapshot's services, the proxy's node type, its inbound plan and the mesh config (fixed for the process): the
/// cache key is `(servicesVersion, view.type, interceptionMode, inbound, mutualTLS, gateway plan)`.
package enum ClusterGenerator {
  /// Circuit-breaker limits istiod sets: effectively unlimited, with remaining capacity tracked.
  package static let unlimited: UInt32 = 4_294_967_295

  package static func generate(
    snapshot: MeshSnapshot,
    view: ProxyView,
    inbound: InboundPlan = .none,
    gateway: GatewayPlan = .none,
    mesh: MeshConfig = .defaults
  ) throws(XDSError) -> [Envoy_Config_Cluster_V3_Cluster] {
    let timeout = EnvoyBuild.duration(mesh.connectTimeout)
    var clusters: [Envoy_Config_Cluster_V3_Cluster] = []
    for hostname in snapshot.sortedHostnames {
      guard let service = snapshot.services[hostname] else { continue }
      for port in service.ports {
        clusters.append(
          try outbound(
            service: service, port: port, connectTimeout: timeout,
            trustDomain: view.mutualTLS ? mesh.trustDomain : nil))
      }
    }
    for hostname in snapshot.sortedHostnames {
      guard let service = snapshot.services[hostname], gateway.autoPassthroughServes(service) else { continue }
      for port in service.ports where port.protocol != .udp {
        clusters.append(sniCluster(service: service, port: port, connectTimeout: timeout))
      }
    }
    let captured = view.type == .sidecar && view.interceptionMode != .none
    for port in inbound.ports {
      clusters.append(
        captured
          ? inboundOriginalDestination(name: ResourceNames.inboundCluster(port: port.port), connectTimeout: timeout)
          : inboundCluster(port: port.port, connectTimeout: timeout))
    }
    if captured {
      clusters.append(
        inboundOriginalDestination(name: ResourceNames.inboundPassthroughCluster, connectTimeout: timeout))
    }
    clusters.append(passthrough(connectTimeout: timeout))
    clusters.append(blackHole(connectTimeout: timeout))
    return clusters
  }

  /// `outbound|PORT||HOST`: EDS over ADS, LEAST_REQUEST, 10 s connect timeout, HTTP/2 for grpc and http2 ports,
  /// auto mTLS in `trustDomain` (nil: plaintext to every endpoint, for streams that get no certificate).
  static func outbound(
    service: MeshService,
    port: MeshPort,
    connectTimeout: Google_Protobuf_Duration,
    trustDomain: String?
  ) throws(XDSError) -> Envoy_Config_Cluster_V3_Cluster {
    var cluster = edsCluster(
      name: ResourceNames.outboundCluster(port: port.port, host: service.hostname), connectTimeout: connectTimeout)
    if port.protocol.isHTTP2 {
      cluster.typedExtensionProtocolOptions[httpProtocolOptionsName] = try EnvoyBuild.any(http2Options())
    }
    var istio = Google_Protobuf_Struct()
    istio.fields["services"] = Google_Protobuf_Value(
      listValue: Google_Protobuf_ListValue(values: [
        Google_Protobuf_Value(
          structValue: EnvoyBuild.structValue([
            "host": service.hostname, "name": service.name, "namespace": service.namespace,
          ])
        )
      ])
    )
    istio.fields["default_original_port"] = Google_Protobuf_Value(numberValue: Double(port.port))
    cluster.metadata.filterMetadata["istio"] = istio
    guard let trustDomain else { return cluster }
    cluster.transportSocketMatches = try MutualTLS.transportSocketMatches(
      sni: ResourceNames.outboundSNI(port: port.port, host: service.hostname),
      subjectAltNames: service.serviceAccounts.map {
        "spiffe://\(trustDomain)/ns/\(service.namespace)/sa/\($0)"
      },
      http2: port.protocol.isHTTP2
    )
    return cluster
  }

  /// `outbound_.PORT_._.HOST` on a gateway with AUTO_PASSTHROUGH: EDS over ADS with the service's endpoints on the
  /// gateway's network, no transport socket (the client's mTLS passes through to the endpoint's sidecar).
  static func sniCluster(service: MeshService, port: MeshPort, connectTimeout: Google_Protobuf_Duration)
    -> Envoy_Config_Cluster_V3_Cluster
  {
    edsCluster(name: ResourceNames.outboundSNI(port: port.port, host: service.hostname), connectTimeout: connectTimeout)
  }

  /// An EDS cluster over ADS whose assignment is named like the cluster: LEAST_REQUEST, unlimited circuit breakers.
  static func edsCluster(name: String, connectTimeout: Google_Protobuf_Duration) -> Envoy_Config_Cluster_V3_Cluster {
    var cluster = Envoy_Config_Cluster_V3_Cluster()
    cluster.name = name
    cluster.type = .eds
    var eds = Envoy_Config_Cluster_V3_Cluster.EdsClusterConfig()
    eds.edsConfig = EnvoyBuild.ads
    eds.serviceName = name
    cluster.edsClusterConfig = eds
    cluster.connectTimeout = connectTimeout
    cluster.lbPolicy = .leastRequest
    cluster.circuitBreakers = circuitBreakers()
    return cluster
  }

  /// `inbound|PORT||`: STATIC, the local app at 127.0.0.1:PORT (the workload listens on loopback; its sidecar binds
  /// the workload address).
  static func inboundCluster(port: Int, connectTimeout: Google_Protobuf_Duration) -> Envoy_Config_Cluster_V3_Cluster {
    let name = ResourceNames.inboundCluster(port: port)
    var cluster = Envoy_Config_Cluster_V3_Cluster()
    cluster.name = name
    cluster.type = .static
    cluster.connectTimeout = connectTimeout
    cluster.circuitBreakers = circuitBreakers()
    var endpoint = Envoy_Config_Endpoint_V3_Endpoint()
    endpoint.address = EnvoyBuild.address(ResourceNames.inboundAppAddress, port)
    var lbEndpoint = Envoy_Config_Endpoint_V3_LbEndpoint()
    lbEndpoint.endpoint = endpoint
    var group = Envoy_Config_Endpoint_V3_LocalityLbEndpoints()
    group.lbEndpoints = [lbEndpoint]
    var assignment = Envoy_Config_Endpoint_V3_ClusterLoadAssignment()
    assignment.clusterName = name
    assignment.endpoints = [group]
    cluster.loadAssignment = assignment
    return cluster
  }

  /// The extension name Envoy keys upstream HTTP protocol options by.
  static let httpProtocolOptionsName = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"

  static func http2Options() -> Envoy_Extensions_Upstreams_Http_V3_HttpProtocolOptions {
    var explicit = Envoy_Extensions_Upstreams_Http_V3_HttpProtocolOptions.ExplicitHttpConfig()
    explicit.http2ProtocolOptions = Envoy_Config_Core_V3_Http2ProtocolOptions()
    var options = Envoy_Extensions_Upstreams_Http_V3_HttpProtocolOptions()
    options.explicitHTTPConfig = explicit
    return options
  }

  static func circuitBreakers() -> Envoy_Config_Cluster_V3_CircuitBreakers {
    var thresholds = Envoy_Config_Cluster_V3_CircuitBreakers.Thresholds()
    thresholds.maxConnections = Google_Protobuf_UInt32Value(unlimited)
    thresholds.maxPendingRequests = Google_Protobuf_UInt32Value(unlimited)
    thresholds.maxRequests = Google_Protobuf_UInt32Value(unlimited)
    thresholds.maxRetries = Google_Protobuf_UInt32Value(unlimited)
    thresholds.trackRemaining = true
    var breakers = Envoy_Config_Cluster_V3_CircuitBreakers()
    breakers.thresholds = [thresholds]
    return breakers
  }

  /// With traffic capture, inbound clusters (`inbound|PORT||`, `InboundPassthroughCluster`) connect to the captured
  /// connection's original destination (the workload's own address) from 127.0.0.6, which Istio's iptables rules do
  /// not capture again.
  static func inboundOriginalDestination(name: String, connectTimeout: Google_Protobuf_Duration)
    -> Envoy_Config_Cluster_V3_Cluster
  {
    var cluster = Envoy_Config_Cluster_V3_Cluster()
    cluster.name = name
    cluster.type = .originalDst
    cluster.lbPolicy = .clusterProvided
    cluster.connectTimeout = connectTimeout
    cluster.circuitBreakers = circuitBreakers()
    var source = Envoy_Config_Core_V3_SocketAddress()
    source.address = ResourceNames.inboundPassthroughBindAddress
    source.portValue = 0
    var bind = Envoy_Config_Core_V3_BindConfig()
    bind.sourceAddress = source
    cluster.upstreamBindConfig = bind
    return cluster
  }

  /// `PassthroughCluster`: ORIGINAL_DST, for traffic to destinations outside the registry.
  static func passthrough(connectTimeout: Google_Protobuf_Duration) -> Envoy_Config_Cluster_V3_Cluster {
    var cluster = Envoy_Config_Cluster_V3_Cluster()
    cluster.name = ResourceNames.passthroughCluster
    cluster.type = .originalDst
    cluster.lbPolicy = .clusterProvided
    cluster.connectTimeout = connectTimeout
    cluster.circuitBreakers = circuitBreakers()
    return cluster
  }

  /// `BlackHoleCluster`: STATIC with no endpoints.
  static func blackHole(connectTimeout: Google_Protobuf_Duration) -> Envoy_Config_Cluster_V3_Cluster {
    var cluster = Envoy_Config_Cluster_V3_Cluster()
    cluster.name = ResourceNames.blackHoleCluster
    cluster.type = .static
    cluster.connectTimeout = connectTimeout
    return cluster
  }
}
