import Synchronization

/// A one-shot signal: `wait()` returns once `open()` was called, before or after the wait began.
///
/// A gate never closes again; opening it twice is harmless. Waiting is not cancellable: a task waiting on a gate
/// nobody opens hangs, so make sure every path of a test opens it.
public final class Gate: Sendable {
  private let state = Mutex<(open: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

  /// Creates a closed gate.
  public init() {}

  /// Opens the gate and lets every current and future waiter through.
  public func open() {
    let waiters = state.withLock { state in
      state.open = true
      defer { state.waiters = [] }
      return state.waiters
    }
    for waiter in waiters { waiter.resume() }
  }

  /// Returns once the gate is open; at once if it already is.
  public func wait() async {
    await withCheckedContinuation { continuation in
      let isOpen = state.withLock { state in
        if !state.open { state.waiters.append(continuation) }
        return state.open
      }
      if isOpen { continuation.resume() }
    }
  }
}
