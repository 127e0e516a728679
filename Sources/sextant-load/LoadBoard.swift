import SwiftProtobuf
import Synchronization

/// What the simulated proxies report, shared with the run that reads it: one entry per proxy, and the arrivals of
/// the EDS cluster a change is waiting for.
final class LoadBoard: Sendable {
  struct Entry {
    var connected: ContinuousClock.Instant?
    /// When every type the proxy asked for had answered for the first time.
    var synced: ContinuousClock.Instant?
    var responses = 0
    var bytes = 0
    var nacks = 0
    var failure: String?
  }

  private struct State {
    var proxies: [Entry]
    /// The EDS cluster a change waits for, and when each proxy received it.
    var target: String?
    var arrivals: [Int: ContinuousClock.Instant] = [:]
    /// Cluster names by a hash of a CDS response's resources: every proxy gets the same CDS, decoded once.
    var edsNamesByCDS: [Int: [String]] = [:]
    /// Over delta: a cluster's EDS name (nil: not EDS) and a listener's route names, by a hash of the resource's bytes.
    var edsNameByResource: [Int: String?] = [:]
    var routesByResource: [Int: Set<String>] = [:]
  }

  private let state: Mutex<State>

  init(proxies: Int) {
    state = Mutex(State(proxies: Array(repeating: Entry(), count: proxies)))
  }

  func connected(_ proxy: Int, at instant: ContinuousClock.Instant) {
    state.withLock { $0.proxies[proxy].connected = instant }
  }

  func responded(_ proxy: Int, bytes: Int) {
    state.withLock {
      $0.proxies[proxy].responses += 1
      $0.proxies[proxy].bytes += bytes
    }
  }

  func synced(_ proxy: Int, at instant: ContinuousClock.Instant) {
    state.withLock { $0.proxies[proxy].synced = $0.proxies[proxy].synced ?? instant }
  }

  func failed(_ proxy: Int, _ message: String) {
    state.withLock { $0.proxies[proxy].failure = $0.proxies[proxy].failure ?? message }
  }

  /// The proxy's stream would have NACKed: its response did not decode.
  func nacked(_ proxy: Int) {
    state.withLock { $0.proxies[proxy].nacks += 1 }
  }

  var entries: [Entry] { state.withLock { $0.proxies } }

  /// Starts waiting for `cluster`: arrivals recorded from now on.
  func track(_ cluster: String) {
    state.withLock {
      $0.target = cluster
      $0.arrivals = [:]
    }
  }

  /// Records `proxy`'s first arrival of the tracked cluster, if `names` (the assignments of one EDS response)
  /// hold it; compared under the lock, so a response racing `track(_:)` is judged against one target.
  func arrived(_ proxy: Int, names: some Sequence<String>, at instant: ContinuousClock.Instant) {
    state.withLock { state in
      guard let target = state.target, state.arrivals[proxy] == nil, names.contains(target) else { return }
      state.arrivals[proxy] = instant
    }
  }

  var arrivals: [Int: ContinuousClock.Instant] { state.withLock { $0.arrivals } }

  /// The EDS cluster names of a CDS response, computed by `decode` only for a response not seen before.
  func edsNames(key: Int, decode: () throws -> [String]) rethrows -> [String] {
    if let known = state.withLock({ $0.edsNamesByCDS[key] }) { return known }
    let names = try decode()
    state.withLock { $0.edsNamesByCDS[key] = names }
    return names
  }

  /// The EDS name of a delta CDS resource (nil: not of type EDS), computed by `decode` only for bytes not seen before
  /// (every proxy gets the same resources, so each is decoded once per run, not once per proxy).
  func clusterEDSName(_ resource: Google_Protobuf_Any, decode: () throws -> String?) rethrows -> String? {
    let key = resource.value.hashValue
    if let known = state.withLock({ $0.edsNameByResource[key] }) { return known }
    let name = try decode()
    state.withLock { $0.edsNameByResource[key] = .some(name) }
    return name
  }

  /// The route names of a delta LDS resource, computed by `decode` only for bytes not seen before.
  func listenerRoutes(_ resource: Google_Protobuf_Any, decode: () throws -> Set<String>) rethrows -> Set<String> {
    let key = resource.value.hashValue
    if let known = state.withLock({ $0.routesByResource[key] }) { return known }
    let routes = try decode()
    state.withLock { $0.routesByResource[key] = routes }
    return routes
  }
}
