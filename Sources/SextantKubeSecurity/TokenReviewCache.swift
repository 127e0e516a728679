/// What `KubeTokenReviewer` remembers of recent TokenReviews: acceptances and rejections, each until it expires.
///
/// At most `capacity` entries: storing into a full cache first drops expired entries from the oldest end, then
/// evicts the oldest entries (by when they were stored; a hit does not refresh one), so the newest results are kept.
/// Not thread-safe: `KubeTokenReviewer` keeps it behind a mutex. Lookups and stores are O(1) amortized.
struct TokenReviewCache<Instant: Comparable & Sendable>: Sendable {
  /// A remembered TokenReview result.
  enum Outcome: Sendable {
    /// The token belongs to this service account.
    case accepted(namespace: String, serviceAccount: String)
    /// The API server did not vouch for the token; the failure is given again as it was.
    case rejected(TokenReviewFailure)
  }

  private struct Entry: Sendable {
    var outcome: Outcome
    var expires: Instant
    /// When it was stored, among all stores: matches its place in `order`.
    var sequence: UInt64
  }

  /// The most entries kept.
  let capacity: Int
  private var entries: [String: Entry] = [:]
  /// Keys in the order they were stored, from `head` on; a key stored again appears again (the stale place is
  /// skipped, its sequence no longer matching).
  private var order: [(key: String, sequence: UInt64)] = []
  private var head = 0
  private var nextSequence: UInt64 = 0

  /// An empty cache of at most `capacity` entries (at least one).
  init(capacity: Int) {
    self.capacity = max(capacity, 1)
  }

  /// How many entries are kept, expired ones included until they are found or evicted.
  var count: Int { entries.count }

  /// The outcome stored for `key`, unless it expired by `now` (then it is dropped).
  mutating func outcome(for key: String, now: Instant) -> Outcome? {
    guard let entry = entries[key] else { return nil }
    guard entry.expires > now else {
      entries[key] = nil
      return nil
    }
    return entry.outcome
  }

  /// Stores `outcome` for `key` until `expires`, evicting the oldest entries when full.
  mutating func store(_ outcome: Outcome, for key: String, expires: Instant, now: Instant) {
    if entries[key] == nil {
      // Expired entries at the oldest end go first, whether or not the cache is full.
      while let oldest = oldestLive(), oldest.entry.expires <= now || entries.count >= capacity {
        entries[oldest.key] = nil
        head += 1
      }
    }
    entries[key] = Entry(outcome: outcome, expires: expires, sequence: nextSequence)
    order.append((key, nextSequence))
    nextSequence += 1
    compact()
  }

  /// The oldest entry still stored, skipping stale places in `order`; `head` points at it afterwards.
  private mutating func oldestLive() -> (key: String, entry: Entry)? {
    while head < order.count {
      let place = order[head]
      if let entry = entries[place.key], entry.sequence == place.sequence { return (place.key, entry) }
      head += 1
    }
    return nil
  }

  /// Drops the consumed front of `order` once it is most of it, keeping the memory proportional to `capacity`.
  private mutating func compact() {
    if head > 64, head * 2 > order.count {
      order.removeFirst(head)
      head = 0
    }
    // Places of keys stored again or looked up expired pile up too; rebuild when they dominate.
    if order.count - head > 4 * capacity + 64 {
      order = order[head...].filter { entries[$0.key]?.sequence == $0.sequence }
      head = 0
    }
  }
}
