import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes a file so that readers see either the old content or the whole new content, with the mode set at creation.
///
/// The content goes to a new temporary file in the same directory, created with `O_EXCL` and `mode` (so a key is
/// never readable by others, not even briefly), is flushed with `fsync`, then renamed over `path`.
enum AtomicFileWriter {
  /// Writes `contents` to `path` with permission bits `mode` (the process umask may only remove bits).
  static func save(_ contents: String, to path: String, mode: mode_t) throws(CAError) {
    let temporary = "\(path).tmp-\(UInt64.random(in: 0...UInt64.max))"
    let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
    guard descriptor >= 0 else {
      throw CAError(.writeFailed, file: path, "cannot create \(temporary): \(errnoText())")
    }
    var bytes = Array(contents.utf8)[...]
    while !bytes.isEmpty {
      let written = bytes.withUnsafeBytes { buffer in
        write(descriptor, buffer.baseAddress, buffer.count)
      }
      if written < 0 {
        if errno == EINTR { continue }
        let reason = errnoText()
        close(descriptor)
        unlink(temporary)
        throw CAError(.writeFailed, file: path, "cannot write \(temporary): \(reason)")
      }
      bytes = bytes.dropFirst(written)
    }
    if fsync(descriptor) != 0 {
      let reason = errnoText()
      close(descriptor)
      unlink(temporary)
      throw CAError(.writeFailed, file: path, "cannot flush \(temporary): \(reason)")
    }
    close(descriptor)
    guard rename(temporary, path) == 0 else {
      let reason = errnoText()
      unlink(temporary)
      throw CAError(.writeFailed, file: path, "cannot rename \(temporary) to it: \(reason)")
    }
  }

  private static func errnoText() -> String {
    String(cString: strerror(errno))
  }
}
