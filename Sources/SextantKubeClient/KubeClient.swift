import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOSSL
import SextantBase

/// An HTTPS client for one Kubernetes API server: GET, POST, paginated list, watch and API discovery, with JSON
/// bodies.
///
/// Owns an `HTTPClient` (connect timeout from `KubeClientOptions`, no redirects, no automatic connection retries:
/// failures surface at once and the caller's backoff decides). Call `shutdown()` once done; a client is Sendable and
/// serves any number of concurrent requests and watches (HTTP/2 when the server offers it).
///
/// Every error is a `KubeClientError` naming the cluster and the URL, classified by cause (connection, TLS,
/// timeout, 401, 403, 404, 410, 429, 5xx, decoding).
///
/// Authentication: a bearer token (re-read from `tokenFile` at most once a minute when set) and/or a client
/// certificate. `tlsServerName` is honoured exactly: the request URL is rewritten to that name and the connection
/// is pointed at the real host through async-http-client's `dnsOverride`, so SNI and certificate verification both
/// use `tlsServerName` while the TCP connection goes to the configured server (the `Host` header then carries the
/// TLS name, which API servers ignore). Errors and logs always show the configured server URL.
package final class KubeClient: Sendable {
  /// The cluster this client talks to, for errors and logs.
  package let clusterID: String
  /// The configured server URL (`KubeClientConfig.server`, normalized).
  package let server: String
  package let options: KubeClientOptions

  private let http: HTTPClient
  /// The base requests are sent to: `server`, or `server` with its host replaced by the TLS server name.
  private let requestBase: String
  /// Why the configuration cannot work, if it cannot: every request fails with it.
  private let configurationError: KubeClientError?
  private let token: BearerToken
  private let logger: Logger

  /// Creates a client; no connection is made until the first request.
  ///
  /// Never fails: a configuration that cannot work (a server URL that is not http(s), a CA, client certificate or
  /// key NIOSSL cannot load) makes every request fail with `invalidConfiguration`, so the problem surfaces where
  /// connection problems do. Configurations from `Kubeconfig.clientConfig` and `inCluster` are already checked;
  /// `tlsConfiguration(for:clusterID:)` checks one up front.
  ///
  /// - Parameters:
  ///   - clusterID: Names the cluster in errors and logs; nil takes the logger's `cluster` metadata, else the
  ///     server's host.
  ///   - logger: Receives token-file problems and debug details; the caller decides what to log about the errors
  ///     it receives.
  package init(
    clusterID: String? = nil,
    config: KubeClientConfig,
    options: KubeClientOptions = KubeClientOptions(),
    logger: Logger
  ) {
    let parsed = ServerURL.parse(config.server)
    let clusterID =
      clusterID ?? logger[metadataKey: "cluster"].map { "\($0)" } ?? (try? parsed.get().host) ?? config.server
    var logger = logger
    logger[metadataKey: "cluster"] = "\(clusterID)"
    self.clusterID = clusterID
    self.options = options
    self.logger = logger
    self.token = BearerToken(token: config.token, file: config.tokenFile)

    var configuration = HTTPClient.Configuration()
    configuration.redirectConfiguration = .disallow
    configuration.timeout = HTTPClient.Configuration.Timeout(
      connect: .nanoseconds(options.connectTimeout.inNanoseconds))
    configuration.connectionPool.retryConnectionEstablishment = false
    configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = 32
    configuration.decompression = .disabled
    var configurationError: KubeClientError?
    var requestBase: String
    switch parsed {
    case .success(let url):
      server = url.normalized
      requestBase = url.normalized
      if url.scheme == "https" {
        do {
          configuration.tlsConfiguration = try Self.tlsConfiguration(for: config, clusterID: clusterID)
        } catch {
          configurationError = error
        }
        if let name = config.tlsServerName, !name.isEmpty, name != url.host {
          configuration.dnsOverride = [name: url.host]
          requestBase = ServerURL.compose(scheme: url.scheme, host: name, port: url.effectivePort, path: url.path)
        }
      }
    case .failure(let invalid):
      server = config.server
      requestBase = config.server
      configurationError = KubeClientError(
        code: .invalidConfiguration, message: invalid.reason, clusterID: clusterID, url: config.server)
    }
    self.requestBase = requestBase
    self.configurationError = configurationError
    self.http = HTTPClient(
      eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration, backgroundActivityLogger: logger)
  }

  /// The TLS configuration `config` implies; fails as the initializer does. Sources call it to reject a bad
  /// configuration before they start.
  package static func tlsConfiguration(
    for config: KubeClientConfig, clusterID: String
  ) throws(KubeClientError) -> TLSConfiguration {
    func invalid(_ message: String) -> KubeClientError {
      KubeClientError(code: .invalidConfiguration, message: message, clusterID: clusterID, url: config.server)
    }
    var tls = TLSConfiguration.makeClientConfiguration()
    if config.insecureSkipTLSVerify {
      tls.certificateVerification = .none
    } else if let ca = config.caPEM {
      let certificates: [NIOSSLCertificate]
      do {
        certificates = try NIOSSLCertificate.fromPEMBytes(ca)
      } catch {
        throw invalid("the CA is not PEM certificates (\(error))")
      }
      guard !certificates.isEmpty else { throw invalid("the CA holds no PEM certificate") }
      tls.trustRoots = .certificates(certificates)
    }
    switch (config.clientCertificatePEM, config.clientKeyPEM) {
    case (nil, nil):
      break
    case (let certificate?, let key?):
      do {
        let chain = try NIOSSLCertificate.fromPEMBytes(certificate)
        guard !chain.isEmpty else { throw invalid("the client certificate holds no PEM certificate") }
        tls.certificateChain = chain.map { .certificate($0) }
        tls.privateKey = .privateKey(try NIOSSLPrivateKey(bytes: key, format: .pem))
      } catch let error as KubeClientError {
        throw error
      } catch {
        throw invalid("the client certificate or key cannot be loaded (\(error))")
      }
    default:
      throw invalid("a client certificate and its key must be given together")
    }
    return tls
  }

  /// Closes every connection; requests and watches still running fail with `cancelled`. Call it exactly once.
  package func shutdown() async {
    do {
      try await http.shutdown()
    } catch {
      logger.debug("HTTP client shutdown: \(error)")
    }
  }

  // MARK: - Requests

  /// GETs `path` (starting with `/`) and returns the whole body of a 2xx response.
  ///
  /// - Parameter query: Name/value pairs, percent-encoded here.
  /// - Throws: `KubeClientError`: a non-2xx status is classified (401, 403, 404, 410, 429, 5xx, other) with the
  ///   server's Status message; a body over `maximumResponseSize` is `responseTooLarge`; the whole exchange is
  ///   limited to `requestTimeout`.
  package func get(_ path: String, query: [(String, String)] = []) async throws(KubeClientError) -> (
    status: Int, body: ByteBuffer
  ) {
    let target = self.target(path, query)
    do {
      return try await Self.withTimeout(options.requestTimeout) {
        let response = try await self.send(target, headTimeout: self.options.requestTimeout)
        try await self.checkStatus(response, target)
        let body = try await response.body.collect(upTo: self.options.maximumResponseSize)
        return (Int(response.status.code), body)
      }
    } catch {
      throw classify(error, target)
    }
  }

  /// POSTs `body` (JSON) to `path` and returns the whole body of a 2xx response (typically 201 Created).
  ///
  /// Not retried: creating is not idempotent, so the caller decides. The request body is never logged or put in
  /// errors (it may hold a token).
  ///
  /// - Throws: `KubeClientError` as `get`; a conflict (an object that already exists) is `unexpectedStatus` with
  ///   `status` 409.
  package func post(_ path: String, body: ByteBuffer, query: [(String, String)] = []) async throws(KubeClientError)
    -> (status: Int, body: ByteBuffer)
  {
    try await send(.POST, path, body: body, query: query)
  }

  /// Sends `method` to `path`, with `body` (JSON) when given, and returns the whole body of a 2xx response.
  ///
  /// The general form of `get` and `post`, for writes Sextant itself does not make (tests use PUT and DELETE to
  /// change objects on a live server). Not retried; the body is never logged or put in errors.
  ///
  /// - Throws: `KubeClientError` as `get`.
  func send(
    _ method: HTTPMethod, _ path: String, body: ByteBuffer? = nil, query: [(String, String)] = []
  ) async throws(KubeClientError) -> (status: Int, body: ByteBuffer) {
    let target = self.target(path, query)
    do {
      return try await Self.withTimeout(options.requestTimeout) {
        let response = try await self.send(
          target, headTimeout: self.options.requestTimeout, method: method, body: body)
        try await self.checkStatus(response, target)
        let body = try await response.body.collect(upTo: self.options.maximumResponseSize)
        return (Int(response.status.code), body)
      }
    } catch {
      throw classify(error, target)
    }
  }

  /// Lists every item of a collection, page by page (`limit` = `pageSize`, following `continue`).
  ///
  /// The resourceVersion returned is the first page's (all pages are one consistent snapshot). When a `continue`
  /// token expires mid-way (410), the list is redone once in a single unpaginated request, as client-go does. Items
  /// that do not decode are left out and reported in `skipped`.
  ///
  /// - Parameter query: Extra parameters such as `labelSelector`.
  /// - Throws: `KubeClientError` as `get`, `decodingFailed` when a page is not a list or has no
  ///   resourceVersion, and `responseTooLarge` after `maximumListPages` pages that all ask for more.
  package func list<T: Decodable & Sendable>(
    _ path: String, as type: T.Type = T.self, query: [(String, String)] = []
  ) async throws(KubeClientError) -> ObjectList<T> {
    var items: [T] = []
    var skipped: [SkippedItem] = []
    var resourceVersion: String?
    var continueToken: String?
    var pages = 0
    repeat {
      guard pages < options.maximumListPages else {
        throw KubeClientError(
          code: .responseTooLarge,
          message:
            "the list has more than \(options.maximumListPages) pages of \(options.pageSize) items (maximumListPages); "
            + "is the server sending continue tokens forever?",
          clusterID: clusterID, url: target(path, query).display)
      }
      pages += 1
      var pageQuery = query + [("limit", "\(options.pageSize)")]
      if let continueToken { pageQuery.append(("continue", continueToken)) }
      let page: ListPage<T>
      do throws(KubeClientError) {
        page = try await fetchPage(path, pageQuery)
      } catch {
        // Only an expired continue token is handled here (by listing again in one request).
        guard error.code == .gone && continueToken != nil else { throw error }
        logger.debug("List continue token expired; listing again in one request", metadata: ["path": "\(path)"])
        let full: ListPage<T> = try await fetchPage(path, query)
        (items, skipped) = Self.split(full.items ?? [], offset: 0)
        resourceVersion = full.metadata?.resourceVersion
        break
      }
      if resourceVersion == nil { resourceVersion = page.metadata?.resourceVersion }
      let (pageItems, pageSkipped) = Self.split(page.items ?? [], offset: items.count + skipped.count)
      items += pageItems
      skipped += pageSkipped
      continueToken = page.metadata?.continue.flatMap { $0.isEmpty ? nil : $0 }
    } while continueToken != nil
    guard let resourceVersion, !resourceVersion.isEmpty else {
      throw KubeClientError(
        code: .decodingFailed, message: "the list has no metadata.resourceVersion", clusterID: clusterID,
        url: target(path, query).display)
    }
    return ObjectList(items: items, resourceVersion: resourceVersion, skipped: skipped)
  }

  /// Watches a collection from `resourceVersion`: the events as they arrive, one by one.
  ///
  /// Sends `watch=true`, `allowWatchBookmarks=true`, `resourceVersion` (when not nil) and `timeoutSeconds` (from
  /// `timeout`, at least 1). The stream finishes normally when the server ends the watch (after `timeoutSeconds`),
  /// or when the client closes it `watchGrace` later; it throws a `KubeClientError` when the request fails (status
  /// classified as in `get`), the connection breaks, or a line is not a watch event (`decodingFailed`). An ERROR
  /// event (410: list again) is delivered as an event, and the server ends the stream after it. Stop iterating (or
  /// cancel the task) to close the watch.
  package func watch<T: Decodable & Sendable>(
    _ path: String,
    as type: T.Type = T.self,
    query: [(String, String)] = [],
    resourceVersion: String?,
    timeout: Duration
  ) -> AsyncThrowingStream<WatchEvent<T>, any Error> {
    let (stream, continuation) = AsyncThrowingStream<WatchEvent<T>, any Error>.makeStream()
    let task = Task {
      do {
        let batches: AsyncThrowingStream<[WatchEvent<T>], any Error> = try await self.watchBatches(
          path, query: query, resourceVersion: resourceVersion, timeout: timeout)
        for try await batch in batches {
          for event in batch { continuation.yield(event) }
        }
        continuation.finish()
      } catch {
        continuation.finish(throwing: error)
      }
    }
    continuation.onTermination = { _ in task.cancel() }
    return stream
  }

  /// Starts a watch and returns once the server accepted it (a 2xx response head): the events, grouped as they
  /// arrived (all complete lines of one received chunk form one batch).
  ///
  /// Returning means the server is reachable and the credentials work; informers use that to leave their error
  /// state. See `watch` for the parameters, the stream's end and its errors.
  ///
  /// - Throws: `KubeClientError` when the request fails before the response head.
  package func watchBatches<T: Decodable & Sendable>(
    _ path: String,
    query: [(String, String)] = [],
    resourceVersion: String?,
    timeout: Duration
  ) async throws(KubeClientError) -> AsyncThrowingStream<[WatchEvent<T>], any Error> {
    var watchQuery = query + [("watch", "true"), ("allowWatchBookmarks", "true")]
    if let resourceVersion { watchQuery.append(("resourceVersion", resourceVersion)) }
    let seconds = max(1, Int(timeout.components.seconds))
    watchQuery.append(("timeoutSeconds", "\(seconds)"))
    let target = self.target(path, watchQuery)
    let response: HTTPClientResponse
    do {
      response = try await send(target, headTimeout: options.requestTimeout)
      try await checkStatus(response, target)
    } catch {
      throw classify(error, target)
    }

    let (stream, continuation) = AsyncThrowingStream<[WatchEvent<T>], any Error>.makeStream()
    let limit = Duration.seconds(seconds) + options.watchGrace
    let maximumLineLength = options.maximumWatchEventSize
    let body = response.body
    let task = Task {
      do {
        let completed = try await Self.runUnlessExceeding(limit) {
          var splitter = WatchLineSplitter(maximumLineLength: maximumLineLength)
          let decoder = JSONDecoder()
          for try await chunk in body {
            let lines = try splitter.append(chunk)
            guard !lines.isEmpty else { continue }
            continuation.yield(try lines.map { line in try Self.decodeEvent(line, decoder) })
          }
          if let last = splitter.finish() {
            continuation.yield([try Self.decodeEvent(last, decoder)])
          }
        }
        if !completed {
          self.logger.debug(
            "Closing a watch that outlived its timeout", metadata: ["url": "\(target.display)"])
        }
        continuation.finish()
      } catch {
        continuation.finish(throwing: self.classify(error, target))
      }
    }
    continuation.onTermination = { _ in task.cancel() }
    return stream
  }

  /// Whether the API server serves `resource` (plural, e.g. `endpointslices`) in `group`/`version` (group `""` is
  /// the core group), from API discovery (`GET /apis/GROUP/VERSION`, `/api/VERSION` for the core group).
  ///
  /// - Returns: false when the group version is not served (404) or does not list the resource with list and watch.
  /// - Throws: `KubeClientError` for every other failure, so that "not served" is never confused with "unreachable".
  package func isServed(group: String, version: String, resource: String) async throws(KubeClientError) -> Bool {
    let path = group.isEmpty ? "/api/\(version)" : "/apis/\(group)/\(version)"
    let body: ByteBuffer
    do throws(KubeClientError) {
      body = try await get(path).body
    } catch {
      guard error.code == .notFound else { throw error }
      return false
    }
    let list: APIResourceList = try decode(body, target(path, []))
    return list.serves(resource)
  }

  // MARK: - Internals

  /// A request URL and the URL shown in errors (the configured server, not a rewritten one).
  struct Target: Sendable {
    var request: String
    var display: String
  }

  func target(_ path: String, _ query: [(String, String)]) -> Target {
    let path = path.hasPrefix("/") ? path : "/" + path
    var suffix = path
    if !query.isEmpty {
      suffix += "?" + query.map { "\(Self.percentEncode($0.0))=\(Self.percentEncode($0.1))" }.joined(separator: "&")
    }
    return Target(request: requestBase + suffix, display: server + suffix)
  }

  private func send(
    _ target: Target, headTimeout: Duration, method: HTTPMethod = .GET, body: ByteBuffer? = nil
  ) async throws -> HTTPClientResponse {
    if var configurationError {
      configurationError.url = target.display
      throw configurationError
    }
    var request = HTTPClientRequest(url: target.request)
    request.method = method
    if let body {
      request.headers.add(name: "Content-Type", value: "application/json")
      request.body = .bytes(body)
    }
    request.headers.add(name: "Accept", value: "application/json")
    request.headers.add(name: "User-Agent", value: options.userAgent)
    if let token = token.current(logger: logger) {
      request.headers.add(name: "Authorization", value: "Bearer \(token)")
    }
    return try await http.execute(request, deadline: .now() + .nanoseconds(headTimeout.inNanoseconds), logger: nil)
  }

  /// Throws the classified error of a non-2xx response, with the Status message from its (bounded) body.
  private func checkStatus(_ response: HTTPClientResponse, _ target: Target) async throws {
    let status = Int(response.status.code)
    guard !(200..<300).contains(status) else { return }
    var apiMessage: String?
    if let body = try? await response.body.collect(upTo: 1 << 20),
      let decoded = try? JSONDecoder().decode(KubeStatus.self, from: Data(body.readableBytesView))
    {
      apiMessage = decoded.message
    }
    throw KubeClientError.forStatus(
      status, reason: response.status.reasonPhrase, apiMessage: apiMessage, clusterID: clusterID, url: target.display)
  }

  private func fetchPage<T: Decodable & Sendable>(
    _ path: String, _ query: [(String, String)]
  ) async throws(KubeClientError) -> ListPage<T> {
    let body = try await get(path, query: query).body
    return try decode(body, target(path, query))
  }

  private func decode<T: Decodable>(_ body: ByteBuffer, _ target: Target) throws(KubeClientError) -> T {
    do {
      return try JSONDecoder().decode(T.self, from: Data(body.readableBytesView))
    } catch {
      throw KubeClientError(
        code: .decodingFailed, message: "unexpected response: \(DecodingErrorDescription.describe(error))",
        clusterID: clusterID, url: target.display)
    }
  }

  /// The decoded items of one page and the skipped ones, whose indexes are made list-wide by adding `offset` (the
  /// number of items on earlier pages).
  private static func split<T>(_ items: [LenientItem<T>], offset: Int) -> ([T], [SkippedItem]) {
    var decoded: [T] = []
    var skipped: [SkippedItem] = []
    decoded.reserveCapacity(items.count)
    for item in items {
      switch item.value {
      case .success(let value): decoded.append(value)
      case .failure(var failure):
        failure.index = failure.index.map { $0 + offset }
        skipped.append(failure)
      }
    }
    return (decoded, skipped)
  }

  private static func decodeEvent<T: Decodable & Sendable>(
    _ line: [UInt8], _ decoder: JSONDecoder
  ) throws -> WatchEvent<T> {
    do {
      return try WatchEvent<T>.decode(line: line, using: decoder)
    } catch {
      throw WatchLineError(reason: DecodingErrorDescription.describe(error))
    }
  }

  /// A watch line that is not a watch event.
  private struct WatchLineError: Error {
    var reason: String
  }

  /// Maps any failure to a `KubeClientError` for `target`.
  func classify(_ error: any Error, _ target: Target) -> KubeClientError {
    func make(_ code: KubeClientError.Code, _ message: String) -> KubeClientError {
      KubeClientError(code: code, message: message, clusterID: clusterID, url: target.display)
    }
    switch error {
    case let error as KubeClientError:
      return error
    case is CancellationError:
      return make(.cancelled, "cancelled")
    case let error as HTTPClientError:
      switch error {
      case .deadlineExceeded, .readTimeout, .writeTimeout, .connectTimeout, .tlsHandshakeTimeout:
        return make(.timeout, "timed out (\(error))")
      case .cancelled, .alreadyShutdown:
        return make(.cancelled, "\(error)")
      case .remoteConnectionClosed:
        return make(.connectionFailed, "the server closed the connection")
      default:
        return make(.connectionFailed, "\(error)")
      }
    case let error as NIOSSLError:
      return make(.tlsFailure, "TLS failure: \(error)")
    case let error as BoringSSLError:
      return make(.tlsFailure, "TLS failure: \(error)")
    case let error as NIOSSLExtraError:
      return make(.tlsFailure, "TLS failure: \(error)")
    case let error as IOError:
      return make(
        .connectionFailed, "\(String(cString: strerror(error.errnoCode)).lowercased()) (errno \(error.errnoCode))")
    case let error as NIOTooManyBytesError:
      return make(.responseTooLarge, "the response is larger than \(error.maxBytes.map { "\($0)" } ?? "allowed") bytes")
    case let error as WatchLineSplitter.LineTooLong:
      return make(.responseTooLarge, "a watch event is larger than \(error.limit) bytes")
    case let error as WatchLineError:
      return make(.decodingFailed, "unexpected watch event: \(error.reason)")
    case is DecodingError:
      return make(.decodingFailed, DecodingErrorDescription.describe(error))
    case TimeoutError.exceeded:
      return make(.timeout, "no complete response within \(options.requestTimeout)")
    default:
      let text = String(describing: error)
      // NIO reports TLS failures inside connection errors too; classify by what they say.
      if text.contains("SSL") || text.contains("certificate") || text.contains("handshake") {
        return make(.tlsFailure, "TLS failure: \(text)")
      }
      return make(.connectionFailed, text)
    }
  }

  // MARK: - Helpers

  enum TimeoutError: Error {
    case exceeded
  }

  /// Runs `operation`, failing with `TimeoutError.exceeded` (and cancelling it) when it takes longer than `limit`.
  static func withTimeout<T: Sendable>(
    _ limit: Duration, _ operation: @escaping @Sendable () async throws -> T
  ) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
      group.addTask { try await operation() }
      group.addTask {
        try await Task.sleep(for: limit)
        return nil
      }
      defer { group.cancelAll() }
      guard let first = try await group.next(), let value = first else { throw TimeoutError.exceeded }
      return value
    }
  }

  /// Runs `operation`; returns true when it finished, false when it was cancelled for taking longer than `limit`.
  static func runUnlessExceeding(
    _ limit: Duration, _ operation: @escaping @Sendable () async throws -> Void
  ) async throws -> Bool {
    try await withThrowingTaskGroup(of: Bool.self) { group in
      group.addTask {
        try await operation()
        return true
      }
      group.addTask {
        try await Task.sleep(for: limit)
        return false
      }
      defer { group.cancelAll() }
      return try await group.next() ?? true
    }
  }

  /// Percent-encodes a query name or value (everything but RFC 3986 unreserved characters).
  static func percentEncode(_ text: String) -> String {
    var result = ""
    for byte in text.utf8 {
      switch byte {
      case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
        UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
        UInt8(ascii: "~"):
        result.append(Character(Unicode.Scalar(byte)))
      default:
        let hex = String(byte, radix: 16, uppercase: true)
        result += "%" + (hex.count == 1 ? "0" + hex : hex)
      }
    }
    return result
  }
}
