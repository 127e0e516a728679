import NIOCore

/// Splits a watch response body, which arrives in arbitrary chunks, into its newline-terminated lines.
///
/// A line may be split across any number of chunks, and a chunk may hold many lines; blank lines are dropped. A
/// line growing past `maximumLineLength` bytes is an error (a bound on memory, not a limit the API server knows).
struct WatchLineSplitter {
  /// A line exceeded the limit.
  struct LineTooLong: Error, Sendable, Hashable {
    var limit: Int
  }

  let maximumLineLength: Int
  private var partial: [UInt8] = []

  init(maximumLineLength: Int) {
    self.maximumLineLength = maximumLineLength
  }

  /// Adds a chunk and returns the lines it completed, in order, without their terminators (`\n`, `\r\n`).
  mutating func append(_ chunk: ByteBuffer) throws(LineTooLong) -> [[UInt8]] {
    var lines: [[UInt8]] = []
    let view = chunk.readableBytesView
    var start = view.startIndex
    while let newline = view[start...].firstIndex(of: UInt8(ascii: "\n")) {
      partial.append(contentsOf: view[start..<newline])
      try checkLength()
      if partial.last == UInt8(ascii: "\r") { partial.removeLast() }
      if !partial.isEmpty { lines.append(partial) }
      partial.removeAll(keepingCapacity: true)
      start = view.index(after: newline)
    }
    partial.append(contentsOf: view[start...])
    try checkLength()
    return lines
  }

  /// The bytes after the last newline, if any: a final line the server did not terminate.
  mutating func finish() -> [UInt8]? {
    defer { partial = [] }
    let rest = partial.last == UInt8(ascii: "\r") ? Array(partial.dropLast()) : partial
    return rest.allSatisfy({ $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }) ? nil : rest
  }

  private func checkLength() throws(LineTooLong) {
    if partial.count > maximumLineLength { throw LineTooLong(limit: maximumLineLength) }
  }
}
