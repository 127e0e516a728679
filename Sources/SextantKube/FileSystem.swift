#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The few POSIX file operations the file source needs, with `errno` turned into readable messages.
///
/// POSIX rather than `FileManager` so that errors say why (`Permission denied`), symlinks are followed by `stat`
/// (a dangling link or a loop simply fails), and reads are bounded.
package enum FileSystem {
  /// What `stat` says about a path, after following symlinks.
  package struct Status: Sendable, Hashable {
    package enum Kind: Sendable, Hashable {
      case regular
      case directory
      case other
    }

    package var kind: Kind
    package var size: Int
    package var device: UInt64
    package var inode: UInt64
    /// Modification time: seconds since the epoch and nanoseconds.
    package var modifiedSeconds: Int
    package var modifiedNanoseconds: Int
  }

  /// A failed system call: what was attempted on which path, and the system's reason.
  package struct Failure: Error, Sendable, Hashable, CustomStringConvertible {
    package var errorNumber: Int32
    package var reason: String

    package init(errno value: Int32) {
      errorNumber = value
      reason = String(cString: strerror(value))
    }

    package init(errno value: Int32, reason: String) {
      errorNumber = value
      self.reason = reason
    }

    package var description: String { reason }
    /// The path is not there (or is a dangling symlink, or a symlink loop): treated as absent, not as an error.
    package var isNotFound: Bool { errorNumber == ENOENT || errorNumber == ENOTDIR || errorNumber == ELOOP }
    /// The file exceeded the size limit of `contents(of:maximumSize:)`.
    package var isTooLarge: Bool { errorNumber == EFBIG }
  }

  /// Status of `path`, following symlinks.
  package static func status(_ path: String) -> Result<Status, Failure> {
    var info = stat()
    guard stat(path, &info) == 0 else { return .failure(Failure(errno: errno)) }
    let type = info.st_mode & S_IFMT
    let kind: Status.Kind = type == S_IFREG ? .regular : type == S_IFDIR ? .directory : .other
    #if canImport(Darwin)
    let modified = info.st_mtimespec
    #else
    let modified = info.st_mtim
    #endif
    return .success(
      Status(
        kind: kind,
        size: Int(info.st_size),
        device: UInt64(truncatingIfNeeded: info.st_dev),
        inode: UInt64(truncatingIfNeeded: info.st_ino),
        modifiedSeconds: Int(modified.tv_sec),
        modifiedNanoseconds: Int(modified.tv_nsec)
      ))
  }

  /// The names in a directory, without `.` and `..`, unsorted.
  package static func entries(of path: String) -> Result<[String], Failure> {
    guard let directory = opendir(path) else { return .failure(Failure(errno: errno)) }
    defer { closedir(directory) }
    var names: [String] = []
    while let entry = readdir(directory) {
      let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
        String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
      }
      if name != "." && name != ".." { names.append(name) }
    }
    return .success(names)
  }

  /// The bytes of a regular file, refusing files larger than `maximumSize`.
  package static func contents(of path: String, maximumSize: Int) -> Result<[UInt8], Failure> {
    let descriptor = open(path, O_RDONLY | O_NONBLOCK)
    guard descriptor >= 0 else { return .failure(Failure(errno: errno)) }
    defer { close(descriptor) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 64 * 1024)
    while true {
      let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
      if count < 0 {
        if errno == EINTR { continue }
        return .failure(Failure(errno: errno))
      }
      if count == 0 { return .success(bytes) }
      bytes.append(contentsOf: chunk[0..<count])
      if bytes.count > maximumSize {
        return .failure(Failure(errno: EFBIG, reason: "file is larger than \(maximumSize) bytes"))
      }
    }
  }
}
