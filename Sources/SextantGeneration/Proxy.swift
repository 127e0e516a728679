import EnvoyAPI
import Foundation
import SextantBase
import SwiftProtobuf

/// The kind of proxy a node id names: a sidecar next to a workload, or a router (a gateway).
package enum NodeType: String, Sendable, Hashable {
  case sidecar
  case router
}

/// How a sidecar's traffic reaches it; `none` means no capture, so listeners bind real addresses.
package enum InterceptionMode: String, Sendable, Hashable {
  case redirect = "REDIRECT"
  case tproxy = "TPROXY"
  case none = "NONE"
}

/// A connected proxy as identified by its node id and node metadata (istiod's conventions).
///
/// Built once from the first request of a stream; only that request is guaranteed to carry the node.
package struct Proxy: Sendable, Hashable {
  /// The full node id as sent.
  package var nodeID: String
  package var type: NodeType
  /// The proxy's IP address from the node id.
  package var ipAddress: String
  /// `POD.NAMESPACE` from the node id.
  package var id: String
  /// The proxy's namespace: metadata NAMESPACE, else the part after the first dot of the id.
  package var namespace: String
  /// `NAMESPACE.svc.DOMAIN` from the node id.
  package var dnsDomain: String
  /// CLUSTER_ID: the cluster the proxy runs in (empty when not sent).
  package var clusterID: String
  /// NETWORK: the network the proxy is on (empty is the default network).
  package var network: String
  /// LABELS: the workload's labels.
  package var labels: [String: String]
  package var interceptionMode: InterceptionMode
  package var istioVersion: String
  /// INSTANCE_IPS, else the node id's IP.
  package var instanceIPs: [String]
  /// SERVICE_ACCOUNT: the workload's service account as the node claims it (empty when not sent).
  package var serviceAccount: String

  package init(
    nodeID: String,
    type: NodeType,
    ipAddress: String,
    id: String,
    namespace: String,
    dnsDomain: String,
    clusterID: String = "",
    network: String = "",
    labels: [String: String] = [:],
    interceptionMode: InterceptionMode = .redirect,
    istioVersion: String = "",
    instanceIPs: [String] = [],
    serviceAccount: String = ""
  ) {
    self.serviceAccount = serviceAccount
    self.nodeID = nodeID
    self.type = type
    self.ipAddress = ipAddress
    self.id = id
    self.namespace = namespace
    self.dnsDomain = dnsDomain
    self.clusterID = clusterID
    self.network = network
    self.labels = labels
    self.interceptionMode = interceptionMode
    self.istioVersion = istioVersion
    self.instanceIPs = instanceIPs.isEmpty ? [ipAddress] : instanceIPs
  }

  /// What generators may read of this proxy; anything else about the proxy must not change generated config.
  ///
  /// `mutualTLS` and `serviceAccount` come from the stream, not the node: see `AdsSessionState.view(of:)`.
  package var view: ProxyView {
    ProxyView(
      type: type,
      namespace: namespace,
      interceptionMode: interceptionMode,
      network: network,
      ipAddress: ipAddress,
      instanceIPs: instanceIPs,
      clusterID: clusterID,
      labels: labels
    )
  }
}

/// The inputs of a proxy that config generation reads. Cache keys are built from these fields (or from what is
/// derived from them, such as the `InboundPlan`).
package struct ProxyView: Sendable, Hashable {
  package var type: NodeType
  package var namespace: String
  package var interceptionMode: InterceptionMode
  package var network: String
  /// The node id's IP: what listeners bind without traffic capture.
  package var ipAddress: String
  /// The proxy's workload addresses (INSTANCE_IPS, else the node id's IP): where its inbound endpoints are found.
  package var instanceIPs: [String]
  /// CLUSTER_ID; when set, only endpoints of that cluster count as the proxy's own.
  package var clusterID: String
  /// Whether the stream can get the SDS `default` certificate (authenticated on the secure port): only then do
  /// clusters and inbound listeners use mutual TLS. The stream sets it; a node cannot claim it.
  package var mutualTLS: Bool
  /// The authenticated caller's service account; when set, only the caller's own endpoints count as inbound.
  package var serviceAccount: String?
  /// LABELS: for routers, which Gateways select the proxy (read only through `GatewayPlan`).
  package var labels: [String: String]

  package init(
    type: NodeType,
    namespace: String,
    interceptionMode: InterceptionMode = .redirect,
    network: String = "",
    ipAddress: String = "127.0.0.1",
    instanceIPs: [String] = [],
    clusterID: String = "",
    mutualTLS: Bool = true,
    serviceAccount: String? = nil,
    labels: [String: String] = [:]
  ) {
    self.labels = labels
    self.mutualTLS = mutualTLS
    self.serviceAccount = serviceAccount
    self.type = type
    self.namespace = namespace
    self.interceptionMode = interceptionMode
    self.network = network
    self.ipAddress = ipAddress
    self.instanceIPs = instanceIPs.isEmpty ? [ipAddress] : instanceIPs
    self.clusterID = clusterID
  }
}

