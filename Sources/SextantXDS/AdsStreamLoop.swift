import EnvoyAPI
import GRPCCore
import Logging
import SextantPKI

/// One ADS stream's logic, whatever its protocol: state of the world (``AdsSession``) or delta
/// (``DeltaAdsSession``). ``AdsServer/runStream(requests:writer:peer:identity:makeSession:)`` drives it.
protocol AdsStreamSession: SendableMetatype {
  associatedtype Request: Sendable
  associatedtype Response: Sendable

  /// The connection event that carries one of this session's requests.
  static func event(carrying request: Request) -> AdsConnection.Event
  /// The request an event carries, when it is one of this session's.
  static func request(carriedBy event: AdsConnection.Event) -> Request?

  var logger: Logger { get }
  /// Handles one request of the proxy; throws to end the stream.
  mutating func handle(_ request: Request, writer: RPCWriter<Response>) async throws
  /// Sends what a (coalesced) push changes for this proxy.
  mutating func push(_ request: PushRequest, writer: RPCWriter<Response>) async throws
  /// Resends secrets that are out of date (the mesh CA changed, or a certificate is due).
  mutating func refreshSecrets(writer: RPCWriter<Response>) async throws
  /// The stream ended.
  mutating func close()
}

extension AdsServer {
  /// Runs one stream until the proxy closes it, the server ends it or the session throws.
  ///
  /// Registers the stream's ``AdsConnection`` (the push pipeline's mailbox) and handles, one at a time and in
  /// order, the proxy's requests, coalesced pushes and secret refreshes (the mesh CA's changes and a periodic
  /// renewal check, when the server answers SDS). Every queue is bounded: requests are read from gRPC one at a time,
  /// only after the previous one was handled (``RequestHandOff``); pushes and refreshes coalesce in the connection.
  /// A stream beyond ``XDSLimits/maximumStreams`` ends at once with RESOURCE_EXHAUSTED; a response not written
  /// within ``XDSLimits/sendTimeout`` ends it with DEADLINE_EXCEEDED (``DeadlineWriter``); a limit the session
  /// enforces ends it with the limit's status. Each is logged at warning with the peer (and proxy) and counted.
  func runStream<Session: AdsStreamSession>(
    requests: RPCAsyncSequence<Session.Request, any Error>,
    writer grpcWriter: RPCWriter<Session.Response>,
    peer: String,
    identity: CallerIdentity?,
    makeSession: (AdsConnection) -> Session
  ) async throws {
    let open = connections.count
    guard open < limits.maximumStreams else {
      let error = XDSLimitError(
        .tooManyStreams,
        "\(open) ADS streams are open and at most \(limits.maximumStreams) are served; try again later or another "
          + "instance", context: "peer \(peer)")
      error.record(logger: logger)
      throw error.rpcError
    }
    // At most: one request (the reader waits for it to be handled), one push, one secrets refresh, two closes.
    let (events, continuation) = AsyncStream.makeStream(
      of: AdsConnection.Event.self, bufferingPolicy: .bufferingOldest(8))
    let connection = AdsConnection(
      id: "\(peer)-\(counter.next())", peer: peer, listener: listener, identity: identity?.description,
      events: continuation)
    let writer = RPCWriter(wrapping: DeadlineWriter(base: grpcWriter, timeout: limits.sendTimeout))
    let handOff = RequestHandOff()
    connections.add(connection)
    defer {
      connections.remove(connection)
      XDSMetrics.connected(count: connections.count)
    }
    try await withThrowingTaskGroup(of: Void.self) { group in
      group.addTask {
        do {
          for try await request in requests {
            await handOff.deliver { continuation.yield(Session.event(carrying: request)) }
            if Task.isCancelled { break }
          }
          continuation.yield(.closed(nil))
        } catch {
          continuation.yield(.closed(error))
        }
        continuation.finish()
      }
      if let secrets = security.secrets {
        group.addTask {
          for await _ in secrets.meshCA.changes() { connection.secretsChanged() }
        }
        group.addTask {
          while !Task.isCancelled {
            try await Task.sleep(for: secrets.renewalCheckInterval)
            connection.secretsChanged()
          }
        }
      }
      var session = makeSession(connection)
      defer {
        group.cancelAll()
        handOff.cancel()
      }
      do {
        for await event in events {
          switch event {
          case .request, .deltaRequest:
            if let request = Session.request(carriedBy: event) {
              defer { handOff.handled() }
              try await session.handle(request, writer: writer)
            }
          case .push:
            if let push = connection.takePending() {
              try await session.push(push, writer: writer)
            }
          case .secrets:
            if connection.takeSecretsDue() { try await session.refreshSecrets(writer: writer) }
          case .closed(let error):
            session.close()
            if let error { session.logger.debug("stream ended", metadata: ["error": "\(error)"]) }
            return
          }
        }
      } catch var error as XDSLimitError {
        session.close()
        let proxy = connection.snapshot.proxy.map { ", proxy \($0.nodeID)" } ?? ""
        if error.context.isEmpty { error.context = "peer \(peer)\(proxy)" }
        var logger = session.logger
        logger[metadataKey: "peer"] = "\(peer)"
        error.record(logger: logger)
        throw error.rpcError
      }
    }
  }

  /// Authenticates a new stream when the server requires it (the secure port): the caller's identity, or the error
  /// the stream is refused with; also returns the closure that checks the credential again later.
  func authenticateStream(
    peer: String, metadata: Metadata
  ) async -> Result<
    (identity: CallerIdentity?, reauthenticate: (@Sendable () async throws -> CallerIdentity)?), RPCError
  > {
    guard let authenticate = security.authenticate else { return .success((nil, nil)) }
    let identity: CallerIdentity
    do {
      identity = try await authenticate(peer, metadata)
    } catch {
      XDSMetrics.authenticationFailed()
      logger.warning("refused an ADS stream", metadata: ["peer": "\(peer)", "error": "\(error)"])
      return .failure((error as? RPCError) ?? RPCError(code: .unauthenticated, message: "\(error)"))
    }
    // Before a stream's certificate is reissued, its credential is checked again: a token may have expired or its
    // pod been deleted since the stream opened.
    return .success((identity, { try await authenticate(peer, metadata) }))
  }
}
