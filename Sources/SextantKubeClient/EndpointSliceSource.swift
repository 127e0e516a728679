import Logging
import SextantKube
import Synchronization

/// Lists and watches EndpointSlices in whichever version the server serves: discovery.k8s.io/v1 (Kubernetes 1.21
/// and later), else v1beta1 (1.17-1.24; the only one 1.20 serves).
///
/// The version is looked up (API discovery) before every list, so a server upgraded under a running control plane
/// is followed at the next relist; watches use the version of the last list. When neither is served (Kubernetes
/// before 1.17) the collection stays empty: its "watch" just waits out each watch timeout, without asking again. v1beta1 objects decode into the same `EndpointSlice`
/// model; `EndpointSliceSource.converted` fills `zone` and `nodeName` from v1beta1's `topology`.
final class EndpointSliceSource: ListWatchSource {
  let client: KubeClient
  let clusterID: String
  private let logger: Logger
  private let chosen = Mutex<KubeResource??>(nil)

  init(client: KubeClient, clusterID: String, logger: Logger) {
    self.client = client
    self.clusterID = clusterID
    self.logger = logger
  }

  var url: String {
    let resource = chosen.withLock { $0 ?? nil } ?? KubeResource.endpointSlicesV1
    return client.server + resource.path
  }

  func list() async throws(KubeClientError) -> ObjectList<EndpointSlice> {
    let resource: KubeResource?
    do {
      resource = try await resolve()
    } catch {
      var error = error
      error.clusterID = clusterID
      throw error
    }
    guard let resource else { return ObjectList(items: [], resourceVersion: "") }
    return try await KubeResourceClient<EndpointSlice>(client: client, resource: resource, clusterID: clusterID).list()
  }

  func watch(
    resourceVersion: String, timeout: Duration
  ) async throws(KubeClientError) -> AsyncThrowingStream<[WatchEvent<EndpointSlice>], any Error> {
    guard let resource = chosen.withLock({ $0 ?? nil }) else {
      // Not served: nothing to watch; end normally after the timeout, so the informer simply waits again.
      return AsyncThrowingStream { continuation in
        let task = Task {
          try? await Task.sleep(for: timeout)
          continuation.finish()
        }
        continuation.onTermination = { _ in task.cancel() }
      }
    }
    return try await KubeResourceClient<EndpointSlice>(client: client, resource: resource, clusterID: clusterID).watch(
      resourceVersion: resourceVersion, timeout: timeout)
  }

  /// The version served now; logs when it differs from the previous choice.
  private func resolve() async throws(KubeClientError) -> KubeResource? {
    var resource: KubeResource?
    if try await client.isServed(group: "discovery.k8s.io", version: "v1", resource: "endpointslices") {
      resource = .endpointSlicesV1
    } else if try await client.isServed(group: "discovery.k8s.io", version: "v1beta1", resource: "endpointslices") {
      resource = .endpointSlicesV1beta1
    }
    let previous = chosen.withLock { chosen in
      defer { chosen = .some(resource) }
      return chosen
    }
    if previous == nil || previous! != resource {
      if let resource {
        logger.info(
          "EndpointSlices: using \(resource.group)/\(resource.version)", metadata: ["server": "\(client.server)"])
      } else {
        logger.warning(
          "EndpointSlices are not served (neither discovery.k8s.io/v1 nor v1beta1); only Endpoints are used",
          metadata: ["server": "\(client.server)"])
      }
    }
    return resource
  }

  /// A slice as v1 reads it: endpoint `zone` and `nodeName` taken from v1beta1's `topology` when not set (as the
  /// API server converts them). A no-op for v1 slices, which have no `topology`.
  static func converted(_ slice: EndpointSlice) -> EndpointSlice {
    guard var endpoints = slice.endpoints, endpoints.contains(where: { $0.topology != nil }) else { return slice }
    var slice = slice
    for index in endpoints.indices {
      guard let topology = endpoints[index].topology else { continue }
      if endpoints[index].zone == nil { endpoints[index].zone = topology["topology.kubernetes.io/zone"] }
      if endpoints[index].nodeName == nil { endpoints[index].nodeName = topology["kubernetes.io/hostname"] }
    }
    slice.endpoints = endpoints
    return slice
  }
}
