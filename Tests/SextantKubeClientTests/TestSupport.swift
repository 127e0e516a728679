import Foundation
import Logging
import NIOCore
import SextantKube
import SextantTestSupport
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

/// Istio objects and discovery answers recorded from kube-apiserver 1.20.2 (Fixtures; the expose-istiod and
/// cross-network samples, in CRDs serving v1alpha3, v1beta1 and v1).
enum IstioFixtures {
  static func discoveryV1() throws -> FixtureHTTPServer.Response {
    try .fixture(200, "apiresourcelist-networking-istio-io-v1.json")
  }
  static func discoveryV1beta1() throws -> FixtureHTTPServer.Response {
    try .fixture(200, "apiresourcelist-networking-istio-io-v1beta1.json")
  }
  /// What a server without the group version answers (plain text, not a Status).
  static func notServed() throws -> FixtureHTTPServer.Response {
    try .fixture(404, "discovery-404-page-not-found.txt")
  }
}
