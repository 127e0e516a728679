/// Suspends until the calling task is cancelled, then returns (it does not throw).
///
/// For fakes that must block like a long-poll until the test tears the task down; check `Task.isCancelled` or
/// throw afterwards if the caller must see cancellation.
public func suspendUntilCancelled() async {
  let (stream, continuation) = AsyncStream.makeStream(of: Void.self)
  _ = continuation
  for await _ in stream {}
}
