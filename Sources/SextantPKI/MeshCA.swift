import Synchronization

/// The mesh CA in use now: a holder whose `CertificateAuthority` is replaced when valid new CA material arrives.
///
/// Readers take `authority` per use (issuing, building a root bundle) and never keep it, so a replacement takes
/// effect for every certificate issued afterwards. `generation` grows by one per replacement; consumers that cache
/// derived material (the SDS `ROOTCA`, the serving certificate) compare it, or wait on `changes()`.
package final class MeshCA: Sendable {
  private struct State {
    var authority: CertificateAuthority
    var generation: UInt64
    var watchers: [Int: AsyncStream<UInt64>.Continuation] = [:]
    var nextWatcher = 0
  }

  private let state: Mutex<State>

  package init(_ authority: CertificateAuthority) {
    state = Mutex(State(authority: authority, generation: 0))
  }

  /// The CA to issue with now.
  package var authority: CertificateAuthority { state.withLock { $0.authority } }

  /// How many times the authority was replaced.
  package var generation: UInt64 { state.withLock { $0.generation } }

  /// Installs `authority` (already verified by the caller) and tells every `changes()` stream.
  package func replace(_ authority: CertificateAuthority) {
    let (generation, watchers) = state.withLock { state in
      state.authority = authority
      state.generation += 1
      return (state.generation, Array(state.watchers.values))
    }
    for watcher in watchers { watcher.yield(generation) }
  }

  /// The generation after each replacement from now on; ends when the consuming task is cancelled.
  package func changes() -> AsyncStream<UInt64> {
    let (stream, continuation) = AsyncStream.makeStream(of: UInt64.self, bufferingPolicy: .bufferingNewest(1))
    let id = state.withLock { state in
      defer { state.nextWatcher += 1 }
      state.watchers[state.nextWatcher] = continuation
      return state.nextWatcher
    }
    continuation.onTermination = { [weak self] _ in
      _ = self?.state.withLock { $0.watchers.removeValue(forKey: id) }
    }
    return stream
  }
}
