import AsyncHTTPClient
import Foundation

/// A failure of the load run, with what was being done.
struct LoadError: Error, CustomStringConvertible {
  var description: String
  init(_ description: String) { self.description = description }
}

/// The `sextant serve` process under load: started on free loopback ports over the mesh files, stopped by PID.
final class SextantProcess {
  let process = Process()
  let grpcPort: Int
  let httpPort: Int
  let monitoringPort: Int
  let logFile: URL

  /// Starts `binary` with the file-backed clusters in `clustersDirectory` (no secure port; a self-signed root in
  /// `workDirectory`) and the given debounce settings. SIGINT and SIGTERM stop it, remove `removeOnSignal` and end
  /// the tool.
  init(
    binary: String, clustersDirectory: URL, workDirectory: URL, debounceAfter: String, debounceMax: String,
    logLevel: String, removeOnSignal: URL?
  ) throws {
    grpcPort = try freePort()
    httpPort = try freePort()
    monitoringPort = try freePort()
    logFile = workDirectory.appendingPathComponent("sextant.log")
    guard FileManager.default.createFile(atPath: logFile.path, contents: nil) else {
      throw LoadError("cannot create \(logFile.path)")
    }
    let log = try FileHandle(forWritingTo: logFile)
    process.executableURL = URL(fileURLWithPath: binary)
    process.arguments = [
      "serve", "--clusters-dir", clustersDirectory.path, "--listen-address", "127.0.0.1",
      "--grpc-port", "\(grpcPort)", "--http-port", "\(httpPort)", "--monitoring-port", "\(monitoringPort)",
      "--secure-grpc-port", "0", "--self-signed-ca-dir", workDirectory.appendingPathComponent("ca").path,
      "--log-level", logLevel,
    ]
    var environment = ProcessInfo.processInfo.environment
    environment["PILOT_DEBOUNCE_AFTER"] = debounceAfter
    environment["PILOT_DEBOUNCE_MAX"] = debounceMax
    process.environment = environment
    process.standardOutput = log
    process.standardError = log
    try process.run()
    // An interrupted run (Ctrl-C, a test's timeout) must not leave sextant behind.
    let pid = process.processIdentifier
    for number in [SIGINT, SIGTERM] {
      signal(number, SIG_IGN)
      let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
      source.setEventHandler {
        kill(pid, SIGTERM)
        if let removeOnSignal { try? FileManager.default.removeItem(at: removeOnSignal) }
        exit(128 + number)
      }
      source.resume()
      signalSources.append(source)
    }
  }

  /// Kept alive for the life of the run.
  private var signalSources: [any DispatchSourceSignal] = []

  var pid: Int32 { process.processIdentifier }

  /// Polls `/ready` until it answers 200, failing when the process exits or `timeout` passes.
  func waitReady(timeout: Duration) async throws {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
      guard process.isRunning else {
        throw LoadError("sextant exited with status \(process.terminationStatus): \(logTail())")
      }
      var request = HTTPClientRequest(url: "http://127.0.0.1:\(httpPort)/ready")
      request.method = .GET
      if let response = try? await HTTPClient.shared.execute(request, timeout: .seconds(2)), response.status == .ok {
        return
      }
      try await Task.sleep(for: .milliseconds(50))
    }
    throw LoadError("sextant was not ready within \(timeout): \(logTail())")
  }

  /// Resident memory now and at its peak, in KiB (`VmRSS`, `VmHWM` of /proc/PID/status).
  func memory() -> (rss: Int, peak: Int)? {
    guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
    func field(_ name: String) -> Int? {
      guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix(name + ":") }) else { return nil }
      return line.split(whereSeparator: \.isWhitespace).compactMap { Int($0) }.first
    }
    guard let rss = field("VmRSS"), let peak = field("VmHWM") else { return nil }
    return (rss, peak)
  }

  /// CPU time used so far (user + system), from /proc/PID/stat.
  func cpuTime() -> Duration? {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
      let close = stat.lastIndex(of: ")")
    else { return nil }
    // Fields after the command name: state is field 3; utime and stime are fields 14 and 15.
    let fields = stat[stat.index(after: close)...].split(separator: " ")
    guard fields.count > 12, let user = Int(fields[11]), let system = Int(fields[12]) else { return nil }
    let ticks = sysconf(Int32(_SC_CLK_TCK))
    return .milliseconds((user + system) * 1000 / max(ticks, 1))
  }

  /// The last lines of sextant's log.
  func logTail(lines: Int = 20) -> String {
    let text = (try? String(contentsOf: logFile, encoding: .utf8)) ?? ""
    return text.split(separator: "\n").suffix(lines).joined(separator: "\n")
  }

  /// SIGTERM, then SIGKILL if it has not exited within 10 s.
  func stop() {
    guard process.isRunning else { return }
    process.terminate()
    let deadline = Date().addingTimeInterval(10)
    while process.isRunning && Date() < deadline { usleep(20_000) }
    if process.isRunning { kill(pid, SIGKILL) }
  }
}

/// A loopback TCP port nobody listens on right now (bound to port 0, then closed).
func freePort() throws -> Int {
  let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
  guard fd >= 0 else { throw LoadError("socket: \(String(cString: strerror(errno)))") }
  defer { close(fd) }
  var address = sockaddr_in()
  address.sin_family = sa_family_t(AF_INET)
  address.sin_port = 0
  address.sin_addr.s_addr = inet_addr("127.0.0.1")
  var length = socklen_t(MemoryLayout<sockaddr_in>.size)
  let bound = withUnsafeMutablePointer(to: &address) { pointer in
    pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
      bind(fd, socketAddress, length) == 0 && getsockname(fd, socketAddress, &length) == 0
    }
  }
  guard bound else { throw LoadError("bind 127.0.0.1:0: \(String(cString: strerror(errno)))") }
  return Int(UInt16(bigEndian: address.sin_port))
}
