/// Limits and timeouts of a `KubeClient`; the defaults suit a control plane.
package struct KubeClientOptions: Sendable, Hashable {
  /// Time allowed to open a TCP connection (and finish the TLS handshake).
  package var connectTimeout: Duration = .seconds(5)
  /// Time allowed for one non-watch request, body included (one page of a list).
  package var requestTimeout: Duration = .seconds(60)
  /// How long a watch may outlive its server-side `timeoutSeconds` before the client closes it itself, in case the
  /// connection died silently; the watch then ends normally and is re-established.
  package var watchGrace: Duration = .seconds(30)
  /// The largest body of a non-watch request (one list page).
  package var maximumResponseSize: Int = 256 << 20
  /// The largest single watch event (one line of the stream).
  package var maximumWatchEventSize: Int = 64 << 20
  /// `limit` of each list page.
  package var pageSize: Int = 500
  /// Sent as `User-Agent`.
  package var userAgent: String = "sextant"

  package init() {}
}
