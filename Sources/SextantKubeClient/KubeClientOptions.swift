/// Limits and timeouts of a `KubeClient`; the defaults suit a control plane.
package struct KubeClientOptions: Sendable, Hashable {
  /// Time allowed to open a TCP connection (and finish the TLS handshake).
  package var connectTimeout: Duration = .seconds(5)
  /// Time allowed for one non-watch request, body included (one page of a list).
  package var requestTimeout: Duration = .seconds(60)
  /// How long a watch may outlive its server-side `timeoutSeconds` before the client closes it itself, in case the
  /// connection died silently; the watch then ends normally and is re-established.
  package var watchGrace: Duration = .seconds(30)
  /// The largest body of a non-watch request (one list page), 32 MiB.
  ///
  /// A larger body ends that request with `responseTooLarge` (naming the cluster and URL) as soon as it passes the
  /// bound, so no more than this is held for it; the informer backs off, retries and keeps its last-known state.
  /// 500 items of a real cluster fit many times over.
  package var maximumResponseSize: Int = 32 << 20
  /// The largest single watch event (one line of the stream), 8 MiB.
  ///
  /// A longer line, or one that never ends, ends the watch with `responseTooLarge` once the bound is passed; the
  /// informer relists. etcd refuses objects over 1.5 MiB, so a real event is far smaller.
  package var maximumWatchEventSize: Int = 8 << 20
  /// `limit` of each list page.
  package var pageSize: Int = 500
  /// The most pages one list may take (with `pageSize` 500: 500,000 items).
  ///
  /// A server that keeps sending `continue` tokens ends the list with `responseTooLarge` after this many pages; the
  /// items of the earlier pages are dropped with the list.
  package var maximumListPages: Int = 1_000
  /// Sent as `User-Agent`.
  package var userAgent: String = "sextant"

  package init() {}
}
