import Foundation
import Logging
import SextantKube
import SextantTestSupport
import Synchronization
import Testing

/// Reads and decodes the recorded objects in Fixtures/.
enum Fixture {
  static func url(_ name: String) throws -> URL {
    let directory = try #require(Bundle.module.url(forResource: "Fixtures", withExtension: nil))
    return directory.appendingPathComponent(name)
  }

  static func bytes(_ name: String) throws -> [UInt8] {
    [UInt8](try Data(contentsOf: url(name)))
  }

  static func decode(_ name: String) throws -> DecodedFile {
    try ObjectDecoder().decode(bytes(name), path: name)
  }
}

/// Decodes `text`, expecting it to fail; records an issue and returns nil if it decodes.
func decodingError(
  _ text: String, path: String = "clusters/cluster1/objects.yaml", sourceLocation: SourceLocation = #_sourceLocation
) -> ObjectDecodingError? {
  do {
    let file = try ObjectDecoder().decode(text, path: path)
    Issue.record("decoded \(file.objects.count) objects, expected an error", sourceLocation: sourceLocation)
    return nil
  } catch {
    return error
  }
}

extension LogRecorder {
  /// Error entries whose `path` metadata is `path`.
  func errors(for path: String) -> [Entry] {
    entries(at: .error).filter { $0.metadata["path"] == path }
  }
}

/// A scratch directory, removed when the test is done with it.
final class TemporaryDirectory {
  let path: String

  init() throws {
    let base = FileManager.default.temporaryDirectory.path
    path = base + "/sextant-kube-tests-" + UUID().uuidString
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
  }

  deinit {
    try? FileManager.default.removeItem(atPath: path)
  }

  /// Writes `text` to `relativePath`, creating directories on the way; returns the full path.
  @discardableResult
  func write(_ relativePath: String, _ text: String) throws -> String {
    try write(relativePath, Data(text.utf8))
  }

  @discardableResult
  func write(_ relativePath: String, _ data: Data) throws -> String {
    let full = path + "/" + relativePath
    let parent = (full as NSString).deletingLastPathComponent
    try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true)
    try data.write(to: URL(fileURLWithPath: full))
    return full
  }

  func makeDirectory(_ relativePath: String) throws {
    try FileManager.default.createDirectory(atPath: path + "/" + relativePath, withIntermediateDirectories: true)
  }

  func remove(_ relativePath: String) throws {
    try FileManager.default.removeItem(atPath: path + "/" + relativePath)
  }

  func symlink(_ relativePath: String, to destination: String) throws {
    try FileManager.default.createSymbolicLink(atPath: path + "/" + relativePath, withDestinationPath: destination)
  }
}
