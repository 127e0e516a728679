/// Where an informer lists and watches one collection: a `KubeResourceClient` in production, a script in tests.
package protocol ListWatchSource<Object>: Sendable {
  associatedtype Object: KubeResourceObject

  /// The cluster the collection belongs to, for errors.
  var clusterID: String { get }
  /// The collection's URL, for logs and errors.
  var url: String { get }

  /// Lists the whole collection.
  func list() async throws(KubeClientError) -> ObjectList<Object>

  /// Starts a watch from `resourceVersion`, returning once the server accepted it; the stream yields the events in
  /// batches (see `KubeClient.watchBatches`) and throws `KubeClientError`s.
  func watch(
    resourceVersion: String, timeout: Duration
  ) async throws(KubeClientError) -> AsyncThrowingStream<[WatchEvent<Object>], any Error>
}

/// Lists and watches one `KubeResource` through a `KubeClient`, optionally filtered by a label selector.
///
/// Errors name `clusterID` (by default the client's).
package struct KubeResourceClient<Object: KubeResourceObject>: ListWatchSource {
  package let client: KubeClient
  package let resource: KubeResource
  package let labelSelector: String?
  package let clusterID: String

  package init(
    client: KubeClient,
    resource: KubeResource,
    as type: Object.Type = Object.self,
    labelSelector: String? = nil,
    clusterID: String? = nil
  ) {
    self.client = client
    self.resource = resource
    self.labelSelector = labelSelector
    self.clusterID = clusterID ?? client.clusterID
  }

  package var url: String { client.server + resource.path }

  private var query: [(String, String)] { labelSelector.map { [("labelSelector", $0)] } ?? [] }

  package func list() async throws(KubeClientError) -> ObjectList<Object> {
    do {
      return try await client.list(resource.path, as: Object.self, query: query)
    } catch {
      throw renamed(error)
    }
  }

  package func watch(
    resourceVersion: String, timeout: Duration
  ) async throws(KubeClientError) -> AsyncThrowingStream<[WatchEvent<Object>], any Error> {
    do {
      return try await client.watchBatches(
        resource.path, query: query, resourceVersion: resourceVersion, timeout: timeout)
    } catch {
      throw renamed(error)
    }
  }

  private func renamed(_ error: KubeClientError) -> KubeClientError {
    var error = error
    error.clusterID = clusterID
    return error
  }
}
