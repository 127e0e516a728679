/// Limits and timeouts of a `KubeClient`; the defaults suit a control plane.
public struct KubeClientOptions: Sendable, Hashable {
  /// Time allowed to open a TCP connection (and finish the TLS handshake).
  public var connectTimeout: Duration = .seconds(5)
  /// Time allowed for one non-watch request, body included (one page of a list).
  public var requestTimeout: Duration = .seconds(60)
  /// How long a watch may outlive its server-side `timeoutSeconds` before the client closes it itself, in case the
  /// connection died silently; the watch then ends normally and is re-established.
  public var watchGrace: Duration = .seconds(30)
  /// The largest body of a non-watch request (one list page).
  public var maximumResponseSize: Int = 256 << 20
  /// The largest single watch event (one line of the stream).
  public var maximumWatchEventSize: Int = 64 << 20
  /// `limit` of each list page.
  public var pageSize: Int = 500
  /// Sent as `User-Agent`.
  public var userAgent: String = "sextant"

  public init() {}
}
