import EnvoyAPI
import GRPCCore
import SextantGeneration
import SextantPKI

/// Where one ADS stream stands: waiting for the node, serving the proxy it named, or closed.
///
/// A pure state machine in the manner of ``WatchState``: ``receive(node:)`` takes the node of each request (nil
/// when the request carries none) and says what the session does with it; the session does the I/O (logs, metrics,
/// ending the stream with ``Refusal/rpcError``). The transitions:
/// - `awaitingNode` → `serving`: the first request carries a node that parses (``Proxy/init(node:)``) and, on an
///   authenticated stream, names the caller's namespace and (when the node sends one) its service account.
/// - `awaitingNode` → `closed`: the first request has no node, a malformed one, or one the caller may not act for.
/// - `serving` → `serving`: a later request; whatever node it carries is ignored (only the first one counts).
/// - any → `closed`: ``close()`` (the stream ended); a closed session drops every request.
package struct AdsSessionState: Sendable, Hashable {
  /// The states.
  package enum Phase: Sendable, Hashable {
    /// No request yet: the next one must carry the node.
    case awaitingNode
    /// The node was accepted: every request and push is for this proxy.
    case serving(Proxy)
    /// The stream ended: refused (the refusal), or closed by either side (nil).
    case closed(Refusal?)
  }

  /// What the session does with a request.
  package enum Step: Sendable, Hashable {
    /// The first request's node was accepted: publish the proxy, then handle the request for it.
    case connected(Proxy)
    /// A later request: handle it for the proxy.
    case serve(Proxy)
    /// End the stream with the refusal's error; the session is closed.
    case refuse(Refusal)
    /// The session is closed: ignore the request.
    case drop
  }

  /// Why a stream's first request ends it.
  package struct Refusal: Error, Sendable, Hashable, CustomStringConvertible {
    package enum Reason: Sendable, Hashable {
      /// The first request carried no node.
      case missingNode
      /// The node's id or metadata does not parse (`error` is Proxy's parse error).
      case invalidNode(XDSError)
      /// The authenticated caller's namespace is not the proxy's.
      case namespaceMismatch
      /// The authenticated caller's service account is not the one the node sends.
      case serviceAccountMismatch
    }

    package var reason: Reason
    /// The proxy the node describes, when it parsed (for logs).
    package var proxy: Proxy?
    /// The message the stream ends with.
    package var message: String

    /// INVALID_ARGUMENT for a missing or malformed node, PERMISSION_DENIED for a caller acting for another proxy.
    package var code: RPCError.Code {
      switch reason {
      case .missingNode, .invalidNode: .invalidArgument
      case .namespaceMismatch, .serviceAccountMismatch: .permissionDenied
      }
    }

    /// Whether it counts as an authentication failure (`pilot_xds_auth_failures_total`).
    package var isAuthenticationFailure: Bool { code == .permissionDenied }

    /// The error that ends the stream.
    package var rpcError: RPCError { RPCError(code: code, message: message) }

    package var description: String { message }
  }

  package private(set) var phase: Phase = .awaitingNode
  /// The authenticated caller; nil on an unauthenticated (plaintext) stream.
  package let identity: CallerIdentity?
  /// Whether the stream's server answers SDS: with `identity`, whether the proxy gets a certificate.
  package let servesSecrets: Bool

  package init(identity: CallerIdentity?, servesSecrets: Bool) {
    self.identity = identity
    self.servesSecrets = servesSecrets
  }

  /// The proxy being served; nil before the node was accepted and once closed.
  package var proxy: Proxy? {
    guard case .serving(let proxy) = phase else { return nil }
    return proxy
  }

  /// What generators see of the proxy being served (see ``view(of:)``); nil when no proxy is being served.
  package var view: ProxyView? { proxy.map(view(of:)) }

  /// What generators see of `proxy` on this stream: the node's claims plus what the stream proved (whether it gets
  /// a certificate, and the caller's service account).
  package func view(of proxy: Proxy) -> ProxyView {
    var view = proxy.view
    view.mutualTLS = identity != nil && servesSecrets
    view.serviceAccount = identity?.serviceAccount
    return view
  }

  /// Takes the node of a request (nil when it carries none) and moves the state; see the type's documentation.
  package mutating func receive(node: Envoy_Config_Core_V3_Node?) -> Step {
    switch phase {
    case .serving(let proxy):
      return .serve(proxy)
    case .closed:
      return .drop
    case .awaitingNode:
      switch Self.accept(node: node, identity: identity) {
      case .success(let proxy):
        phase = .serving(proxy)
        return .connected(proxy)
      case .failure(let refusal):
        phase = .closed(refusal)
        return .refuse(refusal)
      }
    }
  }

  /// Ends the session: later requests are dropped and no proxy is served.
  package mutating func close() {
    if case .closed = phase { return }
    phase = .closed(nil)
  }

  /// The first request's node as a proxy the caller may act for, or why not.
  private static func accept(
    node: Envoy_Config_Core_V3_Node?, identity: CallerIdentity?
  ) -> Result<Proxy, Refusal> {
    guard let node else {
      return .failure(
        Refusal(
          reason: .missingNode, proxy: nil, message: "the first DiscoveryRequest of a stream must carry the node"))
    }
    let proxy: Proxy
    do {
      proxy = try Proxy(node: node)
    } catch {
      return .failure(Refusal(reason: .invalidNode(error), proxy: nil, message: error.description))
    }
    guard let identity else { return .success(proxy) }
    if identity.namespace != proxy.namespace {
      let message =
        "identity \(identity.spiffe.uri) (namespace \(identity.namespace)) may not act for a proxy in namespace "
        + "\(proxy.namespace) (node \(proxy.nodeID))"
      return .failure(Refusal(reason: .namespaceMismatch, proxy: proxy, message: message))
    }
    if !proxy.serviceAccount.isEmpty, identity.serviceAccount != proxy.serviceAccount {
      let message =
        "identity \(identity.spiffe.uri) (service account \(identity.serviceAccount)) may not act for a proxy whose "
        + "SERVICE_ACCOUNT is \(proxy.serviceAccount) (node \(proxy.nodeID))"
      return .failure(Refusal(reason: .serviceAccountMismatch, proxy: proxy, message: message))
    }
    return .success(proxy)
  }
}
