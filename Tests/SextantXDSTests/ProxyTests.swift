import EnvoyAPI
import SwiftProtobuf
import Testing

@testable import SextantGeneration
@testable import SextantXDS

@Suite struct ProxyTests {
  func node(_ id: String, metadata: [String: Google_Protobuf_Value] = [:]) -> Envoy_Config_Core_V3_Node {
    var node = Envoy_Config_Core_V3_Node()
    node.id = id
    node.metadata.fields = metadata
    return node
  }

  @Test func parsesIstioNodeIDAndMetadata() throws {
    var labels = Google_Protobuf_Struct()
    labels.fields["app"] = Google_Protobuf_Value(stringValue: "client")
    let proxy = try Proxy(
      node: node(
        "sidecar~10.0.0.7~client-1.sample~sample.svc.cluster.local",
        metadata: [
          "CLUSTER_ID": Google_Protobuf_Value(stringValue: "cluster1"),
          "NETWORK": Google_Protobuf_Value(stringValue: "network1"),
          "LABELS": Google_Protobuf_Value(structValue: labels),
          "INTERCEPTION_MODE": Google_Protobuf_Value(stringValue: "NONE"),
          "INSTANCE_IPS": Google_Protobuf_Value(stringValue: "10.0.0.7, fd00::7"),
        ]
      )
    )
    #expect(proxy.type == .sidecar)
    #expect(proxy.ipAddress == "10.0.0.7")
    #expect(proxy.id == "client-1.sample")
    #expect(proxy.namespace == "sample")
    #expect(proxy.dnsDomain == "sample.svc.cluster.local")
    #expect(proxy.clusterID == "cluster1")
    #expect(proxy.network == "network1")
    #expect(proxy.labels == ["app": "client"])
    #expect(proxy.interceptionMode == .none)
    #expect(proxy.instanceIPs == ["10.0.0.7", "fd00::7"])
    #expect(
      proxy.view
        == ProxyView(
          type: .sidecar, namespace: "sample", interceptionMode: .none, network: "network1", ipAddress: "10.0.0.7",
          instanceIPs: ["10.0.0.7", "fd00::7"], clusterID: "cluster1", labels: ["app": "client"]))
  }

  @Test func defaultsToRedirectAndNamespaceFromID() throws {
    let proxy = try Proxy(node: node("router~::1~gw-1.istio-system~istio-system.svc.cluster.local"))
    #expect(proxy.type == .router)
    #expect(proxy.interceptionMode == .redirect)
    #expect(proxy.namespace == "istio-system")
    #expect(proxy.instanceIPs == ["::1"])
  }

  @Test(arguments: [
    ("not-a-node-id", "4 parts"),
    ("sidecar~10.0.0.1~a.b", "4 parts"),
    ("gateway~10.0.0.1~a.b~b.svc.cluster.local", "node type 'gateway'"),
    ("sidecar~10.0.0.300~a.b~b.svc.cluster.local", "'10.0.0.300' is not an IP address"),
    ("sidecar~10.0.0.1~~b.svc.cluster.local", "POD.NAMESPACE part is empty"),
  ])
  func rejectsMalformedNodeIDs(id: String, expected: String) {
    #expect {
      _ = try Proxy(node: node(id))
    } throws: { error in
      guard let error = error as? XDSError else { return false }
      return error.code == .invalidNodeID && error.description.contains(expected) && error.context.contains(id)
    }
  }

  @Test func rejectsMetadataOfTheWrongShape() {
    #expect {
      _ = try Proxy(
        node: node(
          "sidecar~10.0.0.1~a.b~b.svc.cluster.local",
          metadata: ["LABELS": Google_Protobuf_Value(stringValue: "app=x")]
        )
      )
    } throws: { error in
      (error as? XDSError)?.code == .invalidNodeMetadata && "\(error)".contains("LABELS")
    }
    #expect {
      _ = try Proxy(
        node: node(
          "sidecar~10.0.0.1~a.b~b.svc.cluster.local",
          metadata: ["INTERCEPTION_MODE": Google_Protobuf_Value(stringValue: "MAGIC")]
        )
      )
    } throws: { error in
      (error as? XDSError)?.code == .invalidNodeMetadata && "\(error)".contains("MAGIC")
    }
  }
}
