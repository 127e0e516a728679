import SextantGeneration
import SextantRegistry
import SextantXDS

/// What the admin endpoints read: injected by SextantControlPlane (`ControlPlaneAssembly`) so this module owns no state of its own.
package struct AdminState: Sendable {
  /// Whether Sextant is ready to serve, and what it still waits for.
  package struct Readiness: Sendable, Hashable {
    package var ready: Bool
    /// Human-readable reasons it is not ready (for example `cluster cluster2: syncing`).
    package var waitingFor: [String]

    package init(ready: Bool, waitingFor: [String] = []) {
      self.ready = ready
      self.waitingFor = waitingFor
    }
  }

  package var readiness: @Sendable () -> Readiness
  package var snapshot: @Sendable () -> MeshSnapshot
  package var connections: ConnectionRegistry
  /// The metrics in Prometheus text format.
  package var metrics: @Sendable () -> String
  /// Errors from sources (for example a file that did not parse), keyed by where.
  package var sourceErrors: @Sendable () -> [String: String]

  package init(
    readiness: @escaping @Sendable () -> Readiness,
    snapshot: @escaping @Sendable () -> MeshSnapshot,
    connections: ConnectionRegistry,
    metrics: @escaping @Sendable () -> String,
    sourceErrors: @escaping @Sendable () -> [String: String] = { [:] }
  ) {
    self.readiness = readiness
    self.snapshot = snapshot
    self.connections = connections
    self.metrics = metrics
    self.sourceErrors = sourceErrors
  }
}
