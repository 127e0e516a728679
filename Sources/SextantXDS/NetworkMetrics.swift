import Metrics
import SextantGeneration
import SextantRegistry
import Synchronization

/// Publishes `sextant_network_unreachable_endpoints{network,reason}`: endpoints that proxies on other networks
/// cannot reach (their network has no gateway, or they do not accept Istio mTLS), for every pushed snapshot.
///
/// A series that drops to nothing is recorded as 0 once, so a dashboard sees it recover.
final class NetworkMetrics: Sendable {
  static let name = "sextant_network_unreachable_endpoints"

  private struct Series: Hashable {
    var network: String
    var reason: SplitHorizon.Unreachable
  }

  private struct State {
    var version: UInt64 = 0
    var reported: Set<Series> = []
  }

  private let state = Mutex(State())

  /// Records `snapshot`'s counts unless a newer snapshot was recorded already (pushes may race).
  func record(_ snapshot: MeshSnapshot) {
    guard state.withLock({ snapshot.version > $0.version || $0.version == 0 }) else { return }
    let counts = snapshot.unreachableEndpoints()
    var current: [Series: Int] = [:]
    for (network, reasons) in counts {
      for (reason, count) in reasons { current[Series(network: network, reason: reason)] = count }
    }
    // Under the lock, so two pushes cannot interleave their gauges and leave an older snapshot's values.
    state.withLock { state in
      guard snapshot.version >= state.version else { return }
      state.version = snapshot.version
      for series in state.reported.subtracting(current.keys) { gauge(series).record(0) }
      for (series, count) in current { gauge(series).record(count) }
      state.reported = Set(current.keys)
    }
  }

  private func gauge(_ series: Series) -> Gauge {
    Gauge(label: Self.name, dimensions: [("network", series.network), ("reason", series.reason.rawValue)])
  }
}
