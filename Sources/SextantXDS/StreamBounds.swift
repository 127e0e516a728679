import GRPCCore
import Synchronization

/// Hands one request at a time from a stream's reader to its loop: the reader waits until the loop has handled the
/// request before it reads the next one from gRPC, so a client that floods requests is read no faster than the
/// session handles them (gRPC's own flow control then holds the rest back).
///
/// ``deliver(_:)`` is called by the reader only, ``handled()`` by the loop after each delivered request. Cancelling
/// the reader (the stream ended) releases a waiting ``deliver(_:)`` at once, and every later one returns at once.
final class RequestHandOff: Sendable {
  private struct State {
    var waiter: CheckedContinuation<Void, Never>?
    var cancelled = false
  }

  private let state = Mutex(State())

  /// Runs `announce` (which tells the loop about the request) and returns once the loop called ``handled()``.
  func deliver(_ announce: () -> Void) async {
    await withTaskCancellationHandler {
      await withCheckedContinuation { (waiter: CheckedContinuation<Void, Never>) in
        let cancelled = state.withLock { state -> Bool in
          if !state.cancelled { state.waiter = waiter }
          return state.cancelled
        }
        if cancelled {
          waiter.resume()
        } else {
          announce()
        }
      }
    } onCancel: {
      cancel()
    }
  }

  /// The loop finished with the delivered request: the reader may read the next one.
  func handled() {
    let waiter = state.withLock { state in
      defer { state.waiter = nil }
      return state.waiter
    }
    waiter?.resume()
  }

  /// Releases the reader for good (the stream ended).
  func cancel() {
    let waiter = state.withLock { state in
      state.cancelled = true
      defer { state.waiter = nil }
      return state.waiter
    }
    waiter?.resume()
  }
}

/// A writer that gives each write at most `timeout`: a proxy that does not read its responses (so gRPC's flow
/// control never lets a write finish) ends its stream with ``XDSLimitError/Code/sendTimeout`` instead of holding
/// the stream, and its pending pushes, forever.
///
/// The write in progress is cancelled when the deadline passes (gRPC's writers stop waiting when cancelled).
struct DeadlineWriter<Element: Sendable>: RPCWriterProtocol {
  let base: RPCWriter<Element>
  let timeout: Duration

  func write(_ element: Element) async throws {
    let base = self.base
    let timeout = self.timeout
    let written = try await withThrowingTaskGroup(of: Bool.self) { group in
      group.addTask {
        try await base.write(element)
        return true
      }
      group.addTask {
        try await Task.sleep(for: timeout)
        return false
      }
      defer { group.cancelAll() }
      return try await group.next() ?? false
    }
    guard written else {
      throw XDSLimitError(
        .sendTimeout, "the proxy did not read a response within \(timeout); disconnecting it so it reconnects")
    }
  }

  func write(contentsOf elements: some Sequence<Element>) async throws {
    for element in elements { try await write(element) }
  }
}
