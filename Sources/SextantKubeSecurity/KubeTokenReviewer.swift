import Logging
import SextantKubeClient
import Synchronization

/// Why `KubeTokenReviewer` did not vouch for a token. `description` is the message; it never contains the token.
package struct TokenReviewFailure: Error, Sendable, Hashable, CustomStringConvertible {
  package enum Code: String, Sendable, Hashable, CaseIterable {
    /// No API client is known for the cluster the caller named (no remote secret names it). Istio answers
    /// "unauthenticated".
    case unknownCluster
    /// The cluster's API server could not be asked (unreachable, TLS, 401/403 for Sextant's own credentials, 5xx,
    /// an answer that is not a TokenReview). The caller may retry; Istio answers "unavailable"-like errors.
    case unavailable
    /// The API server was asked and did not vouch for the token: not authenticated, not for the audience, or not a
    /// service account.
    case rejected
  }

  package var code: Code
  /// The cluster the token was checked against.
  package var clusterID: String
  /// What happened: `cluster cluster2 did not authenticate the token: invalid bearer token`.
  package var message: String

  package init(code: Code, clusterID: String, message: String) {
    self.code = code
    self.clusterID = clusterID
    self.message = message
  }

  package var description: String { message }
}

/// Checks Kubernetes service-account tokens with a TokenReview on the API server of the cluster the caller names,
/// as istiod's `KubeJWTAuthenticator` does, and returns the service account (namespace and name).
///
/// A token is vouched for when the TokenReview says `authenticated`, its `status.audiences` share one with the
/// audiences asked for (when any were; Istio asks for `istio-ca`), the user is in group `system:serviceaccounts` and
/// its name is `system:serviceaccount:NAMESPACE:NAME`.
///
/// Results are kept, keyed by the SHA-256 of the token (never the token), the cluster and the audiences: those that
/// vouch for a token for `cacheTTL` (at most 60 seconds), rejections (the API server answered and did not vouch)
/// for `rejectionCacheTTL` (10 seconds by default, never longer than `cacheTTL`), so a caller retrying a bad token
/// does not reach the API server each time; failures to ask (`unavailable`, `unknownCluster`) are not kept. At most
/// `cacheCapacity` results are kept; a full cache evicts its oldest entries. At most `maximumConcurrentReviews`
/// TokenReviews run against one cluster at a time; up to `maximumWaitingReviews` further callers wait for their turn
/// (in order), and callers beyond those get `unavailable` at once. The token is never logged.
package final class KubeTokenReviewer: Sendable {
  /// The audience Istio's CA asks tokens to be for.
  package static let istioCAAudience = "istio-ca"
  /// The longest time a result is kept.
  package static let maximumCacheTTL: Duration = .seconds(60)
  /// How long a rejection is kept by default: shorter than an acceptance, so a token that becomes valid (a service
  /// account created just after its pod) is soon accepted.
  package static let defaultRejectionCacheTTL: Duration = .seconds(10)
  /// How many results are kept at most; beyond that, the oldest are evicted.
  package static let cacheCapacity = 4096
  /// How many TokenReviews run against one cluster's API server at once, at most.
  package static let maximumConcurrentReviews = 16
  /// How many callers wait for one of a cluster's review slots, at most; further callers get `unavailable`. Each
  /// wait is bounded by the reviews ahead of it, each ending within the client's request timeout.
  package static let maximumWaitingReviews = 1024

  private let clients: @Sendable (String) async -> (any TokenReviewClient)?
  private let cacheTTL: Duration
  private let rejectionCacheTTL: Duration
  private let now: @Sendable () -> ContinuousClock.Instant
  private let logger: Logger
  private let cache: Mutex<TokenReviewCache<ContinuousClock.Instant>>
  private let slots: ReviewSlots

  /// A reviewer asking the `KubeClient` that `clients` returns for a cluster ID (the primary's and every running
  /// remote cluster's); nil means the cluster is not known.
  ///
  /// - Parameters:
  ///   - cacheTTL: How long a result vouching for a token is reused, capped at `maximumCacheTTL`; zero disables the
  ///     cache.
  ///   - rejectionCacheTTL: How long a rejection is reused, capped at `cacheTTL`; zero keeps no rejections.
  ///   - now: The clock the cache expires on (tests inject one).
  package convenience init(
    clients: @escaping @Sendable (String) async -> KubeClient?,
    cacheTTL: Duration = .seconds(30),
    rejectionCacheTTL: Duration = KubeTokenReviewer.defaultRejectionCacheTTL,
    now: @escaping @Sendable () -> ContinuousClock.Instant = { ContinuousClock.now },
    logger: Logger
  ) {
    self.init(
      reviewClients: { clusterID in await clients(clusterID) }, cacheTTL: cacheTTL,
      rejectionCacheTTL: rejectionCacheTTL, now: now, logger: logger)
  }

  /// A reviewer over any `TokenReviewClient`s (tests).
  package init(
    reviewClients: @escaping @Sendable (String) async -> (any TokenReviewClient)?,
    cacheTTL: Duration = .seconds(30),
    rejectionCacheTTL: Duration = KubeTokenReviewer.defaultRejectionCacheTTL,
    now: @escaping @Sendable () -> ContinuousClock.Instant = { ContinuousClock.now },
    logger: Logger
  ) {
    self.clients = reviewClients
    self.cacheTTL = min(max(cacheTTL, .zero), Self.maximumCacheTTL)
    self.rejectionCacheTTL = min(max(rejectionCacheTTL, .zero), self.cacheTTL)
    self.now = now
    self.logger = logger
    self.cache = Mutex(TokenReviewCache(capacity: Self.cacheCapacity))
    self.slots = ReviewSlots(limit: Self.maximumConcurrentReviews, maximumWaiting: Self.maximumWaitingReviews)
  }

  /// The service account `token` belongs to, as the API server of `clusterID` says.
  ///
  /// - Parameter audiences: The token must be valid for one of them (`[istioCAAudience]` for Istio's CA); empty
  ///   accepts the API server's own audiences.
  /// - Throws: `TokenReviewFailure`: `unknownCluster` when no client is known for `clusterID`, `unavailable` when
  ///   the API server cannot be asked, `rejected` otherwise (the message says why, with the server's reason).
  package func review(
    token: String, audiences: [String], clusterID: String
  ) async throws(TokenReviewFailure) -> (namespace: String, serviceAccount: String) {
    let key = cacheTTL > .zero ? Self.cacheKey(token: token, audiences: audiences, clusterID: clusterID) : nil
    if let key, let hit = try cached(key) { return hit }

    guard let client = await clients(clusterID) else {
      throw TokenReviewFailure(
        code: .unknownCluster, clusterID: clusterID,
        message: "cluster \(clusterID) is not known (no remote secret names it)")
    }
    return try await slots.withSlot(of: clusterID) {
      () async throws(TokenReviewFailure) -> (namespace: String, serviceAccount: String) in
      // Another caller may have reviewed the same token while this one waited for the slot.
      if let key, let hit = try cached(key) { return hit }
      let status: TokenReviewStatus
      do throws(KubeClientError) {
        status = try await client.reviewToken(token, audiences: audiences)
      } catch {
        logger.warning(
          "TokenReview failed",
          metadata: ["cluster": "\(clusterID)", "url": "\(error.url)", "error": "\(error.message)"])
        throw TokenReviewFailure(
          code: .unavailable, clusterID: clusterID,
          message: "cannot review the token with cluster \(clusterID): \(error.url): \(error.message)")
      }
      do throws(TokenReviewFailure) {
        let identity = try Self.serviceAccount(from: status, audiences: audiences, clusterID: clusterID)
        if let key {
          store(key, .accepted(namespace: identity.namespace, serviceAccount: identity.serviceAccount), ttl: cacheTTL)
        }
        return identity
      } catch {
        if let key, rejectionCacheTTL > .zero { store(key, .rejected(error), ttl: rejectionCacheTTL) }
        throw error
      }
    }
  }

  /// Checks a TokenReview's status as `review` does: the service account it vouches for, or why not.
  package static func serviceAccount(
    from status: TokenReviewStatus, audiences: [String], clusterID: String
  ) throws(TokenReviewFailure) -> (namespace: String, serviceAccount: String) {
    func rejected(_ message: String) -> TokenReviewFailure {
      TokenReviewFailure(code: .rejected, clusterID: clusterID, message: message)
    }
    guard status.authenticated else {
      let reason = status.error.flatMap { $0.isEmpty ? nil : $0 } ?? "no reason given"
      throw rejected("cluster \(clusterID) did not authenticate the token: \(reason)")
    }
    if let reason = status.error, !reason.isEmpty {
      throw rejected("cluster \(clusterID) reported an error for the token: \(reason)")
    }
    if !audiences.isEmpty {
      let granted = status.audiences ?? []
      guard granted.contains(where: audiences.contains) else {
        let shown = granted.isEmpty ? "none" : granted.joined(separator: ", ")
        throw rejected(
          "cluster \(clusterID) authenticated the token, but not for audience \(audiences.joined(separator: " or ")) "
            + "(its audiences: \(shown))")
      }
    }
    let username = status.user?.username ?? ""
    let parts = username.split(separator: ":", omittingEmptySubsequences: false)
    guard parts.count == 4, parts[0] == "system", parts[1] == "serviceaccount", !parts[2].isEmpty, !parts[3].isEmpty
    else {
      throw rejected(
        "the token authenticates \"\(username)\" in cluster \(clusterID), which is not a service account "
          + "(system:serviceaccount:NAMESPACE:NAME)")
    }
    guard status.user?.groups?.contains("system:serviceaccounts") == true else {
      throw rejected(
        "the token authenticates \"\(username)\" in cluster \(clusterID), which is not in group "
          + "system:serviceaccounts")
    }
    return (String(parts[2]), String(parts[3]))
  }

  // MARK: - Cache

  private static func cacheKey(token: String, audiences: [String], clusterID: String) -> String {
    KubeClient.tokenFingerprint(token) + "\n" + clusterID + "\n" + audiences.joined(separator: "\n")
  }

  /// The kept result for `key`: the service account, or the rejection thrown again; nil when none is kept.
  private func cached(_ key: String) throws(TokenReviewFailure) -> (namespace: String, serviceAccount: String)? {
    let now = self.now()
    switch cache.withLock({ $0.outcome(for: key, now: now) }) {
    case .none:
      return nil
    case .accepted(let namespace, let serviceAccount):
      return (namespace, serviceAccount)
    case .rejected(let failure):
      throw failure
    }
  }

  private func store(_ key: String, _ outcome: TokenReviewCache<ContinuousClock.Instant>.Outcome, ttl: Duration) {
    let now = self.now()
    cache.withLock { $0.store(outcome, for: key, expires: now + ttl, now: now) }
  }
}
