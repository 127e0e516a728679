import GRPCCore
import Synchronization
import Testing

@testable import SextantPKI
@testable import SextantTrust

/// A token reviewer with a fixed answer per token, remembering what it was asked.
final class FakeTokenReviewer: TokenReviewer {
  struct Call: Sendable, Hashable {
    var token: String
    var audiences: [String]
    var clusterID: String
  }

  private let answers: [String: Result<ReviewedServiceAccount, AuthenticationError>]
  private let recorded = Mutex<[Call]>([])

  init(_ answers: [String: Result<ReviewedServiceAccount, AuthenticationError>]) {
    self.answers = answers
  }

  var calls: [Call] { recorded.withLock { $0 } }

  func review(
    token: String, audiences: [String], clusterID: String
  ) async throws(AuthenticationError) -> ReviewedServiceAccount {
    recorded.withLock { $0.append(Call(token: token, audiences: audiences, clusterID: clusterID)) }
    guard let answer = answers[token] else {
      throw AuthenticationError(.unauthenticated, "the token was rejected by cluster \(clusterID)")
    }
    return try answer.get()
  }
}

let certificateIdentity = try! SpiffeID(parsing: "spiffe://cluster.local/ns/default/sa/sleep")
let tokenAccount = ReviewedServiceAccount(namespace: "bookinfo", serviceAccount: "reviews")

@Suite("Authenticator")
struct AuthenticatorTests {
  let peer = "ipv4:10.0.0.1:40000"

  func authenticator(
    _ identities: PeerIdentities = PeerIdentities(), reviewer: (any TokenReviewer)? = nil
  ) -> Authenticator {
    Authenticator(
      peerIdentities: identities, tokenReviewer: reviewer, meshTrustDomain: "cluster.local",
      primaryClusterID: "Kubernetes")
  }

  func failure(_ body: () async throws(AuthenticationError) -> CallerIdentity) async -> AuthenticationError? {
    do {
      _ = try await body()
      return nil
    } catch {
      return error
    }
  }

  @Test("a verified client certificate wins over a token")
  func certificateWins() async throws {
    let identities = PeerIdentities()
    identities.record(certificateIdentity, remotePeer: peer)
    let reviewer = FakeTokenReviewer(["t": .success(tokenAccount)])
    let caller = try await authenticator(identities, reviewer: reviewer).authenticate(
      remotePeer: peer, metadata: ["authorization": "Bearer t"])
    #expect(caller == CallerIdentity(spiffe: certificateIdentity, method: .clientCertificate))
    #expect(reviewer.calls.isEmpty)
  }

  @Test("a bearer token is reviewed with audience istio-ca by the primary cluster, or the one clusterid names")
  func tokenReviewed() async throws {
    let reviewer = FakeTokenReviewer(["t": .success(tokenAccount)])
    let authenticator = authenticator(reviewer: reviewer)
    let primary = try await authenticator.authenticate(remotePeer: peer, metadata: ["authorization": "Bearer t"])
    #expect(primary.spiffe.uri == "spiffe://cluster.local/ns/bookinfo/sa/reviews")
    #expect(primary.method == .token(clusterID: "Kubernetes"))

    let remote = try await authenticator.authenticate(
      remotePeer: peer, metadata: ["authorization": "bearer  t ", "ClusterID": "cluster2"])
    #expect(remote.method == .token(clusterID: "cluster2"))
    #expect(
      reviewer.calls == [
        .init(token: "t", audiences: ["istio-ca"], clusterID: "Kubernetes"),
        .init(token: "t", audiences: ["istio-ca"], clusterID: "cluster2"),
      ])
  }

  @Test("no certificate and no token is unauthenticated, saying what was missing")
  func nothing() async {
    let error = await failure { () async throws(AuthenticationError) in
      try await authenticator().authenticate(remotePeer: peer, metadata: [:])
    }
    #expect(error?.code == .unauthenticated)
    #expect(error?.message == "no client certificate and no 'authorization: Bearer' token")
    #expect(error?.remotePeer == peer)
    #expect(error?.rpcError.code == .unauthenticated)
  }

  @Test("a token without a reviewer, a malformed header, an empty token: unauthenticated with a clear message")
  func badTokens() async {
    let noReviewer = await failure { () async throws(AuthenticationError) in
      try await authenticator().authenticate(remotePeer: peer, metadata: ["authorization": "Bearer t"])
    }
    #expect(noReviewer?.code == .unauthenticated)
    #expect(noReviewer?.message.contains("tokens cannot be reviewed") == true)

    let reviewer = FakeTokenReviewer([:])
    for (header, expected) in [
      ("Basic dXNlcjpwYXNz", "not of the form 'Bearer TOKEN'"), ("Bearer   ", "token is empty"),
      ("Bearer other", "rejected by cluster Kubernetes"),
    ] {
      let error = await failure { () async throws(AuthenticationError) in
        try await authenticator(reviewer: reviewer).authenticate(
          remotePeer: peer, metadata: ["authorization": "\(header)"])
      }
      #expect(error?.code == .unauthenticated)
      #expect(error?.message.contains(expected) == true, "\(header): \(error?.message ?? "no error")")
      #expect(error?.remotePeer == peer)
    }
  }

  @Test("a reviewer that cannot reach its API server makes the call UNAVAILABLE")
  func unavailable() async {
    let reviewer = FakeTokenReviewer([
      "t": .failure(AuthenticationError(.unavailable, "cannot reach the API server of cluster Kubernetes"))
    ])
    let error = await failure { () async throws(AuthenticationError) in
      try await authenticator(reviewer: reviewer).authenticate(
        remotePeer: peer, metadata: ["authorization": "Bearer t"])
    }
    #expect(error?.rpcError.code == .unavailable)
    #expect(error?.description == "cannot reach the API server of cluster Kubernetes (peer \(peer))")
  }

  @Test("authorize: the identity's namespace must be the proxy's")
  func authorize() throws {
    let caller = CallerIdentity(spiffe: certificateIdentity, method: .clientCertificate)
    try Authenticator.authorize(caller, nodeNamespace: "default")
    #expect {
      try Authenticator.authorize(caller, nodeNamespace: "kube-system")
    } throws: { error in
      guard let error = error as? AuthenticationError else { return false }
      return error.code == .permissionDenied && error.rpcError.code == .permissionDenied
        && error.message
          == "identity spiffe://cluster.local/ns/default/sa/sleep (namespace default) may not act for a proxy in "
          + "namespace kube-system"
    }
  }
}
