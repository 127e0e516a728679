import Logging
import SextantKube
import SextantKubeClient
import Synchronization

/// Watches one cluster's API server and reports its objects as `ClusterSourceUpdate`s: the Kubernetes-backed
/// counterpart of `FileClusterSource`, for one cluster.
///
/// Informers run side by side over all namespaces, one per collection:
/// - always (the registry's inputs, `ObjectKind.registryKinds`): Namespaces, Services, EndpointSlices
///   (discovery.k8s.io/v1, else v1beta1), Endpoints, Pods and Nodes;
/// - with `KubeSourceOptions.watchIstioConfig` (the primary cluster only; `ObjectKind.istioConfigKinds`): Gateways
///   and VirtualServices (networking.istio.io/v1, else v1beta1, else v1alpha3; see `VersionedResourceSource`). Where
///   none of these versions is served (the Istio CRDs are not installed) the collections are empty and count as
///   listed, and discovery is asked again at every watch timeout, so CRDs installed later are picked up. Without the
///   option no request for them is ever made.
///
/// Objects are stored as the registry reads them: `metadata.resourceVersion` is cleared (so writes that change
/// nothing Sextant decodes do not cause updates) and v1beta1 slices are converted. A list item that does not decode
/// is left out and logged (naming it and the field); the rest of the collection is kept.
///
/// Reporting:
/// - `onUpdates([.state(all objects), .synced])` once the first list of every informer that runs is in;
/// - afterwards `onUpdates([.state(all objects)])` after changes, coalesced: informers apply events as they
///   arrive, and one emission carries everything applied since the previous one (a burst of events gives one or a
///   few emissions, never one per event); `onUpdates` is awaited, and changes arriving meanwhile are batched into
///   the next emission;
/// - `onState`: `.syncing` at start, `.synced` when all lists are in, `.error(reason)` while any informer fails (the
///   reason names the collection: `Gateways: HTTP 403 Forbidden: ...`), `.synced` again once all recovered; only
///   changes are reported. The last objects stay in force while in error.
///
/// `run` returns when its task is cancelled, after shutting down the HTTP client it created (a client passed in
/// is left to its owner). It never reports `.removed`: that is for whoever removes the cluster.
package final class KubeClusterSource: Sendable {
  /// The cluster's ID, as in every update.
  package let clusterID: String
  package let options: KubeSourceOptions

  private enum Connection: Sendable {
    case client(KubeClientOwnership)
    case sources(Sources)
  }

  /// Where each collection is listed and watched.
  struct Sources: Sendable {
    var namespaces: any ListWatchSource<Namespace>
    var services: any ListWatchSource<KubeService>
    var endpointSlices: any ListWatchSource<EndpointSlice>
    var endpoints: any ListWatchSource<Endpoints>
    var pods: any ListWatchSource<Pod>
    var nodes: any ListWatchSource<Node>
    /// The Istio config collections: informers run for them (and sync waits for them) only when set, which
    /// `KubeClusterSource` does exactly when `watchIstioConfig` is on.
    var gateways: (any ListWatchSource<IstioGateway>)? = nil
    var virtualServices: (any ListWatchSource<IstioVirtualService>)? = nil
  }

  private let connection: Connection
  private let logger: Logger

  /// A source with its own `KubeClient`, created by `run` and shut down when it returns.
  ///
  /// - Throws: `KubeClientError` (`invalidConfiguration`) when the configuration cannot give a working TLS setup
  ///   (checked here, so a bad remote secret fails at once rather than inside `run`).
  package convenience init(
    clusterID: String,
    config: KubeClientConfig,
    options: KubeSourceOptions = KubeSourceOptions(),
    logger: Logger
  ) throws(KubeClientError) {
    if case .failure(let invalid) = ServerURL.parse(config.server) {
      throw KubeClientError(
        code: .invalidConfiguration, message: invalid.reason, clusterID: clusterID, url: config.server)
    }
    _ = try KubeClient.tlsConfiguration(for: config, clusterID: clusterID)
    self.init(clusterID: clusterID, connection: .client(.owned(config)), options: options, logger: logger)
  }

  /// A source using `client`, which its owner shuts down (after `run` returned).
  package convenience init(
    clusterID: String, client: KubeClient, options: KubeSourceOptions = KubeSourceOptions(), logger: Logger
  ) {
    self.init(clusterID: clusterID, connection: .client(.shared(client)), options: options, logger: logger)
  }

  /// A source over given list-watch sources (tests).
  convenience init(clusterID: String, sources: Sources, options: KubeSourceOptions, logger: Logger) {
    self.init(clusterID: clusterID, connection: .sources(sources), options: options, logger: logger)
  }

  private init(clusterID: String, connection: Connection, options: KubeSourceOptions, logger: Logger) {
    var logger = logger
    logger[metadataKey: "cluster"] = "\(clusterID)"
    self.clusterID = clusterID
    self.connection = connection
    self.options = options
    self.logger = logger
  }

  /// Lists and watches until the task is cancelled; see the type's documentation for what is reported when.
  package func run(
    onUpdates: @Sendable ([ClusterSourceUpdate]) async -> Void,
    onState: @Sendable (KubeConnectionState) async -> Void
  ) async {
    switch connection {
    case .client(let ownership):
      await ownership.withClient(clusterID: clusterID, options: options.client, logger: logger) { client in
        await run(sources: sources(client), onUpdates: onUpdates, onState: onState)
      }
    case .sources(let sources):
      await run(sources: sources, onUpdates: onUpdates, onState: onState)
    }
  }

  private func sources(_ client: KubeClient) -> Sources {
    var sources = Sources(
      namespaces: KubeResourceClient<Namespace>(client: client, resource: .namespaces, clusterID: clusterID),
      services: KubeResourceClient<KubeService>(client: client, resource: .services, clusterID: clusterID),
      endpointSlices: EndpointSliceSource.make(client: client, clusterID: clusterID, logger: logger),
      endpoints: KubeResourceClient<Endpoints>(client: client, resource: .endpoints, clusterID: clusterID),
      pods: KubeResourceClient<Pod>(client: client, resource: .pods, clusterID: clusterID),
      nodes: KubeResourceClient<Node>(client: client, resource: .nodes, clusterID: clusterID))
    if options.watchIstioConfig {
      sources.gateways = VersionedResourceSource.istioGateways(client: client, clusterID: clusterID, logger: logger)
      sources.virtualServices = VersionedResourceSource.istioVirtualServices(
        client: client, clusterID: clusterID, logger: logger)
    }
    return sources
  }

  // MARK: - Running

  /// What the informers have applied and the emitter has not reported yet.
  private struct Pending: Sendable {
    var objects = ClusterObjects()
    var dirty = false
    /// The kinds whose informers run: sync waits for each of them.
    var running: Set<ObjectKind> = []
    var listed: Set<ObjectKind> = []
    var states: [ObjectKind: InformerState] = [:]
    var syncedReported = false
  }

  private final class Shared: Sendable {
    let pending = Mutex(Pending())
  }

  private func run(
    sources: Sources,
    onUpdates: @Sendable ([ClusterSourceUpdate]) async -> Void,
    onState: @Sendable (KubeConnectionState) async -> Void
  ) async {
    let shared = Shared()
    let (signals, signal) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    await onState(.syncing)
    await withDiscardingTaskGroup { group in
      func start<Object: KubeResourceObject>(
        _ kind: ObjectKind, _ source: any ListWatchSource<Object>,
        transform: @escaping @Sendable (Object) -> Object = { $0 }, wrap: @escaping @Sendable (Object) -> KubeObject
      ) {
        shared.pending.withLock { _ = $0.running.insert(kind) }
        var informerLogger = logger
        informerLogger[metadataKey: "kind"] = "\(kind.rawValue)"
        let informer = Informer(
          source: source, name: kind.collectionName, watchTimeout: options.watchTimeout, backoff: options.backoff,
          transform: { object in
            var object = transform(object)
            object.metadata.resourceVersion = nil
            return object
          },
          logger: informerLogger, sleep: options.sleep)
        group.addTask {
          await informer.run(
            onChange: { change in
              shared.pending.withLock { pending in
                for object in change.upserted { pending.objects.upsert(wrap(object)) }
                for key in change.deleted {
                  pending.objects.remove(ObjectKey(kind: kind, namespace: key.namespace, name: key.name))
                }
                if change.kind == .initialList { pending.listed.insert(kind) }
                pending.dirty = true
              }
              signal.yield()
            },
            onState: { state in
              shared.pending.withLock { $0.states[kind] = state }
              signal.yield()
            })
        }
      }
      start(.namespace, sources.namespaces, wrap: { .namespace($0) })
      start(.service, sources.services, wrap: { .service($0) })
      start(
        .endpointSlice, sources.endpointSlices, transform: EndpointSliceSource.converted, wrap: { .endpointSlice($0) })
      start(.endpoints, sources.endpoints, wrap: { .endpoints($0) })
      start(.pod, sources.pods, wrap: { .pod($0) })
      start(.node, sources.nodes, wrap: { .node($0) })
      if let gateways = sources.gateways {
        start(.gateway, gateways, wrap: { .gateway($0) })
      }
      if let virtualServices = sources.virtualServices {
        start(.virtualService, virtualServices, wrap: { .virtualService($0) })
      }

      await emit(shared: shared, signals: signals, onUpdates: onUpdates, onState: onState)
      group.cancelAll()
    }
  }

  /// Reports what the informers applied, one emission per wake-up, until the task is cancelled.
  private func emit(
    shared: Shared,
    signals: AsyncStream<Void>,
    onUpdates: @Sendable ([ClusterSourceUpdate]) async -> Void,
    onState: @Sendable (KubeConnectionState) async -> Void
  ) async {
    var tracker = ConnectionStateTracker()
    for await _ in signals {
      let (events, states, syncedReported) = shared.pending.withLock {
        pending -> ([ClusterSourceEvent], [ObjectKind: InformerState], Bool) in
        var events: [ClusterSourceEvent] = []
        if !pending.syncedReported {
          if pending.listed.isSuperset(of: pending.running) {
            events = [.state(pending.objects), .synced]
            pending.syncedReported = true
            pending.dirty = false
          }
        } else if pending.dirty {
          events = [.state(pending.objects)]
          pending.dirty = false
        }
        return (events, pending.states, pending.syncedReported)
      }
      if !events.isEmpty {
        if events.count == 2, case .state(let objects) = events[0] {
          logger.info("Cluster synced", metadata: ["objects": "\(objects.count)"])
        }
        await onUpdates(events.map { ClusterSourceUpdate(clusterID: clusterID, event: $0) })
      }
      if let state = tracker.update(states: states, synced: syncedReported) {
        await onState(state)
      }
    }
  }
}

