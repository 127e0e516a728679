import Foundation
import Synchronization

#if canImport(Glibc)
  import Glibc
#endif

/// A plain-HTTP server on 127.0.0.1 that answers each request with the next recorded response (status and JSON
/// body, typically a fixture) and records what it received, so client requests (method, path, headers, body) and
/// the decoding of real answers are tested together. One connection at a time, `Connection: close` after each.
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

    init(status: Int, body: [UInt8]) {
      self.status = status
      self.body = body
    }

    /// A recorded answer from Fixtures.
    static func fixture(_ status: Int, _ name: String) throws -> Response {
      Response(status: status, body: try Fixture.bytes(name))
    }
  }

  let port: Int
  var url: String { "http://127.0.0.1:\(port)" }
  private let listener: Int32
  private let responses: Mutex<[Response]>
  private let received = Mutex<[Request]>([])

  init(_ responses: [Response]) throws {
    self.responses = Mutex(responses)
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

  /// Stops accepting connections.
  func stop() {
    shutdown(listener, Int32(SHUT_RDWR))
    close(listener)
  }

  private func serve() {
    while true {
      let connection = accept(listener, nil, nil)
      guard connection >= 0 else { return }
      handle(connection)
      close(connection)
    }
  }

  private func handle(_ connection: Int32) {
    var buffer: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 4096)
    let separator: [UInt8] = Array("\r\n\r\n".utf8)
    var headerEnd: Int?
    while headerEnd == nil {
      let count = read(connection, &chunk, chunk.count)
      guard count > 0 else { return }
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
    received.withLock {
      $0.append(
        Request(
          method: requestLine.first ?? "", target: requestLine.count > 1 ? requestLine[1] : "", headers: headers,
          body: body))
    }
    let response =
      responses.withLock { $0.isEmpty ? nil : $0.removeFirst() }
      ?? Response(status: 500, body: Array(#"{"kind":"Status","message":"no recorded response left"}"#.utf8))
    let reply =
      Array(
        ("HTTP/1.1 \(response.status) Recorded\r\nContent-Type: application/json\r\n"
          + "Content-Length: \(response.body.count)\r\nConnection: close\r\n\r\n").utf8) + response.body
    var offset = 0
    while offset < reply.count {
      let written = reply[offset...].withUnsafeBytes { write(connection, $0.baseAddress, $0.count) }
      guard written > 0 else { return }
      offset += written
    }
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
