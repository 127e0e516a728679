import EnvoyAPI
import SwiftProtobuf

/// Small constructors for the Envoy messages every generator needs, so each generator reads as the config it makes.
package enum EnvoyBuild {
  /// A ConfigSource that says "over the ADS stream you already have", API v3.
  package static var ads: Envoy_Config_Core_V3_ConfigSource {
    var source = Envoy_Config_Core_V3_ConfigSource()
    source.ads = Envoy_Config_Core_V3_AggregatedConfigSource()
    source.resourceApiVersion = .v3
    return source
  }

  /// A TCP socket address; see `portValue(_:)` for a port outside 0-65535.
  package static func address(_ ip: String, _ port: Int) -> Envoy_Config_Core_V3_Address {
    var socket = Envoy_Config_Core_V3_SocketAddress()
    socket.address = ip
    socket.portValue = portValue(port)
    var address = Envoy_Config_Core_V3_Address()
    address.socketAddress = socket
    return address
  }

  /// A port as Envoy's `uint32` port fields take it; one outside 0-65535 becomes 0 instead of trapping.
  ///
  /// Defence in depth: decoding rejects objects with such ports (files and API servers alike), so the registry
  /// never holds one; were one to get through, a port-0 resource is wrong but the process keeps running.
  package static func portValue(_ port: Int) -> UInt32 {
    (0...65535).contains(port) ? UInt32(port) : 0
  }

  /// A `google.protobuf.Duration` of whole and fractional seconds.
  package static func duration(seconds: Int64, nanos: Int32 = 0) -> Google_Protobuf_Duration {
    var duration = Google_Protobuf_Duration()
    duration.seconds = seconds
    duration.nanos = nanos
    return duration
  }

  /// A `google.protobuf.Duration` from a Swift duration.
  package static func duration(_ value: Duration) -> Google_Protobuf_Duration {
    let (seconds, attoseconds) = value.components
    return duration(seconds: seconds, nanos: Int32(attoseconds / 1_000_000_000))
  }

  /// Packs a message into an Any with Envoy's `type.googleapis.com/` prefix.
  package static func any(_ message: some SwiftProtobuf.Message) throws(XDSError) -> Google_Protobuf_Any {
    do {
      // Serialized here, once: `Google_Protobuf_Any(message:)` would keep the message and serialize it again every
      // time the Any is encoded, i.e. for every proxy a cached resource is sent to. Map entries (Struct metadata) are
      // written in key order, so equal messages give equal bytes.
      var options = BinaryEncodingOptions()
      options.useDeterministicOrdering = true
      var any = Google_Protobuf_Any()
      any.typeURL = "type.googleapis.com/" + type(of: message).protoMessageName
      any.value = try message.serializedBytes(options: options)
      return any
    } catch {
      throw XDSError(.generation, "cannot serialize \(type(of: message)): \(error)")
    }
  }

  /// A struct value holding strings, for metadata.
  package static func structValue(_ fields: [String: String]) -> Google_Protobuf_Struct {
    var value = Google_Protobuf_Struct()
    for (key, text) in fields {
      value.fields[key] = Google_Protobuf_Value(stringValue: text)
    }
    return value
  }

  /// A network filter with a typed config.
  package static func networkFilter(_ name: String, _ config: some SwiftProtobuf.Message) throws(XDSError)
    -> Envoy_Config_Listener_V3_Filter
  {
    var filter = Envoy_Config_Listener_V3_Filter()
    filter.name = name
    filter.typedConfig = try any(config)
    return filter
  }

  /// A tcp_proxy filter sending everything to `cluster`.
  package static func tcpProxy(statPrefix: String, cluster: String) throws(XDSError) -> Envoy_Config_Listener_V3_Filter
  {
    var proxy = Envoy_Extensions_Filters_Network_TcpProxy_V3_TcpProxy()
    proxy.statPrefix = statPrefix
    proxy.cluster = cluster
    return try networkFilter("envoy.filters.network.tcp_proxy", proxy)
  }

  /// A cluster and its share of connections in a weighted tcp_proxy.
  package struct WeightedCluster: Sendable, Hashable {
    package var name: String
    package var weight: UInt32
  }

  /// A tcp_proxy that splits connections across `clusters` by weight (Envoy wants at least one, every weight above
  /// 0; the gateway generator passes two or more).
  package static func tcpProxy(statPrefix: String, weighted clusters: [WeightedCluster]) throws(XDSError)
    -> Envoy_Config_Listener_V3_Filter
  {
    var proxy = Envoy_Extensions_Filters_Network_TcpProxy_V3_TcpProxy()
    proxy.statPrefix = statPrefix
    proxy.weightedClusters.clusters = clusters.map { cluster in
      var weight = Envoy_Extensions_Filters_Network_TcpProxy_V3_TcpProxy.WeightedCluster.ClusterWeight()
      weight.name = cluster.name
      weight.weight = cluster.weight
      return weight
    }
    return try networkFilter("envoy.filters.network.tcp_proxy", proxy)
  }
}
