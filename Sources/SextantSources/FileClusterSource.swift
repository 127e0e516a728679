import Logging
import SextantBase
import SextantKube
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Watches a clusters directory and reports each cluster's Kubernetes objects: the file-backed cluster source.
///
/// Layout: every immediate subdirectory of `directory` is one cluster, named (its cluster ID) by the directory name;
/// every `.yaml`, `.yml` and `.json` file anywhere below it (any case, symlinks followed) holds objects of that
/// cluster, decoded by `ObjectDecoder`. Names starting with `.` are ignored (editor and ConfigMap-mount files such as
/// `..data`), and so are files directly in `directory`. When two files of a cluster hold the same object, the file
/// whose path sorts last wins.
///
/// Changes are found by polling: each `scan()` compares every file's size, modification time and inode with the last
/// read, and re-reads a file when they differ or when its time is too recent to trust (edits within the file system's
/// time granularity); a content hash (FNV-1a) then tells a real edit from a touch.
///
/// Errors never discard state: a file that fails to decode is logged once per distinct content at error level (with
/// path, line and reason), the objects it held before stay in force, and other files are unaffected; it is picked up
/// again as soon as it is fixed. An unreadable file or subdirectory is logged once and keeps its objects too. The last
/// error of each path is available in `errors` for a debug endpoint. Symlink loops, binary junk, enormous numbers and
/// files over `maximumFileSize` are errors, never crashes.
///
/// Thread safety: all state is behind a mutex; `scan()` may be called from any thread, and scans are serialized.
/// `scan()` does blocking file I/O while holding it (a directory of a few hundred files takes milliseconds).
package final class FileClusterSource: Sendable {
  /// How often `run` polls unless told otherwise.
  package static let defaultPollInterval: Duration = .milliseconds(250)
  /// The file extensions read, compared in lower case.
  package static let fileExtensions: Set<String> = ["yaml", "yml", "json"]
  /// How deep below a cluster directory files are looked for.
  package static let maximumDirectoryDepth = 32
  /// A file modified less than this many seconds before a scan is re-read at the next scan even if its size and time
  /// look unchanged, since an edit in the same clock tick would leave them equal.
  static let racyWindowSeconds = 2

  /// The clusters directory.
  package let directory: String
  /// The interval between two scans in `run`.
  package let pollInterval: Duration
  /// Files larger than this are errors (code `tooLarge`) and are not read.
  package let maximumFileSize: Int

  private let logger: Logger
  private let clock: any Clock<Duration>
  private let decoder = ObjectDecoder()
  private let state = Mutex(State())

  /// Creates a source for `directory`; nothing is read until `scan()` or `run`.
  ///
  /// - Parameters:
  ///   - logger: Receives decode errors (error), clusters appearing and disappearing (info), skipped objects (debug).
  ///   - pollInterval: Time between scans in `run`.
  ///   - clock: The clock `run` sleeps on (tests inject their own, or call `scan()` directly).
  package init(
    directory: String,
    logger: Logger,
    pollInterval: Duration = FileClusterSource.defaultPollInterval,
    clock: any Clock<Duration> = ContinuousClock(),
    maximumFileSize: Int = ObjectDecoder.defaultMaximumFileSize
  ) {
    var directory = directory
    while directory.count > 1 && directory.hasSuffix("/") { directory.removeLast() }
    self.directory = directory
    self.logger = logger
    self.pollInterval = pollInterval
    self.clock = clock
    self.maximumFileSize = maximumFileSize
  }

  // MARK: - Public API

  /// Reads the directory once and returns what changed since the previous scan, in order.
  ///
  /// For a cluster seen for the first time: `.state` then `.synced`. For a known cluster whose merged objects
  /// changed: `.state` with all its objects. For a cluster whose directory is gone: `.removed`. Clusters are in name
  /// order, removals first. Nothing is returned for a cluster whose files changed without changing its objects.
  ///
  /// - Throws: `FileClusterSourceError` when `directory` itself cannot be listed; the known clusters are kept as they
  ///   are (a vanished or unreadable clusters directory is not taken as "every cluster was deleted").
  package func scan() throws(FileClusterSourceError) -> [ClusterSourceUpdate] {
    try state.withLock { (state: inout State) throws(FileClusterSourceError) -> [ClusterSourceUpdate] in
      try scan(&state)
    }
  }

  /// Scans now, reports the result, then scans every `pollInterval` and reports changes until the task is cancelled.
  ///
  /// `onUpdates` is called with the non-empty result of each scan (see `scan()`), or with every result, empty ones
  /// too, when `everyScan` is true (for a caller that has its own work to do at each poll); the first call holds
  /// `.state` and `.synced` for every cluster present at start. It is awaited before the next scan. Returns when the
  /// task is cancelled.
  ///
  /// - Throws: `FileClusterSourceError` when the first scan cannot list `directory` (a configuration mistake worth
  ///   failing fast on); later failures are logged once and polling goes on.
  package func run(
    everyScan: Bool = false,
    onUpdates: @Sendable ([ClusterSourceUpdate]) async -> Void
  ) async throws(FileClusterSourceError) {
    let initial = try scan()
    if !initial.isEmpty || everyScan { await onUpdates(initial) }
    while !Task.isCancelled {
      do {
        try await clock.sleep(for: pollInterval)
      } catch {
        return
      }
      let updates = (try? scan()) ?? []
      if !updates.isEmpty || everyScan { await onUpdates(updates) }
    }
  }

  /// The current objects of every cluster, as last reported.
  package var clusters: [String: ClusterObjects] {
    state.withLock { state in state.clusters.mapValues(\.objects) }
  }

  /// The current decode or read error of every file that has one, by path.
  package var fileErrors: [String: ObjectDecodingError] {
    state.withLock { state in
      var errors: [String: ObjectDecodingError] = [:]
      for cluster in state.clusters.values {
        for (path, file) in cluster.files {
          if let error = file.error { errors[path] = error }
        }
      }
      return errors
    }
  }

  /// Every current problem, path → message: files that do not decode or cannot be read, and directories that cannot
  /// be listed (the clusters directory included). For a debug endpoint.
  package var errors: [String: String] {
    let fileErrors = self.fileErrors
    return state.withLock { state in
      var errors = state.directoryErrors
      for (path, error) in fileErrors { errors[path] = error.description }
      return errors
    }
  }

  // MARK: - State

  private struct State: Sendable {
    var clusters: [String: ClusterState] = [:]
    /// Directories that could not be listed at the last scan: path → reason.
    var directoryErrors: [String: String] = [:]
  }

  private struct ClusterState: Sendable {
    var files: [String: TrackedFile] = [:]
    /// The merged objects last reported.
    var objects = ClusterObjects()
  }

  private struct TrackedFile: Sendable {
    /// `stat` at the last successful read; nil forces a read.
    var status: FileSystem.Status?
    /// Whether `status` was old enough when recorded to prove the content unchanged while it stays equal.
    var statusIsTrusted = false
    /// Hash of the last content read, good or bad.
    var contentHash: UInt64?
    /// The objects of the last content that decoded (kept while the file is invalid).
    var objects: [KubeObject] = []
    /// The error of the current content, nil when it decoded.
    var error: ObjectDecodingError?
  }

  // MARK: - Scanning

  private func scan(_ state: inout State) throws(FileClusterSourceError) -> [ClusterSourceUpdate] {
    let now = Int(time(nil))
    var directoryErrors: [String: String] = [:]
    defer { updateDirectoryErrors(&state, directoryErrors) }

    let names: [String]
    switch FileSystem.entries(of: directory) {
    case .success(let entries):
      names = entries
    case .failure(let failure):
      directoryErrors[directory] = failure.reason
      // Keep the errors of the clusters' subdirectories as they were: nothing below was looked at.
      for (path, reason) in state.directoryErrors where path != directory { directoryErrors[path] = reason }
      throw FileClusterSourceError(code: .directoryUnreadable, message: failure.reason, path: directory)
    }

    var clusterNames: [String] = []
    for name in names where !name.hasPrefix(".") {
      if case .success(let status) = FileSystem.status(path(directory, name)), status.kind == .directory {
        clusterNames.append(name)
      }
    }
    clusterNames.sort()

    var updates: [ClusterSourceUpdate] = []
    for removed in Set(state.clusters.keys).subtracting(clusterNames).sorted() {
      state.clusters[removed] = nil
      logger.info(
        "Cluster directory removed", metadata: ["cluster": "\(removed)", "path": "\(path(directory, removed))"])
      updates.append(ClusterSourceUpdate(clusterID: removed, event: .removed))
    }

    for name in clusterNames {
      let clusterPath = path(directory, name)
      let walk = walk(clusterPath)
      for (path, reason) in walk.failures { directoryErrors[path] = reason }
      let isNew = state.clusters[name] == nil
      if isNew && walk.failures[clusterPath] != nil {
        continue  // Not listable yet: the cluster starts once it can be read.
      }
      var cluster = state.clusters[name] ?? ClusterState()
      let objectsChanged = update(&cluster, with: walk, now: now)
      if isNew || objectsChanged {
        let merged = ClusterObjects(cluster.files.keys.sorted().flatMap { cluster.files[$0]?.objects ?? [] })
        if isNew || merged != cluster.objects {
          cluster.objects = merged
          updates.append(ClusterSourceUpdate(clusterID: name, event: .state(merged)))
        }
      }
      if isNew {
        logger.info(
          "Cluster directory added",
          metadata: ["cluster": "\(name)", "path": "\(clusterPath)", "objects": "\(cluster.objects.count)"])
        updates.append(ClusterSourceUpdate(clusterID: name, event: .synced))
      }
      state.clusters[name] = cluster
    }
    return updates
  }

  /// Applies one cluster's listing to its tracked files; returns whether any file's objects changed.
  private func update(_ cluster: inout ClusterState, with walk: Walk, now: Int) -> Bool {
    var changed = false
    for path in cluster.files.keys where walk.files[path] == nil {
      // Under a directory that could not be listed: not known to be gone, keep it.
      if walk.failures.keys.contains(where: { path.hasPrefix($0 + "/") || path == $0 }) { continue }
      if let file = cluster.files.removeValue(forKey: path) {
        logger.debug("File removed", metadata: ["path": "\(path)", "objects": "\(file.objects.count)"])
        if !file.objects.isEmpty { changed = true }
      }
    }
    for (path, status) in walk.files {
      var file = cluster.files[path] ?? TrackedFile()
      if file.status == status && file.statusIsTrusted { continue }
      let previousObjects = file.objects
      if refresh(&file, path: path, status: status, now: now) {
        cluster.files[path] = file
        if file.objects != previousObjects { changed = true }
      } else if let removed = cluster.files.removeValue(forKey: path), !removed.objects.isEmpty {
        changed = true  // Deleted between the listing and the read.
      }
    }
    return changed
  }

  /// Re-reads one file if its content changed; returns false when the file turned out to be gone.
  private func refresh(_ file: inout TrackedFile, path: String, status: FileSystem.Status, now: Int) -> Bool {
    guard status.size <= maximumFileSize else {
      file.status = status
      file.statusIsTrusted = status.modifiedSeconds < now - Self.racyWindowSeconds
      file.contentHash = nil
      record(
        ObjectDecodingError(
          code: .tooLarge, message: "file is larger than \(maximumFileSize) bytes (\(status.size) bytes)", path: path),
        for: &file, logIfRepeated: false)
      return true
    }
    let bytes: [UInt8]
    switch FileSystem.contents(of: path, maximumSize: maximumFileSize) {
    case .success(let contents):
      bytes = contents
    case .failure(let failure):
      if failure.isNotFound { return false }
      file.status = nil  // Retry the read at every scan; report only a new reason.
      file.contentHash = nil
      record(
        ObjectDecodingError(code: failure.isTooLarge ? .tooLarge : .unreadable, message: failure.reason, path: path),
        for: &file, logIfRepeated: false)
      return true
    }
    file.status = status
    file.statusIsTrusted = status.modifiedSeconds < now - Self.racyWindowSeconds
    let hash = FNV1a.hash(bytes)
    if hash == file.contentHash { return true }
    file.contentHash = hash
    do {
      let decoded = try decoder.decode(bytes, path: path)
      if file.error != nil {
        logger.info("File decodes again", metadata: ["path": "\(path)", "objects": "\(decoded.objects.count)"])
      }
      file.error = nil
      file.objects = decoded.objects
      for skipped in decoded.skipped {
        logger.debug("Skipped object of an unwatched kind", metadata: ["path": "\(path)", "object": "\(skipped)"])
      }
    } catch {
      record(error, for: &file, logIfRepeated: true)
    }
    return true
  }

  /// Sets a file's error and logs it, once: `logIfRepeated` is true for a decode error of new content (distinct
  /// content is reported even when the message is the same), false for read errors that repeat at every scan.
  private func record(_ error: ObjectDecodingError, for file: inout TrackedFile, logIfRepeated: Bool) {
    let isNew = file.error != error
    file.error = error
    guard isNew || logIfRepeated else { return }
    var metadata: Logger.Metadata = ["path": "\(error.path)", "code": "\(error.code.rawValue)"]
    if let line = error.line { metadata["line"] = "\(line)" }
    logger.error(
      "\(error.description)\(file.objects.isEmpty ? "" : " (keeping the \(file.objects.count) objects it held before)")",
      metadata: metadata)
  }

  private func updateDirectoryErrors(_ state: inout State, _ errors: [String: String]) {
    for (path, reason) in errors.sorted(by: { $0.key < $1.key }) where state.directoryErrors[path] != reason {
      logger.error("Cannot list directory: \(reason)", metadata: ["path": "\(path)"])
    }
    for path in state.directoryErrors.keys.sorted() where errors[path] == nil {
      logger.info("Directory can be listed again", metadata: ["path": "\(path)"])
    }
    state.directoryErrors = errors
  }

  // MARK: - Walking

  private struct Walk {
    /// Every object file below the cluster directory, with its status.
    var files: [String: FileSystem.Status] = [:]
    /// Directories that could not be listed, with the reason.
    var failures: [String: String] = [:]
  }

  private struct DirectoryIdentity: Hashable {
    var device: UInt64
    var inode: UInt64
  }

  /// Lists the object files below `root`, following symlinks but visiting each directory once (so loops end).
  private func walk(_ root: String) -> Walk {
    var walk = Walk()
    var visited: Set<DirectoryIdentity> = []
    var pending: [(path: String, depth: Int)] = [(root, 0)]
    if case .success(let status) = FileSystem.status(root) {
      visited.insert(DirectoryIdentity(device: status.device, inode: status.inode))
    }
    while let (directoryPath, depth) = pending.popLast().map({ ($0.path, $0.depth) }) {
      let names: [String]
      switch FileSystem.entries(of: directoryPath) {
      case .success(let entries): names = entries
      case .failure(let failure):
        if !failure.isNotFound || directoryPath == root { walk.failures[directoryPath] = failure.reason }
        continue
      }
      for name in names where !name.hasPrefix(".") {
        let entryPath = path(directoryPath, name)
        // A dangling symlink or a symlink loop fails here and is passed over.
        guard case .success(let status) = FileSystem.status(entryPath) else { continue }
        switch status.kind {
        case .directory:
          guard depth + 1 < Self.maximumDirectoryDepth,
            visited.insert(DirectoryIdentity(device: status.device, inode: status.inode)).inserted
          else { continue }
          pending.append((entryPath, depth + 1))
        case .regular:
          if let dot = name.lastIndex(of: "."),
            Self.fileExtensions.contains(name[name.index(after: dot)...].lowercased())
          {
            walk.files[entryPath] = status
          }
        case .other:
          continue  // Devices, FIFOs and sockets are never read.
        }
      }
    }
    return walk
  }

  private func path(_ parent: String, _ name: String) -> String {
    parent.hasSuffix("/") ? parent + name : parent + "/" + name
  }
}

/// The clusters directory itself could not be read.
package struct FileClusterSourceError: Error, Sendable, Hashable, CustomStringConvertible {
  package enum Code: String, Sendable, Hashable {
    /// The directory is missing, not a directory, or not readable.
    case directoryUnreadable
  }

  package var code: Code
  /// The system's reason (`No such file or directory`).
  package var message: String
  /// The clusters directory.
  package var path: String

  package init(code: Code, message: String, path: String) {
    self.code = code
    self.message = message
    self.path = path
  }

  package var description: String { "\(path): cannot list the clusters directory: \(message)" }
}
