import SextantGeneration
import SextantRegistry

/// How registry changes are batched before a push (istiod's PILOT_DEBOUNCE_AFTER / PILOT_DEBOUNCE_MAX).
package struct DebounceConfig: Sendable, Hashable {
  /// Quiet period: push once no change arrived for this long.
  package var after: Duration
  /// Upper bound: push at the latest this long after the first change of a batch.
  package var max: Duration
  /// Whether endpoint-only changes are debounced too (PILOT_ENABLE_EDS_DEBOUNCE); when false they push at once.
  package var debounceEndpoints: Bool

  package init(after: Duration, max: Duration, debounceEndpoints: Bool = true) {
    self.after = after
    self.max = max
    self.debounceEndpoints = debounceEndpoints
  }

  /// istiod's defaults: 100 ms quiet period, 10 s maximum, endpoint changes debounced.
  package static let defaults = DebounceConfig(after: .milliseconds(100), max: .seconds(10))
}

/// The debounce decision as a pure state machine over instants of any clock; the pipeline drives it with a real
/// clock and tests drive it with made-up instants.
package struct DebounceStateMachine<Instant: InstantProtocol>: Sendable where Instant.Duration == Duration {
  private enum State: Sendable {
    case idle
    case pending(first: Instant, last: Instant, request: PushRequest)
  }

  private var state: State = .idle
  package let config: DebounceConfig

  package init(config: DebounceConfig) {
    self.config = config
  }

  /// Records a change that arrived at `now`. Returns a request to push at once when endpoint debouncing is off and
  /// this is an endpoint-only change with nothing else pending.
  package mutating func receive(_ request: PushRequest, at now: Instant) -> PushRequest? {
    switch state {
    case .idle:
      if !config.debounceEndpoints && !request.change.isFull { return request }
      state = .pending(first: now, last: now, request: request)
    case .pending(let first, _, var pending):
      pending.merge(request)
      state = .pending(first: first, last: now, request: pending)
    }
    return nil
  }

  /// When the pending batch is due, or nil when nothing is pending.
  package var deadline: Instant? {
    guard case .pending(let first, let last, _) = state else { return nil }
    let quiet = last.advanced(by: config.after)
    let cap = first.advanced(by: config.max)
    return quiet < cap ? quiet : cap
  }

  /// Takes the pending batch if it is due at `now`.
  package mutating func fire(at now: Instant) -> PushRequest? {
    guard case .pending(_, _, let request) = state, let deadline, now >= deadline else { return nil }
    state = .idle
    return request
  }
}
