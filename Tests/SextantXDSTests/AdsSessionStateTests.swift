import EnvoyAPI
import GRPCCore
import SextantPKI
import SwiftProtobuf
import Testing

@testable import SextantGeneration
@testable import SextantXDS

/// The ADS session's state machine, driven with made-up nodes: no stream, no I/O.
@Suite struct AdsSessionStateTests {
  static let nodeID = "sidecar~10.0.0.7~client-1.sample~sample.svc.cluster.local"

  func node(_ id: String = nodeID, serviceAccount: String? = nil) -> Envoy_Config_Core_V3_Node {
    var node = Envoy_Config_Core_V3_Node()
    node.id = id
    if let serviceAccount {
      node.metadata.fields["SERVICE_ACCOUNT"] = Google_Protobuf_Value(stringValue: serviceAccount)
    }
    return node
  }

  func identity(namespace: String = "sample", serviceAccount: String = "client") throws -> CallerIdentity {
    CallerIdentity(
      spiffe: try SpiffeID(trustDomain: "cluster.local", namespace: namespace, serviceAccount: serviceAccount),
      method: .clientCertificate)
  }

  @Test func firstRequestWithANodeConnectsAndLaterRequestsServeTheSameProxy() throws {
    var state = AdsSessionState(identity: nil, servesSecrets: false)
    #expect(state.phase == .awaitingNode)
    #expect(state.proxy == nil)
    #expect(state.view == nil)

    let expected = try Proxy(node: node())
    #expect(state.receive(node: node()) == .connected(expected))
    #expect(state.phase == .serving(expected))
    #expect(state.proxy == expected)

    // Later requests may carry no node, or another one: only the first counts.
    #expect(state.receive(node: nil) == .serve(expected))
    #expect(state.receive(node: node("router~10.0.0.9~gw.other~other.svc.cluster.local")) == .serve(expected))
    #expect(state.receive(node: node("not-a-node-id")) == .serve(expected))
    #expect(state.proxy == expected)
  }

  @Test func firstRequestWithoutANodeIsRefused() {
    var state = AdsSessionState(identity: nil, servesSecrets: false)
    guard case .refuse(let refusal) = state.receive(node: nil) else {
      Issue.record("not refused: \(state.phase)")
      return
    }
    #expect(refusal.reason == .missingNode)
    #expect(refusal.code == .invalidArgument)
    #expect(!refusal.isAuthenticationFailure)
    #expect(refusal.proxy == nil)
    #expect(refusal.message == "the first DiscoveryRequest of a stream must carry the node")
    #expect(state.phase == .closed(refusal))
    #expect(state.proxy == nil)
    // A closed session drops everything, even a valid node.
    #expect(state.receive(node: node()) == .drop)
    #expect(state.proxy == nil)
  }

  @Test func malformedNodeIsRefusedWithTheParseError() {
    var state = AdsSessionState(identity: nil, servesSecrets: false)
    guard case .refuse(let refusal) = state.receive(node: node("not-a-node-id")) else {
      Issue.record("not refused: \(state.phase)")
      return
    }
    guard case .invalidNode(let error) = refusal.reason else {
      Issue.record("unexpected reason \(refusal.reason)")
      return
    }
    #expect(error.code == .invalidNodeID)
    #expect(refusal.message == error.description)
    #expect(refusal.code == .invalidArgument)
    #expect(refusal.rpcError.code == .invalidArgument)
    #expect(refusal.rpcError.message == error.description)
    #expect(state.phase == .closed(refusal))
  }

  @Test func authenticatedCallerMustBeInTheProxysNamespace() throws {
    var state = AdsSessionState(identity: try identity(namespace: "other"), servesSecrets: true)
    guard case .refuse(let refusal) = state.receive(node: node()) else {
      Issue.record("not refused: \(state.phase)")
      return
    }
    #expect(refusal.reason == .namespaceMismatch)
    #expect(refusal.code == .permissionDenied)
    #expect(refusal.isAuthenticationFailure)
    #expect(refusal.proxy?.nodeID == Self.nodeID)
    #expect(
      refusal.message
        == "identity spiffe://cluster.local/ns/other/sa/client (namespace other) may not act for a proxy in "
        + "namespace sample (node \(Self.nodeID))")
    #expect(state.proxy == nil)
  }

  @Test func serviceAccountTheNodeClaimsMustBeTheCallers() throws {
    var refused = AdsSessionState(identity: try identity(), servesSecrets: true)
    guard case .refuse(let refusal) = refused.receive(node: node(serviceAccount: "someone-else")) else {
      Issue.record("not refused: \(refused.phase)")
      return
    }
    #expect(refusal.reason == .serviceAccountMismatch)
    #expect(refusal.code == .permissionDenied)
    #expect(refusal.message.contains("SERVICE_ACCOUNT is someone-else"))

    // The same service account, or none claimed: accepted.
    var same = AdsSessionState(identity: try identity(), servesSecrets: true)
    let claimed = try Proxy(node: node(serviceAccount: "client"))
    #expect(same.receive(node: node(serviceAccount: "client")) == .connected(claimed))
    var unclaimed = AdsSessionState(identity: try identity(), servesSecrets: true)
    #expect(unclaimed.receive(node: node()) == .connected(try Proxy(node: node())))
  }

  @Test func viewAddsWhatTheStreamProved() throws {
    var authenticated = AdsSessionState(identity: try identity(), servesSecrets: true)
    _ = authenticated.receive(node: node())
    let view = try #require(authenticated.view)
    #expect(view.mutualTLS)
    #expect(view.serviceAccount == "client")
    #expect(view.namespace == "sample")

    // Authenticated, but no SDS: no certificate, so no mutual TLS.
    var withoutSecrets = AdsSessionState(identity: try identity(), servesSecrets: false)
    _ = withoutSecrets.receive(node: node())
    #expect(withoutSecrets.view?.mutualTLS == false)
    #expect(withoutSecrets.view?.serviceAccount == "client")

    var plaintext = AdsSessionState(identity: nil, servesSecrets: true)
    _ = plaintext.receive(node: node())
    #expect(plaintext.view?.mutualTLS == false)
    #expect(plaintext.view?.serviceAccount == nil)
  }

  @Test func closeEndsServingAndDropsLaterRequests() {
    var state = AdsSessionState(identity: nil, servesSecrets: false)
    _ = state.receive(node: node())
    state.close()
    #expect(state.phase == .closed(nil))
    #expect(state.proxy == nil)
    #expect(state.view == nil)
    #expect(state.receive(node: node()) == .drop)

    // Closing before the node arrived, or twice, keeps the session closed (a refusal stays recorded).
    var early = AdsSessionState(identity: nil, servesSecrets: false)
    early.close()
    #expect(early.receive(node: node()) == .drop)
    var refused = AdsSessionState(identity: nil, servesSecrets: false)
    guard case .refuse(let refusal) = refused.receive(node: nil) else {
      Issue.record("not refused")
      return
    }
    refused.close()
    #expect(refused.phase == .closed(refusal))
  }
}
