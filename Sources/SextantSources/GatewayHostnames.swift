import Synchronization

/// The addresses of gateway hostnames (RESOLVE_HOSTNAME_GATEWAYS), looked up in the background so that building a
/// cluster never waits for DNS.
///
/// `addresses(_:)` answers at once from the last lookup (nothing before the first one) and asks for a lookup of a
/// hostname it has not seen. `run(changed:)` does the lookups: new hostnames at once, every known one again each
/// `refresh`, and reports the hostnames whose answer changed, so the registry rebuilds what used them. A failed
/// lookup counts as an empty answer.
package final class GatewayHostnames: Sendable {
  private struct State {
    var answers: [String: [String]] = [:]
    /// Hostnames asked for and not yet looked up.
    var pending: Set<String> = []
  }

  /// How often every known hostname is looked up again.
  package let refresh: Duration
  private let lookup: @Sendable (String) async -> [String]
  private let state = Mutex(State())
  private let requests: AsyncStream<String>
  private let continuation: AsyncStream<String>.Continuation

  /// - Parameters:
  ///   - refresh: how often known hostnames are looked up again (istiod re-resolves on a similar period).
  ///   - lookup: the resolver; tests inject one.
  package init(
    refresh: Duration = .seconds(30), lookup: @escaping @Sendable (String) async -> [String] = HostResolver.lookup
  ) {
    self.refresh = refresh
    self.lookup = lookup
    (requests, continuation) = AsyncStream.makeStream(of: String.self, bufferingPolicy: .unbounded)
  }

  deinit { continuation.finish() }

  /// The last answer for `hostname`; empty (and a lookup is asked for) when it was never looked up.
  package func addresses(_ hostname: String) -> [String] {
    let (answer, ask) = state.withLock { state -> ([String]?, Bool) in
      if let answer = state.answers[hostname] { return (answer, false) }
      return (nil, state.pending.insert(hostname).inserted)
    }
    if ask { continuation.yield(hostname) }
    return answer ?? []
  }

  /// Looks hostnames up until the task is cancelled, calling `changed` (one at a time) with the hostnames whose
  /// addresses differ from the previous answer, the first answer included when it is not empty.
  package func run(changed: @escaping @Sendable (Set<String>) async -> Void) async {
    await withTaskGroup(of: Void.self) { group in
      group.addTask {
        // Refresh: ask again for every hostname known, each period.
        while !Task.isCancelled {
          do { try await Task.sleep(for: self.refresh) } catch { return }
          let known = self.state.withLock { state -> [String] in
            let names = state.answers.keys.filter { state.pending.insert($0).inserted }
            return Array(names)
          }
          for name in known { self.continuation.yield(name) }
        }
      }
      group.addTask {
        for await hostname in self.requests {
          let addresses = await self.lookup(hostname).sorted()
          let differs = self.state.withLock { state -> Bool in
            state.pending.remove(hostname)
            let previous = state.answers.updateValue(addresses, forKey: hostname)
            return (previous ?? []) != addresses
          }
          if differs { await changed([hostname]) }
        }
      }
      await group.next()
      group.cancelAll()
    }
  }
}
