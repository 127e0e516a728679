import Synchronization

/// Limits how many TokenReviews run at once against each cluster; callers over the limit wait their turn, in order.
///
/// At most `limit` reviews per cluster hold a slot. Up to `maximumWaiting` more callers per cluster wait for one
/// (first come, first served; a finishing review hands its slot straight to the oldest waiter); a caller beyond that
/// is refused at once with `unavailable`, as is a waiter whose task is cancelled. A wait is bounded by the reviews
/// ahead of it, each of which ends within the client's request timeout. Thread-safe.
final class ReviewSlots: Sendable {
  private struct Waiter {
    var id: UInt64
    var continuation: CheckedContinuation<Admission, Never>
  }

  private struct Cluster {
    var active = 0
    var waiting: [Waiter] = []
  }

  private struct State {
    var clusters: [String: Cluster] = [:]
    var nextID: UInt64 = 0
  }

  /// Reviews per cluster that may run at once.
  let limit: Int
  /// Callers per cluster that may wait for a slot.
  let maximumWaiting: Int
  private let state = Mutex(State())

  init(limit: Int, maximumWaiting: Int) {
    self.limit = max(limit, 1)
    self.maximumWaiting = max(maximumWaiting, 0)
  }

  /// How many reviews of `clusterID` hold a slot, and how many callers wait for one.
  func usage(of clusterID: String) -> (active: Int, waiting: Int) {
    state.withLock { state in
      let cluster = state.clusters[clusterID]
      return (cluster?.active ?? 0, cluster?.waiting.count ?? 0)
    }
  }

  /// Runs `body` holding one of `clusterID`'s slots, waiting for one first when all are taken.
  ///
  /// - Throws: `TokenReviewFailure` `unavailable` when `maximumWaiting` callers already wait or the task is
  ///   cancelled while waiting, and whatever `body` throws.
  func withSlot<T: Sendable>(
    of clusterID: String, _ body: () async throws(TokenReviewFailure) -> T
  ) async throws(TokenReviewFailure) -> T {
    try await acquire(clusterID)
    defer { release(clusterID) }
    return try await body()
  }

  private enum Admission: Sendable {
    case granted
    case full(waiting: Int)
    case cancelled
  }

  private func acquire(_ clusterID: String) async throws(TokenReviewFailure) {
    let id = state.withLock { state -> UInt64 in
      state.nextID += 1
      return state.nextID
    }
    // Deciding and queueing happen in one critical section, so a slot freed meanwhile is never missed.
    let admission = await withTaskCancellationHandler {
      await withCheckedContinuation { (continuation: CheckedContinuation<Admission, Never>) in
        let decided = state.withLock { state -> Admission? in
          if Task.isCancelled { return .cancelled }
          var cluster = state.clusters[clusterID, default: Cluster()]
          defer { state.clusters[clusterID] = cluster }
          if cluster.active < limit {
            cluster.active += 1
            return .granted
          }
          if cluster.waiting.count >= maximumWaiting { return .full(waiting: cluster.waiting.count) }
          cluster.waiting.append(Waiter(id: id, continuation: continuation))
          return nil
        }
        if let decided { continuation.resume(returning: decided) }
      }
    } onCancel: {
      let waiter = state.withLock { state -> Waiter? in
        guard let index = state.clusters[clusterID]?.waiting.firstIndex(where: { $0.id == id }) else { return nil }
        return state.clusters[clusterID]?.waiting.remove(at: index)
      }
      waiter?.continuation.resume(returning: .cancelled)
    }
    switch admission {
    case .granted:
      return
    case .full(let waiting):
      throw TokenReviewFailure(
        code: .unavailable, clusterID: clusterID,
        message:
          "cannot review the token with cluster \(clusterID): \(limit) TokenReviews are running and \(waiting) "
          + "are waiting; try again later")
    case .cancelled:
      throw TokenReviewFailure(
        code: .unavailable, clusterID: clusterID,
        message: "cannot review the token with cluster \(clusterID): cancelled while waiting for a TokenReview slot")
    }
  }

  private func release(_ clusterID: String) {
    let next = state.withLock { state -> Waiter? in
      guard var cluster = state.clusters[clusterID] else { return nil }
      if cluster.waiting.isEmpty {
        cluster.active -= 1
        state.clusters[clusterID] = cluster.active > 0 ? cluster : nil
        return nil
      }
      // The slot passes to the oldest waiter: `active` stays.
      let waiter = cluster.waiting.removeFirst()
      state.clusters[clusterID] = cluster
      return waiter
    }
    next?.continuation.resume(returning: .granted)
  }
}