extension Proxy {
  /// Parses a node into a proxy.
  ///
  /// Throws ``XDSError`` with code `invalidNodeID` when the id is not `TYPE~IP~POD.NAMESPACE~NAMESPACE.svc.DOMAIN`
  /// (exactly four `~`-separated parts, TYPE `sidecar` or `router`, IP a valid address), and `invalidNodeMetadata`
  /// when a known metadata key has the wrong type.
  package init(node: Envoy_Config_Core_V3_Node) throws(XDSError) {
    let nodeID = node.id
    let parts = nodeID.split(separator: "~", omittingEmptySubsequences: false).map(String.init)
    guard parts.count == 4 else {
      throw XDSError(
        .invalidNodeID,
        "node id must have 4 parts separated by '~' (TYPE~IP~POD.NAMESPACE~NAMESPACE.svc.DOMAIN), found \(parts.count)",
        context: "node id '\(nodeID)'"
      )
    }
    guard let type = NodeType(rawValue: parts[0]) else {
      throw XDSError(
        .invalidNodeID,
        "node type '\(parts[0])' is not one of sidecar, router",
        context: "node id '\(nodeID)'"
      )
    }
    guard IPAddress(parts[1]) != nil else {
      throw XDSError(.invalidNodeID, "'\(parts[1])' is not an IP address", context: "node id '\(nodeID)'")
    }
    guard !parts[2].isEmpty else {
      throw XDSError(.invalidNodeID, "the POD.NAMESPACE part is empty", context: "node id '\(nodeID)'")
    }

    let metadata = node.metadata.fields
    func string(_ key: String) throws(XDSError) -> String {
      guard let value = metadata[key] else { return "" }
      switch value.kind {
      case .stringValue(let s): return s
      case .nullValue, .none: return ""
      default:
        throw XDSError(.invalidNodeMetadata, "metadata \(key) must be a string", context: "node id '\(nodeID)'")
      }
    }

    var labels: [String: String] = [:]
    if let value = metadata["LABELS"] {
      guard case .structValue(let s) = value.kind else {
        throw XDSError(.invalidNodeMetadata, "metadata LABELS must be a map of strings", context: "node id '\(nodeID)'")
      }
      for (key, labelValue) in s.fields {
        guard case .stringValue(let text) = labelValue.kind else {
          throw XDSError(
            .invalidNodeMetadata,
            "metadata LABELS.\(key) must be a string",
            context: "node id '\(nodeID)'"
          )
        }
        labels[key] = text
      }
    }

    let modeText = try string("INTERCEPTION_MODE")
    let mode: InterceptionMode
    if modeText.isEmpty {
      mode = .redirect
    } else if let parsed = InterceptionMode(rawValue: modeText.uppercased()) {
      mode = parsed
    } else {
      throw XDSError(
        .invalidNodeMetadata,
        "metadata INTERCEPTION_MODE '\(modeText)' is not one of REDIRECT, TPROXY, NONE",
        context: "node id '\(nodeID)'"
      )
    }

    let id = parts[2]
    var namespace = try string("NAMESPACE")
    if namespace.isEmpty, let dot = id.firstIndex(of: ".") {
      namespace = String(id[id.index(after: dot)...])
    }
    if namespace.isEmpty, let first = parts[3].split(separator: ".").first {
      namespace = String(first)
    }

    let instanceIPs = try string("INSTANCE_IPS").split(separator: ",").map {
      String($0).trimmingCharacters(in: .whitespaces)
    }.filter { !$0.isEmpty }

    self.init(
      nodeID: nodeID,
      type: type,
      ipAddress: parts[1],
      id: id,
      namespace: namespace,
      dnsDomain: parts[3],
      clusterID: try string("CLUSTER_ID"),
      network: try string("NETWORK"),
      labels: labels,
      interceptionMode: mode,
      istioVersion: try string("ISTIO_VERSION"),
      instanceIPs: instanceIPs,
      serviceAccount: try string("SERVICE_ACCOUNT")
    )
  }
}
