import Logging
import Synchronization

/// A swift-log handler that keeps every entry in memory, to check what was logged and how often.
///
/// Hand `logger` to the code under test; every level down to `.trace` is kept, in the order logged. Each entry's
/// metadata is the logger's metadata merged with the call's (the call wins on a clash), every value rendered as
/// text. Entries are never dropped, so use one recorder per test.
public final class LogRecorder: Sendable {
  /// One logged message: its level, its text and its metadata rendered as text.
  public struct Entry: Sendable {
    public var level: Logger.Level
    public var message: String
    public var metadata: [String: String]

    public init(level: Logger.Level, message: String, metadata: [String: String]) {
      self.level = level
      self.message = message
      self.metadata = metadata
    }
  }

  private let recorded = Mutex<[Entry]>([])

  /// Creates an empty recorder.
  public init() {}

  /// A logger that writes to this recorder, at level `.trace`.
  ///
  /// Each access makes a new logger; all of them record here.
  public var logger: Logger {
    Logger(label: "test") { _ in Handler(recorder: self) }
  }

  /// Every entry so far, oldest first.
  public var entries: [Entry] { recorded.withLock { $0 } }

  /// The entries logged at exactly `level`, oldest first.
  public func entries(at level: Logger.Level) -> [Entry] { entries.filter { $0.level == level } }

  /// The entries logged at `level` or above, oldest first.
  public func entries(atLeast level: Logger.Level) -> [Entry] { entries.filter { $0.level >= level } }

  /// The messages of the entries logged at `level` or above, oldest first.
  public func messages(atLeast level: Logger.Level) -> [String] { entries(atLeast: level).map(\.message) }

  /// Every message with its metadata as text, one entry a line.
  ///
  /// Meant for checking that something (a token, a key) never reaches a log; metadata order is not stable, so do
  /// not compare it whole.
  public var allText: String {
    entries.map { "\($0.message) \($0.metadata)" }.joined(separator: "\n")
  }

  private func append(_ entry: Entry) { recorded.withLock { $0.append(entry) } }

  private struct Handler: LogHandler {
    let recorder: LogRecorder
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
      get { metadata[key] }
      set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
      let merged = metadata.merging(event.metadata ?? [:]) { _, new in new }
      recorder.append(
        Entry(level: event.level, message: event.message.description, metadata: merged.mapValues(\.description)))
    }
  }
}
