import Logging
import SextantKube
import Synchronization

/// Lists and watches one collection in the first of several API versions that the server serves, in order of
/// preference: for resources whose served versions differ between clusters (EndpointSlices by Kubernetes release,
/// custom resources by what is installed).
///
/// Which versions are served is looked up (API discovery, `KubeClient.isServed`) before every list, so a server that
/// starts or stops serving a version (an upgrade; CRDs installed or removed) is followed at the next list; a watch
/// uses the version of the last list. When none is served:
/// - `list` returns no items (at resourceVersion `""`): the collection is empty and counts as listed;
/// - `watch` makes no request and waits out its timeout (the informer then watches again); each such watch after
///   the first one past a list asks discovery first, and once a version is served it fails with `gone`, so the
///   informer lists again, now in that version. CRDs installed later are thus picked up within about one watch
///   timeout.
///
/// A watch refused with 404 (the version stopped being served, for example its CRD was deleted) asks discovery
/// again and fails with `gone` when the choice changed, so the collection is listed again (empty, if nothing is
/// served any more) instead of retrying a watch that cannot succeed.
///
/// Each change of choice is logged once: the version used (info), or that none is served (at `notServedLevel`).
/// Errors of discovery (anything but a 404 for the group version) are thrown like list errors, so "not served" is
/// never confused with "unreachable".
package final class VersionedResourceSource<Object: KubeResourceObject>: ListWatchSource {
  package let client: KubeClient
  package let clusterID: String
  /// Names the collection in logs (`Gateways`).
  package let name: String
  /// The versions to try, preferred first; never empty.
  package let candidates: [KubeResource]
  private let notServedLevel: Logger.Level
  private let notServedConsequence: String
  private let idle: @Sendable (Duration) async throws -> Void
  private let logger: Logger

  private struct State {
    /// The result of the last lookup: nil before the first, `.some(nil)` when no candidate was served.
    package var chosen: KubeResource?? = nil
    /// Whether the last lookup was made by `list` with no watch since: the first idle watch after a list does not
    /// ask again.
    package var lookedUpByList = false
  }

  private let state = Mutex(State())

  /// - Parameters:
  ///   - candidates: The versions to try, preferred first (at least one).
  ///   - notServedLevel: The level of the log line saying no candidate is served.
  ///   - notServedConsequence: What that means, ending the log line (`only Endpoints are used`).
  ///   - idle: Waits out the timeout of a watch of a collection that is not served; tests inject one they control.
  package init(
    client: KubeClient,
    clusterID: String,
    name: String,
    candidates: [KubeResource],
    notServedLevel: Logger.Level,
    notServedConsequence: String,
    logger: Logger,
    idle: @escaping @Sendable (Duration) async throws -> Void = { try await Task.sleep(for: $0) }
  ) {
    precondition(!candidates.isEmpty, "a versioned resource needs at least one candidate version")
    self.client = client
    self.clusterID = clusterID
    self.name = name
    self.candidates = candidates
    self.notServedLevel = notServedLevel
    self.notServedConsequence = notServedConsequence
    self.logger = logger
    self.idle = idle
  }

  /// The version chosen by the last lookup; nil before the first lookup and while none is served.
  package var chosen: KubeResource? { state.withLock { $0.chosen ?? nil } }

  package var url: String { client.server + (chosen ?? candidates[0]).path }

  package func list() async throws(KubeClientError) -> ObjectList<Object> {
    let resource = try await lookUp()
    state.withLock { $0.lookedUpByList = true }
    guard let resource else { return ObjectList(items: [], resourceVersion: "") }
    return try await resourceClient(resource).list()
  }

  package func watch(
    resourceVersion: String, timeout: Duration
  ) async throws(KubeClientError) -> AsyncThrowingStream<[WatchEvent<Object>], any Error> {
    let (current, fresh) = state.withLock { state in
      defer { state.lookedUpByList = false }
      return (state.chosen ?? nil, state.lookedUpByList)
    }
    guard let current else {
      if !fresh, let served = try await lookUp() {
        throw KubeClientError(
          code: .gone, message: "\(served.group)/\(served.version) \(served.plural) is served now",
          clusterID: clusterID, url: client.server + served.path)
      }
      return idleStream(timeout)
    }
    do {
      return try await resourceClient(current).watch(resourceVersion: resourceVersion, timeout: timeout)
    } catch {
      guard error.code == .notFound else { throw error }
      // The version may have stopped being served: look again, and list again if the choice changed.
      let now = try await lookUp()
      guard now == current else {
        throw KubeClientError(
          code: .gone,
          message: "\(current.group)/\(current.version) \(current.plural) is no longer served (\(error.message))",
          clusterID: clusterID, url: error.url)
      }
      throw error
    }
  }

  /// A "watch" of a collection that is not served: no events, ending normally after `timeout`.
  private func idleStream(_ timeout: Duration) -> AsyncThrowingStream<[WatchEvent<Object>], any Error> {
    let idle = self.idle
    return AsyncThrowingStream { continuation in
      let task = Task {
        try? await idle(timeout)
        continuation.finish()
      }
      continuation.onTermination = { _ in task.cancel() }
    }
  }

  private func resourceClient(_ resource: KubeResource) -> KubeResourceClient<Object> {
    KubeResourceClient<Object>(client: client, resource: resource, clusterID: clusterID)
  }

  /// The first candidate served now (nil when none is); logs when it differs from the previous lookup's.
  private func lookUp() async throws(KubeClientError) -> KubeResource? {
    var found: KubeResource?
    for candidate in candidates {
      let served: Bool
      do {
        served = try await client.isServed(
          group: candidate.group, version: candidate.version, resource: candidate.plural)
      } catch {
        var error = error
        error.clusterID = clusterID
        throw error
      }
      if served {
        found = candidate
        break
      }
    }
    let previous = state.withLock { state in
      defer { state.chosen = .some(found) }
      return state.chosen
    }
    if previous == nil || previous! != found {
      if let found {
        logger.info("\(name): using \(found.group)/\(found.version)", metadata: ["server": "\(client.server)"])
      } else {
        let versions = candidates.map { "\($0.group)/\($0.version)" }.joined(separator: ", ")
        logger.log(
          level: notServedLevel, "\(name) are not served (none of \(versions)); \(notServedConsequence)",
          metadata: ["server": "\(client.server)"])
      }
    }
    return found
  }
}

