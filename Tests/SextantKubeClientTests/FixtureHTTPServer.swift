import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A plain-HTTP server on 127.0.0.1 that answers each request with the next recorded response (status and JSON
/// body, typically a fixture), or with what a routing function returns, and records what it received, so client
/// requests (method, path, headers, body) and the decoding of real answers are tested together. One connection at
/// a time, `Connection: close` after each; a `hold` response leaves its connection open and unanswered (a watch
/// that waits for events) and goes on to the next connection.
final class FixtureHTTPServer: Sendable {
  struct Request: Sendable {
    var method: String
    var target: String
    /// Header names lower-cased.
    var headers: [String: String]
    var body: [UInt8]

    var json: [String: Any]? {
      (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any]
    }
  }

  struct Response: Sendable {
    var status: Int
    var body: [UInt8]
    /// Never answered: the connection stays open until `stop()`.
    var held = false

    init(status: Int, body: [UInt8]) {
      self.status = status
      self.body = body
    }

    /// No answer at all, like a watch with no events yet.
    static var hold: Response {
      var response = Response(status: 0, body: [])
      response.held = true
      return response
    }

    /// A recorded answer from Fixtures.
    static func fixture(_ status: Int, _ name: String) throws -> Response {
      Response(status: status, body: try Fixture.bytes(name))
    }
  }

  let port: Int
  var url: String { "http://127.0.0.1:\(port)" }
  private let listener: Int32
  private let route: @Sendable (Request) -> Response
  private let received = Mutex<[Request]>([])
  /// Connections of `hold` responses, closed by `stop()` (and at once once stopped).
  private let held = Mutex<(stopped: Bool, connections: [Int32])>((false, []))

  /// Answers requests with `responses` in order; once they are used up, with a 500 Status.
  convenience init(_ responses: [Response]) throws {
    let queue = Mutex(responses)
    try self.init { _ in
      queue.withLock { $0.isEmpty ? nil : $0.removeFirst() }
        ?? Response(status: 500, body: Array(#"{"kind":"Status","message":"no recorded response left"}"#.utf8))
    }
  }

  /// Answers each request with what `route` returns for it.
  init(route: @escaping @Sendable (Request) -> Response) throws {
    self.route = route
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) { pointer in
      pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
        bind(descriptor, $0, length) == 0 && getsockname(descriptor, $0, &length) == 0
      }
    }
    guard bound, listen(descriptor, 16) == 0 else {
      close(descriptor)
      throw ServerError.cannotListen
    }
    listener = descriptor
    port = Int(UInt16(bigEndian: address.sin_port))
    let thread = Thread { [self] in serve() }
    thread.start()
  }

  enum ServerError: Error {
    case cannotListen
  }

  /// The requests received so far, in order.
  var requests: [Request] { received.withLock { $0 } }

  /// The request targets (path and query) received so far, in order.
  var targets: [String] { requests.map(\.target) }

  /// Stops accepting connections and closes held ones.
  func stop() {
    shutdown(listener, Int32(SHUT_RDWR))
    close(listener)
    let connections = held.withLock { held in
      held.stopped = true
      defer { held.connections = [] }
      return held.connections
    }
    for connection in connections {
      shutdown(connection, Int32(SHUT_RDWR))
      close(connection)
    }
  }

  private func serve() {
    while true {
      let connection = accept(listener, nil, nil)
      guard connection >= 0 else { return }
      let keep =
        handle(connection)
        && held.withLock { held in
          if !held.stopped { held.connections.append(connection) }
          return !held.stopped
        }
      if !keep { close(connection) }
    }
  }

  /// Reads one request and answers it; true when the answer is `hold` (the connection must stay open).
  private func handle(_ connection: Int32) -> Bool {
    var buffer: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 4096)
    let separator: [UInt8] = Array("\r\n\r\n".utf8)
    var headerEnd: Int?
    while headerEnd == nil {
      let count = read(connection, &chunk, chunk.count)
      guard count > 0 else { return false }
      buffer += chunk[0..<count]
      headerEnd = Self.find(separator, in: buffer)
    }
    let head = String(decoding: buffer[0..<headerEnd!], as: UTF8.self)
    var lines = head.components(separatedBy: "\r\n")
    let requestLine = lines.removeFirst().split(separator: " ").map(String.init)
    var headers: [String: String] = [:]
    for line in lines {
      guard let colon = line.firstIndex(of: ":") else { continue }
      headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
    }
    let length = Int(headers["content-length"] ?? "0") ?? 0
    var body = Array(buffer[(headerEnd! + separator.count)...])
    while body.count < length {
      let count = read(connection, &chunk, chunk.count)
      guard count > 0 else { break }
      body += chunk[0..<count]
    }
    let request = Request(
      method: requestLine.first ?? "", target: requestLine.count > 1 ? requestLine[1] : "", headers: headers,
      body: body)
    received.withLock { $0.append(request) }
    let response = route(request)
    if response.held { return true }
    let reply =
      Array(
        ("HTTP/1.1 \(response.status) Recorded\r\nContent-Type: application/json\r\n"
          + "Content-Length: \(response.body.count)\r\nConnection: close\r\n\r\n").utf8) + response.body
    var offset = 0
    while offset < reply.count {
      let written = reply[offset...].withUnsafeBytes { write(connection, $0.baseAddress, $0.count) }
      guard written > 0 else { return false }
      offset += written
    }
    return false
  }

  private static func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
    guard haystack.count >= needle.count else { return nil }
    for start in 0...(haystack.count - needle.count)
    where haystack[start..<start + needle.count].elementsEqual(needle) {
      return start
    }
    return nil
  }
}