/// Folds the informers' states into the source's, reporting only real changes.
///
/// The source is in error while any informer is; the reason is that of one failing informer (the first by kind),
/// prefixed with its collection's name (`Pods: connection refused`, `Gateways: HTTP 403 Forbidden: ...`), and kept
/// while that informer stays in error, so that other collections failing or recovering during one outage do not
/// produce a new state each.
struct ConnectionStateTracker {
  private(set) var reported = KubeConnectionState.syncing
  private var errorKind: ObjectKind?

  /// The new state to report, or nil when it did not change.
  mutating func update(states: [ObjectKind: InformerState], synced: Bool) -> KubeConnectionState? {
    var failing: [(ObjectKind, KubeClientError)] = []
    for kind in ObjectKind.allCases.sorted() {
      if case .error(let error) = states[kind] { failing.append((kind, error)) }
    }
    let next: KubeConnectionState
    if let kind = errorKind, case .error? = states[kind], case .error = reported {
      return nil  // The informer whose failure is reported still fails: nothing new to say.
    } else if let (kind, error) = failing.first {
      errorKind = kind
      next = .error("\(kind.collectionName): \(error.message)")
    } else {
      errorKind = nil
      next = synced ? .synced : .syncing
    }
    guard next != reported else { return nil }
    reported = next
    return next
  }
}

extension ObjectKind {
  /// The collection's name in logs and error reasons: `Pods`, `Endpoints`, `Gateways`.
  var collectionName: String {
    switch self {
    case .namespace: "Namespaces"
    case .service: "Services"
    case .endpointSlice: "EndpointSlices"
    case .endpoints: "Endpoints"
    case .pod: "Pods"
    case .node: "Nodes"
    case .gateway: "Gateways"
    case .virtualService: "VirtualServices"
    }
  }
}
