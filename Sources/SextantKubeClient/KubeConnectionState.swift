/// How a source's connection to its API server stands, as readiness and debug endpoints show it.
package enum KubeConnectionState: Sendable, Hashable, CustomStringConvertible {
  /// Not every collection has been listed yet.
  case syncing
  /// Every collection is listed and watched.
  case synced
  /// At least one collection cannot be listed or watched; the reason names it (`Pods: HTTP 403 Forbidden: ...`).
  /// Sources keep retrying and keep their last objects.
  case error(String)

  package var description: String {
    switch self {
    case .syncing: "syncing"
    case .synced: "synced"
    case .error(let reason): "error: \(reason)"
    }
  }
}
