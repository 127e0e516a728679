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
/// Results that vouch for a token are kept for `cacheTTL` (at most 60 seconds), keyed by the SHA-256 of the token
/// (never the token), the cluster and the audiences; rejections and failures are not kept. The token is never
/// logged.
package final class KubeTokenReviewer: Sendable {
  /// The audience Istio's CA asks tokens to be for.
  package static let istioCAAudience = "istio-ca"
  /// The longest time a result is kept.
  package static let maximumCacheTTL: Duration = .seconds(60)
  /// How many results are kept at most; beyond that, expired ones are dropped, then all.
  package static let cacheCapacity = 4096

  private struct CacheEntry: Sendable {
    var namespace: String
    var serviceAccount: String
    var expires: ContinuousClock.Instant
  }

  private let clients: @Sendable (String) async -> (any TokenReviewClient)?
  private let cacheTTL: Duration
  private let now: @Sendable () -> ContinuousClock.Instant
  private let logger: Logger
  private let cache = Mutex<[String: CacheEntry]>([:])

  /// A reviewer asking the `KubeClient` that `clients` returns for a cluster ID (the primary's and every running
  /// remote cluster's); nil means the cluster is not known.
  ///
  /// - Parameters:
  ///   - cacheTTL: How long a result vouching for a token is reused, capped at `maximumCacheTTL`; zero disables the
  ///     cache.
  ///   - now: The clock the cache expires on (tests inject one).
  package convenience init(
    clients: @escaping @Sendable (String) async -> KubeClient?,
    cacheTTL: Duration = .seconds(30),
    now: @escaping @Sendable () -> ContinuousClock.Instant = { ContinuousClock.now },
    logger: Logger
  ) {
    self.init(
      reviewClients: { clusterID in await clients(clusterID) }, cacheTTL: cacheTTL, now: now, logger: logger)
  }

  /// A reviewer over any `TokenReviewClient`s (tests).
  package init(
    reviewClients: @escaping @Sendable (String) async -> (any TokenReviewClient)?,
    cacheTTL: Duration = .seconds(30),
    now: @escaping @Sendable () -> ContinuousClock.Instant = { ContinuousClock.now },
    logger: Logger
  ) {
    self.clients = reviewClients
    self.cacheTTL = min(max(cacheTTL, .zero), Self.maximumCacheTTL)
    self.now = now
    self.logger = logger
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
    if let key, let hit = cached(key) { return hit }

    guard let client = await clients(clusterID) else {
      throw TokenReviewFailure(
        code: .unknownCluster, clusterID: clusterID,
        message: "cluster \(clusterID) is not known (no remote secret names it)")
    }
    let status: TokenReviewStatus
    do throws(KubeClientError) {
      status = try await client.reviewToken(token, audiences: audiences)
    } catch {
      logger.warning(
        "TokenReview failed", metadata: ["cluster": "\(clusterID)", "url": "\(error.url)", "error": "\(error.message)"])
      throw TokenReviewFailure(
        code: .unavailable, clusterID: clusterID,
        message: "cannot review the token with cluster \(clusterID): \(error.url): \(error.message)")
    }
    let identity = try Self.serviceAccount(from: status, audiences: audiences, clusterID: clusterID)
    if let key { store(key, identity) }
    return identity
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

  private func cached(_ key: String) -> (namespace: String, serviceAccount: String)? {
    let now = self.now()
    return cache.withLock { cache in
      guard let entry = cache[key] else { return nil }
      guard entry.expires > now else {
        cache[key] = nil
        return nil
      }
      return (entry.namespace, entry.serviceAccount)
    }
  }

  private func store(_ key: String, _ identity: (namespace: String, serviceAccount: String)) {
    let now = self.now()
    let entry = CacheEntry(
      namespace: identity.namespace, serviceAccount: identity.serviceAccount, expires: now + cacheTTL)
    cache.withLock { cache in
      if cache.count >= Self.cacheCapacity {
        cache = cache.filter { $0.value.expires > now }
        if cache.count >= Self.cacheCapacity { cache.removeAll() }
      }
      cache[key] = entry
    }
  }
}
