import SextantRegistry
import SextantXDS

/// What the admin endpoints read: injected by the executable so this module owns no state of its own.
public struct AdminState: Sendable {
  /// Whether Sextant is ready to serve, and what it still waits for.
  public struct Readiness: Sendable, Hashable {
    public var ready: Bool
    /// Human-readable reasons it is not ready (for example `cluster cluster2: syncing`).
    public var waitingFor: [String]

    public init(ready: Bool, waitingFor: [String] = []) {
      self.ready = ready
      self.waitingFor = waitingFor
    }
  }

  public var readiness: @Sendable () -> Readiness
  public var snapshot: @Sendable () -> MeshSnapshot
  public var connections: ConnectionRegistry
  /// The metrics in Prometheus text format.
  public var metrics: @Sendable () -> String
  /// Errors from sources (for example a file that did not parse), keyed by where.
  public var sourceErrors: @Sendable () -> [String: String]

  public init(
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
