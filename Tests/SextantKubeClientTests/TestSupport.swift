import Foundation
import Logging
import NIOCore
import SextantKube
import Synchronization
import Testing

@testable import SextantKubeClient

/// Test fixtures, read from the bundle's Fixtures directory.
enum Fixture {
  static var directory: String {
    get throws {
      try #require(Bundle.module.url(forResource: "Fixtures", withExtension: nil)).path
    }
  }

  static func path(_ name: String) throws -> String { try directory + "/" + name }

  static func bytes(_ name: String) throws -> [UInt8] {
    [UInt8](try Data(contentsOf: URL(fileURLWithPath: try path(name))))
  }

  static func text(_ name: String) throws -> String {
    try #require(String(validating: try bytes(name), as: UTF8.self))
  }

  static func buffer(_ name: String) throws -> ByteBuffer { ByteBuffer(bytes: try bytes(name)) }
}

/// A log handler that keeps every message, to check what is logged and how often.
final class LogRecorder: Sendable {
  struct Entry: Sendable {
    var level: Logger.Level
    var message: String
    var metadata: [String: String]
  }

  let entries = Mutex<[Entry]>([])

  var logger: Logger {
    Logger(label: "test") { _ in Handler(recorder: self) }
  }

  func messages(atLeast level: Logger.Level) -> [String] {
    entries.withLock { $0.filter { $0.level >= level }.map(\.message) }
  }

  private struct Handler: LogHandler {
    let recorder: LogRecorder
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
      get { metadata[key] }
      set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
      var all = metadata.mapValues { "\($0)" }
      for (key, value) in event.metadata ?? [:] { all[key] = "\(value)" }
      let entry = Entry(level: event.level, message: "\(event.message)", metadata: all)
      recorder.entries.withLock { $0.append(entry) }
    }
  }
}

/// Values collected from callbacks, with a way to wait until enough arrived (no sleeping).
final class Collector<Value: Sendable>: Sendable {
  private struct State {
    var values: [Value] = []
    var waiters: [(count: Int, continuation: CheckedContinuation<Void, Never>)] = []
  }

  private let state = Mutex(State())

  func append(_ value: Value) {
    let ready = state.withLock { state -> [CheckedContinuation<Void, Never>] in
      state.values.append(value)
      let count = state.values.count
      let ready = state.waiters.filter { $0.count <= count }.map(\.continuation)
      state.waiters.removeAll { $0.count <= count }
      return ready
    }
    for continuation in ready { continuation.resume() }
  }

  var values: [Value] { state.withLock { $0.values } }

  /// Returns once at least `count` values were collected.
  func wait(for count: Int) async {
    await withCheckedContinuation { continuation in
      let ready = state.withLock { state -> Bool in
        if state.values.count >= count { return true }
        state.waiters.append((count, continuation))
        return false
      }
      if ready { continuation.resume() }
    }
  }
}

/// A one-shot signal: `wait()` returns once `open()` was called (before or after).
final class Gate: Sendable {
  private let state = Mutex<(open: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

  func open() {
    let waiters = state.withLock { state in
      state.open = true
      defer { state.waiters = [] }
      return state.waiters
    }
    for waiter in waiters { waiter.resume() }
  }

  func wait() async {
    await withCheckedContinuation { continuation in
      let isOpen = state.withLock { state in
        if !state.open { state.waiters.append(continuation) }
        return state.open
      }
      if isOpen { continuation.resume() }
    }
  }
}

/// Suspends until the task is cancelled.
func suspendUntilCancelled() async {
  let (stream, continuation) = AsyncStream.makeStream(of: Void.self)
  _ = continuation
  for await _ in stream {}
}

/// A list-watch source that plays a script: each call takes the next step; once the script is used up, calls
/// signal `finished` and wait until the task is cancelled.
final class ScriptedSource<Object: KubeResourceObject>: ListWatchSource {
  enum Step: Sendable {
    /// `list()` returns these objects at this resourceVersion, or fails (after `gate` opened, if given).
    case list(Result<ObjectList<Object>, KubeClientError>, after: Gate? = nil)
    /// `watch()` fails before the stream starts.
    case watchFails(KubeClientError)
    /// `watch()` returns a stream of these batches, which then ends (with `error`, if given). The stream waits for
    /// `gate` first, if given.
    case watch([[WatchEvent<Object>]], endingWith: KubeClientError? = nil, after: Gate? = nil)
  }

  let clusterID: String
  let url = "https://test.invalid/api/v1/things"
  private let steps: Mutex<[Step]>
  /// What was called, in order: `list`, `watch RV`.
  let calls = Mutex<[String]>([])
  /// Opened when the script is used up (or a call did not match the next step).
  let finished = Gate()

  init(_ steps: [Step], clusterID: String = "cluster1") {
    self.steps = Mutex(steps)
    self.clusterID = clusterID
  }

  private func next() -> Step? {
    steps.withLock { steps in steps.isEmpty ? nil : steps.removeFirst() }
  }

  private func exhausted() async -> KubeClientError {
    finished.open()
    await suspendUntilCancelled()
    return KubeClientError(code: .cancelled, message: "cancelled", clusterID: clusterID, url: url)
  }

  func list() async throws(KubeClientError) -> ObjectList<Object> {
    calls.withLock { $0.append("list") }
    guard case .list(let result, let gate)? = next() else { throw await exhausted() }
    await gate?.wait()
    return try result.get()
  }

  func watch(
    resourceVersion: String, timeout: Duration
  ) async throws(KubeClientError) -> AsyncThrowingStream<[WatchEvent<Object>], any Error> {
    calls.withLock { $0.append("watch \(resourceVersion)") }
    switch next() {
    case .watchFails(let error)?:
      throw error
    case .watch(let batches, let error, let gate)?:
      return AsyncThrowingStream { continuation in
        let task = Task {
          await gate?.wait()
          for batch in batches { continuation.yield(batch) }
          continuation.finish(throwing: error)
        }
        continuation.onTermination = { _ in task.cancel() }
      }
    default:
      throw await exhausted()
    }
  }
}

/// A pod named `namespace/name` at `resourceVersion`, with an IP so versions can differ in content.
func pod(_ namespace: String, _ name: String, rv: String, ip: String = "10.0.0.1") -> Pod {
  Pod(
    metadata: ObjectMeta(name: name, namespace: namespace, resourceVersion: rv),
    status: Pod.Status(podIP: ip))
}

/// `pod` with its resourceVersion cleared, as informers with that transform store it.
func stored(_ pod: Pod) -> Pod {
  var pod = pod
  pod.metadata.resourceVersion = nil
  return pod
}

func connectionRefused(_ url: String = "https://test.invalid/api/v1/things") -> KubeClientError {
  KubeClientError(code: .connectionFailed, message: "connection refused", clusterID: "cluster1", url: url)
}

/// Records the delays an informer asks to wait, returning at once.
final class SleepRecorder: Sendable {
  let delays = Mutex<[Duration]>([])

  var sleep: @Sendable (Duration) async throws -> Void {
    { duration in
      self.delays.withLock { $0.append(duration) }
      try Task.checkCancellation()
    }
  }
}
