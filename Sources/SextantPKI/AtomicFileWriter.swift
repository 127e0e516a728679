import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes a file so that readers see either the old content or the whole new content, and so that it survives a crash.
///
/// The content goes to a new temporary file `PATH.tmp-RANDOM` in the same directory, created with `O_EXCL`; its mode
/// is narrowed to owner read/write (0600) before anything is written, so no temporary is ever readable by others,
/// whatever it holds. It is flushed with `fsync`, given `mode` (as reduced by the process umask at creation), renamed
/// over `path`, and the directory is flushed with `fsync` so that the rename itself is durable. A crash leaves at
/// most a temporary behind: `removeStaleTemporaries(of:)` removes them. `withExclusiveLock(path:_:)` serializes
/// writers, threads and processes alike.
enum AtomicFileWriter {
  /// What a temporary's name adds to the name of the file it becomes: `ca-key.pem.tmp-1234`.
  static let temporaryMarker = ".tmp-"
  /// The mode temporaries are written with, whatever their final mode.
  static let temporaryMode: mode_t = 0o600

  /// Writes `contents` to `path` with permission bits `mode` (the process umask may only remove bits).
  static func save(_ contents: String, to path: String, mode: mode_t) throws(CAError) {
    let temporary = "\(path)\(temporaryMarker)\(UInt64.random(in: 0...UInt64.max))"
    // Created with `mode` so that the umask applies; nothing is written before the mode is narrowed.
    let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
    guard descriptor >= 0 else {
      throw CAError(.writeFailed, file: path, "cannot create \(temporary): \(errnoText())")
    }
    func fail(_ what: String) -> CAError {
      let reason = errnoText()
      close(descriptor)
      unlink(temporary)
      return CAError(.writeFailed, file: path, "cannot \(what) \(temporary): \(reason)")
    }
    var status = stat()
    guard fstat(descriptor, &status) == 0 else { throw fail("inspect") }
    let finalMode = mode_t(status.st_mode) & 0o7777
    guard fchmod(descriptor, finalMode & temporaryMode) == 0 else { throw fail("restrict the mode of") }
    var bytes = Array(contents.utf8)[...]
    while !bytes.isEmpty {
      let written = bytes.withUnsafeBytes { buffer in
        write(descriptor, buffer.baseAddress, buffer.count)
      }
      if written < 0 {
        if errno == EINTR { continue }
        throw fail("write")
      }
      bytes = bytes.dropFirst(written)
    }
    guard fsync(descriptor) == 0 else { throw fail("flush") }
    guard fchmod(descriptor, finalMode) == 0 else { throw fail("set the mode of") }
    close(descriptor)
    guard rename(temporary, path) == 0 else {
      let reason = errnoText()
      unlink(temporary)
      throw CAError(.writeFailed, file: path, "cannot rename \(temporary) to it: \(reason)")
    }
    try syncDirectory(of: path)
  }

  /// Removes the temporaries `save` left for any of `paths` (all in one directory) when a process died while
  /// writing; returns the names removed and those that could not be (with the reason). Call it only while no
  /// other writer of those paths runs (under `withExclusiveLock`, or once the material is complete).
  static func removeStaleTemporaries(of paths: [String]) -> (removed: [String], failed: [String]) {
    guard let first = paths.first else { return ([], []) }
    let directory = (first as NSString).deletingLastPathComponent
    let prefixes = paths.map { ($0 as NSString).lastPathComponent + temporaryMarker }
    guard let entries = try? FileManager.default.contentsOfDirectory(atPath: directory.isEmpty ? "." : directory)
    else { return ([], []) }
    var removed: [String] = []
    var failed: [String] = []
    for entry in entries.sorted() where prefixes.contains(where: { entry.hasPrefix($0) }) {
      let path = directory.isEmpty ? entry : directory + "/" + entry
      if unlink(path) == 0 || errno == ENOENT {
        removed.append(entry)
      } else {
        failed.append("\(entry): \(errnoText())")
      }
    }
    return (removed, failed)
  }

  /// Runs `body` holding an exclusive `flock` on the file `path` (created with mode 0600 when missing, never
  /// removed), waiting for other holders, in this process or another, to finish first.
  static func withExclusiveLock<T>(path: String, _ body: () throws(CAError) -> T) throws(CAError) -> T {
    let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, temporaryMode)
    guard descriptor >= 0 else {
      throw CAError(.writeFailed, file: path, "cannot open the lock file: \(errnoText())")
    }
    defer { close(descriptor) }
    while flock(descriptor, LOCK_EX) != 0 {
      if errno == EINTR { continue }
      throw CAError(.writeFailed, file: path, "cannot lock the lock file: \(errnoText())")
    }
    defer { flock(descriptor, LOCK_UN) }
    return try body()
  }

  /// Flushes the directory holding `path`, so that a rename into it survives a crash.
  private static func syncDirectory(of path: String) throws(CAError) {
    let directory = (path as NSString).deletingLastPathComponent
    let descriptor = open(directory.isEmpty ? "." : directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    guard descriptor >= 0 else {
      throw CAError(.writeFailed, file: path, "cannot open its directory to flush it: \(errnoText())")
    }
    defer { close(descriptor) }
    guard fsync(descriptor) == 0 else {
      throw CAError(.writeFailed, file: path, "cannot flush its directory: \(errnoText())")
    }
  }

  private static func errnoText() -> String {
    String(cString: strerror(errno))
  }
}
