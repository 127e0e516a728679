import SextantRegistry

extension AdminState.Readiness {
  /// Ready once every cluster of `snapshot` (and every cluster the registry expects) settled; otherwise the
  /// unsettled clusters of the registry's current snapshot, with their state and reason.
  ///
  /// The control plane judges the pushed snapshot, so ready means a proxy connecting now is given every cluster's
  /// initial state; until the first push of a loaded mesh it waits for "first push of the initial load".
  package static func judge(registry: MeshRegistry, snapshot: MeshSnapshot) -> AdminState.Readiness {
    if registry.allSynced(in: snapshot) { return AdminState.Readiness(ready: true) }
    let current = registry.current
    let waiting = current.sortedClusterIDs.compactMap { id -> String? in
      guard let info = current.clusters[id], !info.isSettled else { return nil }
      return "cluster \(id): \(info.state.rawValue)" + (info.reason.isEmpty ? "" : " (\(info.reason))")
    }
    return AdminState.Readiness(
      ready: false, waitingFor: waiting.isEmpty ? ["first push of the initial load"] : waiting)
  }
}
