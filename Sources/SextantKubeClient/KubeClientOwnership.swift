import Logging

/// Whose `KubeClient` a long-running watcher uses: one it creates and shuts down itself, or one its owner passes in.
///
/// Watchers (`SecretWatcher`, `KubeClusterSource`) keep one of these and call `withClient` from their `run`. An owned
/// client is created when `withClient` starts and shut down after `body` returns, however it returns. A shared
/// client is never shut down here: its owner does that, after every watcher using it has returned.
package enum KubeClientOwnership: Sendable {
  /// Create a client from this configuration for each `withClient`, and shut it down afterwards.
  case owned(KubeClientConfig)
  /// Use this client; its owner shuts it down.
  case shared(KubeClient)

  /// Runs `body` with the client: a new one for `.owned` (named `clusterID`, with `options` and `logger`), shut
  /// down once `body` returned; the given one for `.shared`, left running.
  package func withClient<Result>(
    clusterID: String, options: KubeClientOptions, logger: Logger, _ body: (KubeClient) async -> Result
  ) async -> Result {
    switch self {
    case .owned(let config):
      let client = KubeClient(clusterID: clusterID, config: config, options: options, logger: logger)
      let result = await body(client)
      await client.shutdown()
      return result
    case .shared(let client):
      return await body(client)
    }
  }
}
