import Foundation
import Logging
import ServiceLifecycle
import SextantAdmin
import SextantGeneration
import SextantKubeClient
import SextantPKI
import SextantRegistry
import SextantSources
import SextantXDS
import Synchronization

/// A whole control plane as one Service: cluster sources, registry, push pipeline, xDS servers, mesh trust and the
/// admin endpoints, wired from one `Configuration`.
///
/// `run()` resolves the mesh CA (throwing `StartupError` when its material is broken), starts every part in
/// `Stage` order and, at graceful shutdown, stops them in the reverse order: xDS servers first (open ADS streams
/// end, so proxies reconnect elsewhere), then the admin endpoints, the push pipeline, the sources, the trust
/// watchers and last the Kubernetes clients they all use. Run it in a `ServiceGroup` (the executable adds the
/// signal handlers) or directly in a test, which ends it by triggering graceful shutdown or cancelling the task.
public struct ControlPlane: Service {
  /// The order in which parts start; they stop in the reverse order.
  package enum Stage: Int, Comparable, CaseIterable, Sendable {
    /// Kubernetes clients shared by several parts (the primary's, for CA Secrets and TokenReviews).
    case clients
    /// Watchers that keep the mesh CA and the serving certificate current.
    case trust
    /// Cluster sources and the background lookups that feed the registry.
    case sources
    /// The debounced push pipeline.
    case pipeline
    /// Readiness, debug and metrics HTTP servers.
    case admin
    /// The gRPC servers (plaintext and secure xDS).
    case xds

    package static func < (lhs: Stage, rhs: Stage) -> Bool { lhs.rawValue < rhs.rawValue }
  }

  /// One part of the control plane: its stage, a name for logs and tests, and the service that runs it.
  package struct Part: Sendable {
    package var stage: Stage
    package var name: String
    package var service: any Service
  }

  public let configuration: Configuration
  let logger: Logger
  let metrics: @Sendable () -> String
  let observer: Observer

  /// - Parameters:
  ///   - configuration: what to watch and serve.
  ///   - logger: the root logger; each part logs under its own label (`sextant.registry`, `sextant.ads`, ...).
  ///   - metrics: the Prometheus exposition served at `/metrics` (the executable passes its registry's; the
  ///     metrics factory is bootstrapped by the executable, never here).
  public init(
    configuration: Configuration,
    logger: Logger = Logger(label: "sextant"),
    metrics: @escaping @Sendable () -> String = { "" }
  ) {
    self.init(configuration: configuration, logger: logger, metrics: metrics, observer: Observer())
  }

  package init(
    configuration: Configuration,
    logger: Logger,
    metrics: @escaping @Sendable () -> String,
    observer: Observer
  ) {
    self.configuration = configuration
    self.logger = logger
    self.metrics = metrics
    self.observer = observer
  }

  public func run() async throws {
    let assembly = try await ControlPlaneAssembly.assemble(
      configuration: configuration, metrics: metrics, logger: logger)
    observer.assembled(assembly)
    let parts = assembly.parts.enumerated().sorted { ($0.element.stage, $0.offset) < ($1.element.stage, $1.offset) }
      .map(\.element)
    logger.info("starting", metadata: assembly.startMetadata)
    var group = ServiceGroupConfiguration(
      services: parts.map {
        ServiceGroupConfiguration.ServiceConfiguration(service: NamedService(part: $0, observer: observer))
      },
      logger: logger
    )
    group.maximumGracefulShutdownDuration = configuration.maximumGracefulShutdownDuration
    try await ServiceGroup(configuration: group).run()
  }
}

extension ControlPlane {
  /// What tests see of a running control plane: the assembled parts and the order in which they stopped.
  package final class Observer: Sendable {
    private let state = Mutex<(assembly: ControlPlaneAssembly?, stopped: [String])>((nil, []))

    package init() {}

    /// The assembly once `run()` has built it.
    package var assembly: ControlPlaneAssembly? { state.withLock { $0.assembly } }
    /// Names of the parts whose service returned, in the order they did.
    package var stopped: [String] { state.withLock { $0.stopped } }

    func assembled(_ assembly: ControlPlaneAssembly) { state.withLock { $0.assembly = assembly } }
    func stopped(_ name: String) { state.withLock { $0.stopped.append(name) } }
  }

  /// Runs a part's service and records when it returned.
  struct NamedService: Service, CustomStringConvertible {
    let part: Part
    let observer: Observer

    var description: String { part.name }

    func run() async throws {
      defer { observer.stopped(part.name) }
      try await part.service.run()
    }
  }
}

/// A reason the control plane cannot start (broken CA material, say): one line for people.
public struct StartupError: Error, CustomStringConvertible {
  public var description: String

  package init(description: String) {
    self.description = description
  }
}
