import SextantTestSupport
import Testing

@testable import SextantKubeSecurity

@Suite("TokenReview cache and slots")
struct ReviewLimitsTests {
  private let rejection = TokenReviewFailure(code: .rejected, clusterID: "c", message: "no")

  private func accepted(_ name: String) -> TokenReviewCache<Int>.Outcome {
    .accepted(namespace: "ns", serviceAccount: name)
  }

  private func name(_ outcome: TokenReviewCache<Int>.Outcome?) -> String? {
    if case .accepted(_, let serviceAccount)? = outcome { return serviceAccount }
    return nil
  }

  @Test("a full cache evicts the oldest stored entry; storing a key again keeps one entry for it")
  func evictsOldest() {
    var cache = TokenReviewCache<Int>(capacity: 3)
    for key in ["a", "b", "c"] { cache.store(accepted(key), for: key, expires: 100, now: 0) }
    cache.store(accepted("a2"), for: "a", expires: 100, now: 0)
    #expect(cache.count == 3)
    cache.store(accepted("d"), for: "d", expires: 100, now: 0)
    #expect(cache.count == 3)
    // "a" was stored again after "b": "b" is now the oldest.
    #expect(name(cache.outcome(for: "b", now: 1)) == nil)
    #expect(name(cache.outcome(for: "a", now: 1)) == "a2")
    #expect(name(cache.outcome(for: "c", now: 1)) == "c")
    #expect(name(cache.outcome(for: "d", now: 1)) == "d")
  }

  @Test("expired entries are dropped when found and before live ones are evicted; rejections are kept too")
  func expiry() {
    var cache = TokenReviewCache<Int>(capacity: 2)
    cache.store(.rejected(rejection), for: "bad", expires: 10, now: 0)
    cache.store(accepted("good"), for: "good", expires: 30, now: 0)
    if case .rejected(let failure)? = cache.outcome(for: "bad", now: 5) {
      #expect(failure == rejection)
    } else {
      Issue.record("the rejection was not kept")
    }
    #expect(cache.outcome(for: "bad", now: 10) == nil)
    cache.store(accepted("new"), for: "new", expires: 40, now: 11)
    #expect(name(cache.outcome(for: "good", now: 12)) == "good")
    #expect(name(cache.outcome(for: "new", now: 12)) == "new")
  }

  @Test("many stores keep the cache at its capacity")
  func bounded() {
    var cache = TokenReviewCache<Int>(capacity: 8)
    for index in 0..<10_000 { cache.store(accepted("\(index)"), for: "\(index % 50)", expires: 1_000_000, now: index) }
    #expect(cache.count == 8)
    #expect(name(cache.outcome(for: "49", now: 10_000)) == "9999")
  }

  @Test("callers over the limit wait in order; beyond the waiting bound they get unavailable at once")
  func slots() async throws {
    let slots = ReviewSlots(limit: 1, maximumWaiting: 1)
    let first = Gate()
    let firstRunning = Gate()
    let order = Collector<String>()
    async let holder: Void = slots.withSlot(of: "c") { () async throws(TokenReviewFailure) in
      firstRunning.open()
      await first.wait()
      order.append("first")
    }
    await firstRunning.wait()
    async let waiter: Void = slots.withSlot(of: "c") { () async throws(TokenReviewFailure) in order.append("second") }
    #expect(await eventually { slots.usage(of: "c") == (1, 1) })

    let refused = await #expect(throws: TokenReviewFailure.self) {
      try await slots.withSlot(of: "c") { () async throws(TokenReviewFailure) in order.append("third") }
    }
    #expect(refused?.code == .unavailable)
    #expect(
      refused?.message
        == "cannot review the token with cluster c: 1 TokenReviews are running and 1 are waiting; try again later")
    // Another cluster has its own slots.
    try await slots.withSlot(of: "other") { () async throws(TokenReviewFailure) in order.append("other") }

    first.open()
    try await holder
    try await waiter
    #expect(order.values == ["other", "first", "second"])
    #expect(slots.usage(of: "c") == (0, 0))
  }

  @Test("a waiter whose task is cancelled leaves the queue with unavailable")
  func cancelledWaiter() async throws {
    let slots = ReviewSlots(limit: 1, maximumWaiting: 4)
    let release = Gate()
    let running = Gate()
    async let holder: Void = slots.withSlot(of: "c") { () async throws(TokenReviewFailure) in
      running.open()
      await release.wait()
    }
    await running.wait()
    let waiter = Task {
      do throws(TokenReviewFailure) {
        try await slots.withSlot(of: "c") { () async throws(TokenReviewFailure) in }
        return TokenReviewFailure.Code?.none
      } catch {
        return error.code
      }
    }
    #expect(await eventually { slots.usage(of: "c").waiting == 1 })
    waiter.cancel()
    #expect(await waiter.value == .unavailable)
    #expect(slots.usage(of: "c") == (1, 0))
    release.open()
    try await holder
    #expect(slots.usage(of: "c") == (0, 0))
  }
}
