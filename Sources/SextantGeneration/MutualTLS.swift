import EnvoyAPI
import SwiftProtobuf

/// Istio's mutual TLS in Envoy config (ISTIO_MUTUAL): the transport sockets of clusters and inbound filter chains.
///
/// Certificates never appear in CDS or LDS: both sides name the SDS secrets `default` (the proxy's own certificate)
/// and `ROOTCA` (the mesh root), which Sextant serves on the same ADS stream (`SecretGenerator`).
package enum MutualTLS {
  /// The SDS name of a proxy's own workload certificate and key.
  package static let workloadSecret = "default"
  /// The SDS name of the mesh root certificates.
  package static let rootSecret = "ROOTCA"
  /// The ALPN a sidecar offers to mesh peers (Istio's `istio-peer-exchange, istio`).
  package static let alpnInMesh = ["istio-peer-exchange", "istio"]
  /// The ALPN for HTTP/2 ports: `h2` added.
  package static let alpnInMeshHTTP2 = ["istio-peer-exchange", "istio", "h2"]
  /// The transport-socket-match names istiod uses with auto mTLS.
  package static let matchIstio = "tlsMode-istio"
  package static let matchDisabled = "tlsMode-disabled"

  static let tlsSocketName = "envoy.transport_sockets.tls"
  static let rawBufferSocketName = "envoy.transport_sockets.raw_buffer"

  /// An SDS reference resolved over ADS.
  static func sds(_ name: String) -> Envoy_Extensions_TransportSockets_Tls_V3_SdsSecretConfig {
    var config = Envoy_Extensions_TransportSockets_Tls_V3_SdsSecretConfig()
    config.name = name
    config.sdsConfig = EnvoyBuild.ads
    return config
  }

  /// Certificate `default`, validation `ROOTCA` plus, when given, exact URI SAN matches.
  static func commonContext(
    subjectAltNames: [String],
    alpn: [String]
  ) -> Envoy_Extensions_TransportSockets_Tls_V3_CommonTlsContext {
    var validation = Envoy_Extensions_TransportSockets_Tls_V3_CertificateValidationContext()
    validation.matchTypedSubjectAltNames = subjectAltNames.map { san in
      var matcher = Envoy_Type_Matcher_V3_StringMatcher()
      matcher.exact = san
      var typed = Envoy_Extensions_TransportSockets_Tls_V3_SubjectAltNameMatcher()
      typed.sanType = .uri
      typed.matcher = matcher
      return typed
    }
    var combined = Envoy_Extensions_TransportSockets_Tls_V3_CommonTlsContext.CombinedCertificateValidationContext()
    combined.defaultValidationContext = validation
    combined.validationContextSdsSecretConfig = sds(rootSecret)
    var common = Envoy_Extensions_TransportSockets_Tls_V3_CommonTlsContext()
    common.tlsCertificateSdsSecretConfigs = [sds(workloadSecret)]
    common.combinedValidationContext = combined
    common.alpnProtocols = alpn
    return common
  }

  /// The client side: SNI `outbound_.PORT_._.HOST`, SAN match on the service's identities.
  static func upstream(sni: String, subjectAltNames: [String], http2: Bool) throws(XDSError)
    -> Envoy_Config_Core_V3_TransportSocket
  {
    var context = Envoy_Extensions_TransportSockets_Tls_V3_UpstreamTlsContext()
    context.commonTlsContext = commonContext(
      subjectAltNames: subjectAltNames, alpn: http2 ? alpnInMeshHTTP2 : alpnInMesh)
    context.sni = sni
    var socket = Envoy_Config_Core_V3_TransportSocket()
    socket.name = tlsSocketName
    socket.typedConfig = try EnvoyBuild.any(context)
    return socket
  }

  /// The server side of an inbound filter chain: a client certificate chaining to `ROOTCA` is required.
  static func downstream() throws(XDSError) -> Envoy_Config_Core_V3_TransportSocket {
    var context = Envoy_Extensions_TransportSockets_Tls_V3_DownstreamTlsContext()
    context.commonTlsContext = commonContext(subjectAltNames: [], alpn: [])
    context.requireClientCertificate = Google_Protobuf_BoolValue(true)
    var socket = Envoy_Config_Core_V3_TransportSocket()
    socket.name = tlsSocketName
    socket.typedConfig = try EnvoyBuild.any(context)
    return socket
  }

  /// Auto mTLS: endpoints whose metadata says `tlsMode: istio` get mutual TLS, every other endpoint plaintext.
  static func transportSocketMatches(sni: String, subjectAltNames: [String], http2: Bool) throws(XDSError)
    -> [Envoy_Config_Cluster_V3_Cluster.TransportSocketMatch]
  {
    var istio = Envoy_Config_Cluster_V3_Cluster.TransportSocketMatch()
    istio.name = matchIstio
    istio.match = EnvoyBuild.structValue(["tlsMode": "istio"])
    istio.transportSocket = try upstream(sni: sni, subjectAltNames: subjectAltNames, http2: http2)
    var plain = Envoy_Config_Cluster_V3_Cluster.TransportSocketMatch()
    plain.name = matchDisabled
    plain.match = Google_Protobuf_Struct()
    var raw = Envoy_Config_Core_V3_TransportSocket()
    raw.name = rawBufferSocketName
    raw.typedConfig = try EnvoyBuild.any(Envoy_Extensions_TransportSockets_RawBuffer_V3_RawBuffer())
    plain.transportSocket = raw
    return [istio, plain]
  }
}
