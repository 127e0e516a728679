import Metrics
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

  private let reported = Mutex<Set<Series>>([])

  func record(_ snapshot: MeshSnapshot) {
    let counts = snapshot.unreachableEndpoints()
    var current: [Series: Int] = [:]
    for (network, reasons) in counts {
      for (reason, count) in reasons { current[Series(network: network, reason: reason)] = count }
    }
    let gone = reported.withLock { reported in
      defer { reported = Set(current.keys) }
      return reported.subtracting(current.keys)
    }
    for series in gone { gauge(series).record(0) }
    for (series, count) in current { gauge(series).record(count) }
  }

  private func gauge(_ series: Series) -> Gauge {
    Gauge(label: Self.name, dimensions: [("network", series.network), ("reason", series.reason.rawValue)])
  }
}
