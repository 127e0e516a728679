/// Polls `condition` until it holds: true as soon as it does, false once `timeout` passed without it holding.
///
/// For conditions that nothing signals: state changed by another thread or task (an HTTP server's requests, a task
/// reaching its sleep on a `ManualClock`). The caller records the failure (`#expect(await eventually { ... })`).
/// `condition` is checked every `interval` and once more at the deadline; an error it throws ends the wait and is
/// rethrown. The timeout only bounds a failing test: a passing one returns as soon as the condition holds.
package func eventually(
  timeout: Duration = .seconds(20), every interval: Duration = .milliseconds(10),
  _ condition: () async throws -> Bool
) async rethrows -> Bool {
  let deadline = ContinuousClock.now + timeout
  while true {
    if try await condition() { return true }
    guard ContinuousClock.now < deadline else { return false }
    try? await Task.sleep(for: interval)
  }
}
