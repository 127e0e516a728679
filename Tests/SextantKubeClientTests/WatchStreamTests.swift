import Foundation
import NIOCore
import SextantKube
import Testing

@testable import SextantKubeClient

@Suite("Watch streams")
struct WatchStreamTests {
  private func fixtureLines() throws -> [[UInt8]] {
    try Fixture.bytes("watch-endpointslices-v1beta1.ndjson").split(separator: UInt8(ascii: "\n")).map(Array.init)
  }

  @Test("every line of a recorded watch decodes: ADDED, MODIFIED, DELETED, BOOKMARK and ERROR 410")
  func decodesRecordedStream() throws {
    let events = try fixtureLines().map { try WatchEvent<EndpointSlice>.decode(line: $0) }
    #expect(events.map(\.type) == ["ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"])
    guard case .added(let added) = events[0], case .modified(let modified) = events[1],
      case .deleted(let deleted) = events[2], case .bookmark(let bookmark) = events[3],
      case .error(let status) = events[4]
    else {
      Issue.record("unexpected events \(events.map(\.type))")
      return
    }
    #expect(added.metadata.name == "helloworld-3")
    #expect(added.metadata.resourceVersion == "196")
    #expect(modified.metadata.name == "helloworld-0")
    #expect(modified.endpoints?.first?.conditions?.ready == false)
    #expect(deleted.metadata.name == "helloworld-1")
    #expect(bookmark == "198")
    #expect(status.code == 410)
    #expect(status.reason == "Expired")
    #expect(status.message == "too old resource version: 190 (195)")
  }

  @Test("an ADDED or MODIFIED object with a port outside 1-65535 does not decode; a DELETED one does")
  func portOutOfRange() throws {
    func line(_ type: String, port: Int) -> [UInt8] {
      Array(
        #"{"type":"\#(type)","object":{"kind":"Service","metadata":{"name":"bad","namespace":"sample","#
          .utf8)
        + Array(#""resourceVersion":"7"},"spec":{"ports":[{"port":\#(port)}]}}}"#.utf8)
    }
    for type in ["ADDED", "MODIFIED"] {
      #expect(throws: DecodingError.self) { try WatchEvent<KubeService>.decode(line: line(type, port: 70000)) }
      #expect(throws: DecodingError.self) { try WatchEvent<KubeService>.decode(line: line(type, port: -1)) }
    }
    let thrown = #expect(throws: DecodingError.self) {
      try WatchEvent<KubeService>.decode(line: line("ADDED", port: 70000))
    }
    #expect(
      DecodingErrorDescription.describe(try #require(thrown))
        == "object: Service sample/bad: spec.ports[0].port: port 70000 is not between 1 and 65535")
    // Only the key of a deleted object is used: it goes, whatever its ports.
    guard case .deleted(let deleted) = try WatchEvent<KubeService>.decode(line: line("DELETED", port: 70000)) else {
      Issue.record("not a DELETED event")
      return
    }
    #expect(deleted.metadata.name == "bad")
    guard case .added(let good) = try WatchEvent<KubeService>.decode(line: line("ADDED", port: 65535)) else {
      Issue.record("not an ADDED event")
      return
    }
    #expect(good.spec.ports?.first?.port == 65535)
  }

  @Test("a recorded watch of networking.istio.io/v1 Gateways decodes: MODIFIED, ADDED, DELETED, BOOKMARK")
  func decodesRecordedGatewayStream() throws {
    let lines = try Fixture.bytes("watch-gateways-v1.ndjson").split(separator: UInt8(ascii: "\n")).map(Array.init)
    let events = try lines.map { try WatchEvent<IstioGateway>.decode(line: $0) }
    #expect(events.map(\.type) == ["MODIFIED", "ADDED", "DELETED", "BOOKMARK"])
    guard case .modified(let modified) = events[0], case .added(let added) = events[1],
      case .deleted(let deleted) = events[2], case .bookmark(let bookmark) = events[3]
    else {
      Issue.record("unexpected events \(events.map(\.type))")
      return
    }
    #expect(modified.metadata.name == "istiod-gateway")
    #expect(modified.metadata.resourceVersion == "203")
    #expect(added.informerKey == NamespacedName(namespace: "sample", name: "ingress"))
    #expect(added.spec?["selector"] == .object(["istio": .string("ingressgateway")]))
    #expect(deleted.metadata.name == "cross-network-gateway")
    #expect(bookmark == "206")
  }

  @Test("a BOOKMARK is accepted for any kind, though its object is not a valid one")
  func bookmarkOfAnyKind() throws {
    let line =
      #"{"type":"BOOKMARK","object":{"kind":"Pod","apiVersion":"v1","metadata":{"resourceVersion":"12746","creationTimestamp":null},"spec":{"containers":null},"status":{}}}"#
    #expect(try WatchEvent<Pod>.decode(line: Array(line.utf8)) == .bookmark(resourceVersion: "12746"))
  }

  @Test("unknown event types and broken objects are decoding errors")
  func badLines() {
    #expect(throws: DecodingError.self) {
      try WatchEvent<Pod>.decode(line: Array(#"{"type":"RENAMED","object":{}}"#.utf8))
    }
    #expect(throws: DecodingError.self) {
      try WatchEvent<Pod>.decode(line: Array(#"{"type":"ADDED","object":{"metadata":{}}}"#.utf8))
    }
    #expect(throws: DecodingError.self) { try WatchEvent<Pod>.decode(line: Array("{not json".utf8)) }
  }

  @Test("lines split across chunks at every possible point come out whole")
  func splitAtEveryPoint() throws {
    let body = try Fixture.bytes("watch-endpointslices-v1beta1.ndjson")
    let expected = try fixtureLines()
    for cut in 0...body.count {
      var splitter = WatchLineSplitter(maximumLineLength: 1 << 20)
      var lines = try splitter.append(ByteBuffer(bytes: body[..<cut]))
      lines += try splitter.append(ByteBuffer(bytes: body[cut...]))
      #expect(splitter.finish() == nil)
      if lines != expected {
        Issue.record("split at \(cut) gave \(lines.count) lines")
        return
      }
    }
  }

  @Test("small uneven chunks, CRLF, blank lines and an unterminated last line")
  func unevenChunks() throws {
    let text = "{\"a\":1}\r\n\n{\"b\":2}\n  \n{\"c\":3}"
    let bytes = Array(text.utf8)
    var splitter = WatchLineSplitter(maximumLineLength: 100)
    var lines: [[UInt8]] = []
    var index = 0
    var size = 1
    while index < bytes.count {
      let end = min(bytes.count, index + size)
      lines += try splitter.append(ByteBuffer(bytes: bytes[index..<end]))
      index = end
      size = size % 4 + 1
    }
    if let last = splitter.finish() { lines.append(last) }
    #expect(lines.map { String(decoding: $0, as: UTF8.self) } == ["{\"a\":1}", "{\"b\":2}", "  ", "{\"c\":3}"])
  }

  @Test("a line longer than the limit is an error, even before its newline arrives")
  func lineTooLong() throws {
    var splitter = WatchLineSplitter(maximumLineLength: 8)
    #expect(try splitter.append(ByteBuffer(string: "12345\n")) == [Array("12345".utf8)])
    #expect(throws: WatchLineSplitter.LineTooLong(limit: 8)) {
      try splitter.append(ByteBuffer(string: "123456789"))
    }
  }
}
