import Foundation
import Logging
import Synchronization

/// The bearer token of a client: fixed, or read from a file that may be rotated (projected service-account tokens).
///
/// The file is re-read at most once per `refreshInterval`; while it cannot be read the last good token (or the
/// fixed one) is used, and the problem is logged once per distinct reason.
final class BearerToken: Sendable {
  static let refreshInterval: Duration = .seconds(60)

  private struct State {
    var token: String?
    var readAt: ContinuousClock.Instant?
    var lastFailure: String?
  }

  private let file: String?
  private let state: Mutex<State>

  init(token: String?, file: String?) {
    self.file = file
    self.state = Mutex(State(token: token.flatMap { $0.isEmpty ? nil : $0 }))
  }

  /// The token to send now, if any.
  func current(logger: Logger) -> String? {
    guard let file else { return state.withLock { $0.token } }
    let now = ContinuousClock.now
    return state.withLock { state in
      if let readAt = state.readAt, now - readAt < Self.refreshInterval { return state.token }
      state.readAt = now
      do {
        let text = try String(contentsOfFile: file, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        if text.isEmpty { throw CocoaError(.fileReadCorruptFile) }
        state.token = text
        if state.lastFailure != nil {
          logger.info("Token file readable again", metadata: ["path": "\(file)"])
          state.lastFailure = nil
        }
      } catch {
        let reason = "\(error.localizedDescription)"
        if state.lastFailure != reason {
          logger.warning(
            "Cannot read the token file; using the last token read",
            metadata: ["path": "\(file)", "reason": "\(reason)"])
          state.lastFailure = reason
        }
      }
      return state.token
    }
  }
}
