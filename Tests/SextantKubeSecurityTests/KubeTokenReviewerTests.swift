import Foundation
import Logging
import SextantKubeClient
import SextantKubeSecurity
import SextantTestSupport
import Synchronization
import Testing

/// TokenReview statuses recorded from kube-apiserver 1.20.2 (the same answers as SextantKubeClientTests' fixtures).
enum RecordedReview {
  static let serviceAccount = #"""
    {"kind":"TokenReview","apiVersion":"authentication.k8s.io/v1","metadata":{"creationTimestamp":null},
     "spec":{"token":"REDACTED","audiences":["istio-ca"]},
     "status":{"authenticated":true,"user":{"username":"system:serviceaccount:sample:sleep",
       "uid":"1e5e1413-dfa3-43b7-aeb0-66889ff7e850",
       "groups":["system:serviceaccounts","system:serviceaccounts:sample","system:authenticated"]},
       "audiences":["istio-ca"]}}
    """#
  static let otherAudience = #"""
    {"kind":"TokenReview","apiVersion":"authentication.k8s.io/v1","metadata":{"creationTimestamp":null},
     "spec":{"token":"REDACTED","audiences":["istio-ca"]},
     "status":{"user":{},"error":"[invalid bearer token, token audiences [\"other\"] is invalid for the target audiences [\"istio-ca\"]]"}}
    """#
  static let invalidToken = #"""
    {"kind":"TokenReview","apiVersion":"authentication.k8s.io/v1","metadata":{"creationTimestamp":null},
     "spec":{"token":"REDACTED","audiences":["istio-ca"]},"status":{"user":{},"error":"invalid bearer token"}}
    """#
  static let staticUser = #"""
    {"kind":"TokenReview","apiVersion":"authentication.k8s.io/v1","metadata":{"creationTimestamp":null},
     "spec":{"token":"REDACTED"},
     "status":{"authenticated":true,"user":{"username":"limited","uid":"limited-uid","groups":["system:authenticated"]},
       "audiences":["https://kubernetes.default.svc.cluster1.local"]}}
    """#

  static func status(_ json: String) throws -> TokenReviewStatus {
    try TokenReviewStatus.decode(answer: Array(json.utf8))
  }
}

/// A cluster's TokenReview endpoint: answers with the next scripted result and counts calls.
final class FakeReviewClient: TokenReviewClient {
  let clusterID: String
  private let results: Mutex<[Result<TokenReviewStatus, KubeClientError>]>
  let calls = Mutex<[(token: String, audiences: [String])]>([])

  init(_ clusterID: String, _ results: [Result<TokenReviewStatus, KubeClientError>]) {
    self.clusterID = clusterID
    self.results = Mutex(results)
  }

  var callCount: Int { calls.withLock { $0.count } }

  func reviewToken(_ token: String, audiences: [String]) async throws(KubeClientError) -> TokenReviewStatus {
    calls.withLock { $0.append((token, audiences)) }
    guard let next = results.withLock({ $0.isEmpty ? nil : $0.removeFirst() }) else {
      throw KubeClientError(code: .serverError, message: "no scripted answer", clusterID: clusterID, url: "u")
    }
    return try next.get()
  }
}

@Suite("KubeTokenReviewer")
struct KubeTokenReviewerTests {
  private let token = "eyJhbGciOiJSUzI1NiJ9.the-token.sig"
  private let audiences = [KubeTokenReviewer.istioCAAudience]

  private func reviewer(
    _ clients: [String: any TokenReviewClient], cacheTTL: Duration = .seconds(30), clock: ManualClock = ManualClock(),
    logs: LogRecorder = LogRecorder()
  ) -> KubeTokenReviewer {
    KubeTokenReviewer(
      reviewClients: { clients[$0] }, cacheTTL: cacheTTL, now: clock.continuousNow, logger: logs.logger)
  }

  @Test("a service-account token of the named cluster gives its namespace and service account")
  func vouches() async throws {
    let remote = FakeReviewClient("cluster2", [.success(try RecordedReview.status(RecordedReview.serviceAccount))])
    let primary = FakeReviewClient("cluster1", [])
    let identity = try await reviewer(["cluster1": primary, "cluster2": remote]).review(
      token: token, audiences: audiences, clusterID: "cluster2")
    #expect(identity.namespace == "sample")
    #expect(identity.serviceAccount == "sleep")
    #expect(remote.calls.withLock { $0.map(\.audiences) } == [["istio-ca"]])
    #expect(remote.calls.withLock { $0.map(\.token) } == [token])
    #expect(primary.callCount == 0)
  }

  @Test("an unknown cluster is unknownCluster, naming it")
  func unknownCluster() async {
    let failure = await #expect(throws: TokenReviewFailure.self) {
      try await reviewer([:]).review(token: token, audiences: audiences, clusterID: "cluster9")
    }
    #expect(failure?.code == .unknownCluster)
    #expect(failure?.description == "cluster cluster9 is not known (no remote secret names it)")
  }

  @Test("an API failure is unavailable, naming the cluster, the URL and the error, never the token")
  func unavailable() async {
    let error = KubeClientError(
      code: .forbidden,
      message: #"HTTP 403 Forbidden: tokenreviews.authentication.k8s.io is forbidden: User "sextant" cannot create"#,
      clusterID: "cluster2", url: "https://10.0.0.2:6443/apis/authentication.k8s.io/v1/tokenreviews", status: 403)
    let logs = LogRecorder()
    let remote = FakeReviewClient("cluster2", [.failure(error)])
    let failure = await #expect(throws: TokenReviewFailure.self) {
      try await reviewer(["cluster2": remote], logs: logs).review(
        token: token, audiences: audiences, clusterID: "cluster2")
    }
    #expect(failure?.code == .unavailable)
    #expect(failure?.clusterID == "cluster2")
    #expect(
      failure?.description
        == "cannot review the token with cluster cluster2: https://10.0.0.2:6443/apis/authentication.k8s.io/v1/"
        + #"tokenreviews: HTTP 403 Forbidden: tokenreviews.authentication.k8s.io is forbidden: User "sextant" cannot create"#
    )
    #expect(!logs.allText.contains(token))
    #expect(!logs.allText.isEmpty)
  }

  @Test(
    "refusals carry the API server's reason: wrong audience, invalid token",
    arguments: [
      (
        RecordedReview.otherAudience,
        #"cluster cluster2 did not authenticate the token: [invalid bearer token, token audiences ["other"] is invalid for the target audiences ["istio-ca"]]"#
      ),
      (RecordedReview.invalidToken, "cluster cluster2 did not authenticate the token: invalid bearer token"),
    ])
  func notAuthenticated(answer: String, message: String) async throws {
    let remote = FakeReviewClient("cluster2", [.success(try RecordedReview.status(answer))])
    let failure = await #expect(throws: TokenReviewFailure.self) {
      try await reviewer(["cluster2": remote]).review(token: token, audiences: audiences, clusterID: "cluster2")
    }
    #expect(failure?.code == .rejected)
    #expect(failure?.description == message)
  }

  @Test("authenticated, but not for istio-ca: rejected")
  func wrongAudience() async throws {
    // A server that ignores spec.audiences answers with its own: not good enough.
    let remote = FakeReviewClient("cluster1", [.success(try RecordedReview.status(RecordedReview.serviceAccount))])
    let failure = await #expect(throws: TokenReviewFailure.self) {
      try await reviewer(["cluster1": remote]).review(token: token, audiences: ["other"], clusterID: "cluster1")
    }
    #expect(failure?.code == .rejected)
    #expect(
      failure?.description
        == "cluster cluster1 authenticated the token, but not for audience other (its audiences: istio-ca)")
    let none = TokenReviewStatus(
      authenticated: true,
      user: .init(username: "system:serviceaccount:a:b", groups: ["system:serviceaccounts"]), audiences: nil)
    #expect(throws: TokenReviewFailure.self) {
      try KubeTokenReviewer.serviceAccount(from: none, audiences: ["istio-ca"], clusterID: "cluster1")
    }
    // Without requested audiences, the server's own are accepted.
    let identity = try KubeTokenReviewer.serviceAccount(from: none, audiences: [], clusterID: "cluster1")
    #expect(identity.namespace == "a" && identity.serviceAccount == "b")
  }

  @Test("a user that is not a service account is rejected, naming it")
  func notAServiceAccount() async throws {
    let staticUser = try RecordedReview.status(RecordedReview.staticUser)
    let remote = FakeReviewClient("cluster1", [.success(staticUser)])
    let failure = await #expect(throws: TokenReviewFailure.self) {
      try await reviewer(["cluster1": remote]).review(token: token, audiences: [], clusterID: "cluster1")
    }
    #expect(failure?.code == .rejected)
    #expect(
      failure?.description
        == #"the token authenticates "limited" in cluster cluster1, which is not a service account (system:serviceaccount:NAMESPACE:NAME)"#
    )
    let malformed = [
      "system:serviceaccount:ns", "system:serviceaccount::sa", "system:serviceaccount:ns:sa:x", "x:y:ns:sa",
    ]
    for username in malformed {
      let status = TokenReviewStatus(
        authenticated: true, user: .init(username: username, groups: ["system:serviceaccounts"]))
      #expect(throws: TokenReviewFailure.self) {
        try KubeTokenReviewer.serviceAccount(from: status, audiences: [], clusterID: "c")
      }
    }
    let outsideGroup = TokenReviewStatus(
      authenticated: true, user: .init(username: "system:serviceaccount:ns:sa", groups: ["system:authenticated"]))
    let groupFailure = #expect(throws: TokenReviewFailure.self) {
      try KubeTokenReviewer.serviceAccount(from: outsideGroup, audiences: [], clusterID: "c")
    }
    #expect(groupFailure?.message.hasSuffix("which is not in group system:serviceaccounts") == true)
  }

  @Test("results vouching for a token are cached by token, cluster and audiences until the TTL passes")
  func cache() async throws {
    let answer = try RecordedReview.status(RecordedReview.serviceAccount)
    let remote = FakeReviewClient("cluster2", Array(repeating: .success(answer), count: 4))
    let clock = ManualClock()
    let reviewer = reviewer(["cluster2": remote], cacheTTL: .seconds(20), clock: clock)
    _ = try await reviewer.review(token: token, audiences: audiences, clusterID: "cluster2")
    clock.advance(by: .seconds(19))
    let again = try await reviewer.review(token: token, audiences: audiences, clusterID: "cluster2")
    #expect(again.serviceAccount == "sleep")
    #expect(remote.callCount == 1)
    _ = try await reviewer.review(token: token + "x", audiences: audiences, clusterID: "cluster2")
    #expect(remote.callCount == 2)
    clock.advance(by: .seconds(2))
    _ = try await reviewer.review(token: token, audiences: audiences, clusterID: "cluster2")
    #expect(remote.callCount == 3)
  }

  @Test("the TTL is capped at 60 seconds; zero disables the cache, for rejections too")
  func cacheLimits() async throws {
    let good = try RecordedReview.status(RecordedReview.serviceAccount)
    let bad = try RecordedReview.status(RecordedReview.invalidToken)
    let remote = FakeReviewClient("c", [.success(good), .success(good), .success(bad), .success(bad)])
    let clock = ManualClock()
    let capped = reviewer(["c": remote], cacheTTL: .seconds(600), clock: clock)
    _ = try await capped.review(token: token, audiences: audiences, clusterID: "c")
    clock.advance(by: .seconds(59))
    _ = try await capped.review(token: token, audiences: audiences, clusterID: "c")
    #expect(remote.callCount == 1)
    clock.advance(by: .seconds(2))
    _ = try await capped.review(token: token, audiences: audiences, clusterID: "c")
    #expect(remote.callCount == 2)

    let uncached = reviewer(["c": remote], cacheTTL: .zero, clock: clock)
    for _ in 0..<2 {
      await #expect(throws: TokenReviewFailure.self) {
        try await uncached.review(token: token, audiences: audiences, clusterID: "c")
      }
    }
    #expect(remote.callCount == 4)
  }

  @Test("a rejected token is kept for a shorter time: reviewed twice, the API is asked once")
  func rejectionCached() async throws {
    let bad = try RecordedReview.status(RecordedReview.invalidToken)
    let good = try RecordedReview.status(RecordedReview.serviceAccount)
    let remote = FakeReviewClient("c", [.success(bad), .success(good)])
    let clock = ManualClock()
    let reviewer = reviewer(["c": remote], cacheTTL: .seconds(30), clock: clock)
    for _ in 0..<2 {
      let failure = await #expect(throws: TokenReviewFailure.self) {
        try await reviewer.review(token: token, audiences: audiences, clusterID: "c")
      }
      #expect(failure?.code == .rejected)
      #expect(failure?.description == "cluster c did not authenticate the token: invalid bearer token")
    }
    #expect(remote.callCount == 1)
    // Rejections are kept for 10 seconds, acceptances for the cache TTL.
    clock.advance(by: .seconds(11))
    let identity = try await reviewer.review(token: token, audiences: audiences, clusterID: "c")
    #expect(identity.serviceAccount == "sleep")
    #expect(remote.callCount == 2)
  }

  @Test("an API failure is not kept: the next review asks again")
  func unavailableNotCached() async throws {
    let good = try RecordedReview.status(RecordedReview.serviceAccount)
    let remote = FakeReviewClient("c", [.failure(kubeError(.serverError, status: 500, cluster: "c")), .success(good)])
    let reviewer = reviewer(["c": remote])
    let failure = await #expect(throws: TokenReviewFailure.self) {
      try await reviewer.review(token: token, audiences: audiences, clusterID: "c")
    }
    #expect(failure?.code == .unavailable)
    #expect(try await reviewer.review(token: token, audiences: audiences, clusterID: "c").serviceAccount == "sleep")
    #expect(remote.callCount == 2)
  }

  @Test("100 concurrent reviews of distinct tokens: at most 16 at once reach the cluster's API server")
  func concurrencyLimit() async throws {
    let remote = HeldReviewClient("c")
    let reviewer = reviewer(["c": remote])
    let limit = 16
    try await withThrowingTaskGroup(of: String.self) { group in
      for index in 0..<100 {
        group.addTask {
          try await reviewer.review(token: "token-\(index)", audiences: audiences, clusterID: "c").serviceAccount
        }
      }
      // Let one review finish whenever `limit` are held (fewer at the end).
      for released in 0..<100 {
        await remote.arrivals.wait(for: min(released + limit, 100))
        remote.releaseOne()
      }
      var answered = 0
      for try await serviceAccount in group {
        #expect(serviceAccount == "sleep")
        answered += 1
      }
      #expect(answered == 100)
    }
    #expect(remote.arrivals.values.count == 100)
    #expect(remote.maximumInFlight == limit)
  }

  @Test("a full cache evicts its oldest entries and keeps the newest")
  func cacheEviction() async throws {
    let capacity = KubeTokenReviewer.cacheCapacity
    let answer = try RecordedReview.status(RecordedReview.serviceAccount)
    let remote = FakeReviewClient("c", Array(repeating: .success(answer), count: capacity + 3))
    let reviewer = reviewer(["c": remote])
    for index in 0...capacity {
      _ = try await reviewer.review(token: "token-\(index)", audiences: audiences, clusterID: "c")
    }
    #expect(remote.callCount == capacity + 1)
    // The newest `capacity` entries are kept...
    _ = try await reviewer.review(token: "token-\(capacity)", audiences: audiences, clusterID: "c")
    _ = try await reviewer.review(token: "token-1", audiences: audiences, clusterID: "c")
    #expect(remote.callCount == capacity + 1)
    // ...and the oldest one was evicted.
    _ = try await reviewer.review(token: "token-0", audiences: audiences, clusterID: "c")
    #expect(remote.callCount == capacity + 2)
  }
}

/// A cluster's TokenReview endpoint that holds every call until the test releases it, vouching for every token, and
/// records how many calls were in flight at most.
final class HeldReviewClient: TokenReviewClient {
  private struct State {
    var inFlight = 0
    var maximumInFlight = 0
    var held: [CheckedContinuation<Void, Never>] = []
    var releasesGiven = 0
  }

  let clusterID: String
  /// The token of every call, in the order they arrived.
  let arrivals = Collector<String>()
  private let state = Mutex(State())

  init(_ clusterID: String) { self.clusterID = clusterID }

  /// The most calls in flight at one time.
  var maximumInFlight: Int { state.withLock { $0.maximumInFlight } }

  /// Lets the oldest held call answer; when none is held, the next call to arrive answers at once.
  func releaseOne() {
    let continuation = state.withLock { state -> CheckedContinuation<Void, Never>? in
      if state.held.isEmpty {
        state.releasesGiven += 1
        return nil
      }
      return state.held.removeFirst()
    }
    continuation?.resume()
  }

  func reviewToken(_ token: String, audiences: [String]) async throws(KubeClientError) -> TokenReviewStatus {
    state.withLock { state in
      state.inFlight += 1
      state.maximumInFlight = max(state.maximumInFlight, state.inFlight)
    }
    arrivals.append(token)
    await withCheckedContinuation { continuation in
      let answerNow = state.withLock { state in
        if state.releasesGiven > 0 {
          state.releasesGiven -= 1
          return true
        }
        state.held.append(continuation)
        return false
      }
      if answerNow { continuation.resume() }
    }
    state.withLock { $0.inFlight -= 1 }
    return TokenReviewStatus(
      authenticated: true,
      user: .init(username: "system:serviceaccount:sample:sleep", groups: ["system:serviceaccounts"]),
      audiences: audiences)
  }
}