extension VersionedResourceSource where Object == IstioGateway {
  /// networking.istio.io Gateways in `IstioAPI.networkingVersions` order (v1, v1beta1, v1alpha3).
  package static func istioGateways(client: KubeClient, clusterID: String, logger: Logger) -> Self {
    Self.istioNetworking(client: client, clusterID: clusterID, name: "Gateways", plural: "gateways", logger: logger)
  }
}

extension VersionedResourceSource where Object == IstioVirtualService {
  /// networking.istio.io VirtualServices in `IstioAPI.networkingVersions` order (v1, v1beta1, v1alpha3).
  package static func istioVirtualServices(client: KubeClient, clusterID: String, logger: Logger) -> Self {
    Self.istioNetworking(
      client: client, clusterID: clusterID, name: "VirtualServices", plural: "virtualservices", logger: logger)
  }
}

extension VersionedResourceSource {
  /// The candidate versions of an Istio networking resource, newest first, from `IstioAPI.networkingVersions`.
  package static func istioNetworkingCandidates(_ plural: String) -> [KubeResource] {
    IstioAPI.networkingVersions.map { apiVersion in
      let version = apiVersion.split(separator: "/").last.map(String.init) ?? apiVersion
      return KubeResource.istioNetworking(plural, version: version)
    }
  }

  /// An Istio networking resource; "not served" (the Istio CRDs are not installed, the normal case for a cluster
  /// without Istio) is logged at info.
  package static func istioNetworking(
    client: KubeClient, clusterID: String, name: String, plural: String, logger: Logger,
    idle: @escaping @Sendable (Duration) async throws -> Void = { try await Task.sleep(for: $0) }
  ) -> Self {
    Self(
      client: client, clusterID: clusterID, name: name, candidates: istioNetworkingCandidates(plural),
      notServedLevel: .info,
      notServedConsequence: "the Istio CRDs are not installed: none are read, and discovery is asked again at "
        + "every watch timeout",
      logger: logger, idle: idle)
  }
}
