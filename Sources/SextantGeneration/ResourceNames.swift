/// istiod's names for generated resources, so dashboards and habits carry over.
package enum ResourceNames {
  /// Envoy's cluster for traffic that should go where it was going (ORIGINAL_DST).
  package static let passthroughCluster = "PassthroughCluster"
  /// A cluster with no endpoints: traffic sent to it fails.
  package static let blackHoleCluster = "BlackHoleCluster"
  /// The catch-all listener that receives captured outbound traffic on 15001.
  package static let virtualOutbound = "virtualOutbound"
  /// The port of `virtualOutbound`.
  package static let virtualOutboundPort = 15001

  /// `outbound|PORT|SUBSET|HOST`, the name of the cluster for one service port.
  package static func outboundCluster(port: Int, host: String, subset: String = "") -> String {
    "outbound|\(port)|\(subset)|\(host)"
  }

  /// `outbound_.PORT_.SUBSET_.HOST`, the SNI (and gateway cluster name) for one service port.
  package static func outboundSNI(port: Int, host: String, subset: String = "") -> String {
    "outbound_.\(port)_.\(subset)_.\(host)"
  }

  /// The parts of an `outbound|PORT|SUBSET|HOST` name, or nil when `name` is not one.
  package static func parseOutboundCluster(_ name: String) -> (port: Int, subset: String, host: String)? {
    let parts = name.split(separator: "|", omittingEmptySubsequences: false)
    guard parts.count == 4, parts[0] == "outbound", let port = Int(parts[1]), (1...65535).contains(port),
      !parts[3].isEmpty
    else { return nil }
    return (port, String(parts[2]), String(parts[3]))
  }

  /// The parts of an `outbound_.PORT_.SUBSET_.HOST` name (a gateway's SNI cluster), or nil when `name` is not one.
  package static func parseOutboundSNI(_ name: String) -> (port: Int, subset: String, host: String)? {
    guard name.hasPrefix("outbound_.") else { return nil }
    var rest = name.dropFirst("outbound_.".count)
    var fields: [Substring] = []
    for _ in 0..<2 {
      guard let range = rest.range(of: "_.") else { return nil }
      fields.append(rest[..<range.lowerBound])
      rest = rest[range.upperBound...]
    }
    guard let port = Int(fields[0]), (1...65535).contains(port), !rest.isEmpty else { return nil }
    return (port, String(fields[1]), String(rest))
  }

  /// The service hostname an EDS resource name is about: `outbound|PORT||HOST` or `outbound_.PORT_._.HOST`.
  package static func endpointHost(_ name: String) -> String? {
    parseOutboundCluster(name)?.host ?? parseOutboundSNI(name)?.host
  }

  /// `inbound|PORT||`, the cluster that delivers inbound traffic on `port` to the local app.
  package static func inboundCluster(port: Int) -> String { "inbound|\(port)||" }

  /// Where a sidecar's workload listens for traffic its sidecar delivers without traffic capture (NONE).
  package static let inboundAppAddress = "127.0.0.1"
  /// With traffic capture, inbound traffic is captured here (`virtualInbound`).
  package static let virtualInbound = "virtualInbound"
  package static let virtualInboundPort = 15006
  /// The cluster for captured inbound traffic to ports the workload does not serve in the mesh (ORIGINAL_DST).
  package static let inboundPassthroughCluster = "InboundPassthroughCluster"
  /// The source address of a captured sidecar's connections to its own workload: Istio's iptables rules let traffic
  /// from it through instead of capturing it again.
  package static let inboundPassthroughBindAddress = "127.0.0.6"

  /// The RDS route name a sidecar's outbound HTTP listener on `port` uses: the port number.
  package static func routeName(port: Int) -> String { String(port) }

  /// `ADDRESS_PORT`: how istiod names listeners by what they bind or match.
  package static func listenerName(address: String, port: Int) -> String { "\(address)_\(port)" }
}
