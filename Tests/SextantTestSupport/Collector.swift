import Synchronization

/// Values collected from `@Sendable` callbacks, with a way to wait until enough arrived (no sleeping).
///
/// Values are kept in the order `append` was called. `wait(for:)` is not cancellable and has no timeout: a test that
/// waits for more values than ever arrive hangs.
public final class Collector<Value: Sendable>: Sendable {
  private struct State {
    var values: [Value] = []
    var waiters: [(count: Int, continuation: CheckedContinuation<Void, Never>)] = []
  }

  private let state = Mutex(State())

  /// Creates an empty collector.
  public init() {}

  /// Adds `value` and wakes the waiters whose count is now reached.
  public func append(_ value: Value) {
    let ready = state.withLock { state -> [CheckedContinuation<Void, Never>] in
      state.values.append(value)
      let count = state.values.count
      let ready = state.waiters.filter { $0.count <= count }.map(\.continuation)
      state.waiters.removeAll { $0.count <= count }
      return ready
    }
    for continuation in ready { continuation.resume() }
  }

  /// Every value so far, oldest first.
  public var values: [Value] { state.withLock { $0.values } }

  /// Returns once at least `count` values were collected; at once if they already were.
  public func wait(for count: Int) async {
    await withCheckedContinuation { continuation in
      let ready = state.withLock { state -> Bool in
        if state.values.count >= count { return true }
        state.waiters.append((count, continuation))
        return false
      }
      if ready { continuation.resume() }
    }
  }
}
