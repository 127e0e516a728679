import Foundation
import Logging
import ServiceLifecycle
import SextantTestSupport
import Testing

@testable import SextantControlPlane

#if canImport(Glibc)
import Glibc
#endif

/// The HTTP and monitoring listeners: their own listen address, apart from xDS, and their idle timeout.
@Suite("Admin listeners")
struct AdminListenerTests {
  /// Every 127.x.y.z address is loopback on Linux, so xDS on 127.0.0.2 and monitoring on 127.0.0.1 are told apart.
  @Test(
    "the monitoring port binds its own address while xDS binds another; an idle connection is closed",
    .enabled(if: Self.isLinux, "needs 127.0.0.2, a loopback address on Linux only"))
  func monitoringOnLoopbackAndIdleTimeout() async throws {
    let directory = try TemporaryClusters()
    defer { directory.remove() }
    try directory.write(
      "cluster1/helloworld.yaml", ClusterFiles.service(name: "helloworld", port: 5000, ip: "10.1.0.1"))
    var configuration = ControlPlane.Configuration.defaults
    configuration.clustersDirectory = directory.path
    configuration.clustersDirectoryPollInterval = .milliseconds(20)
    configuration.listenAddress = "127.0.0.2"
    configuration.monitoringListenAddress = "127.0.0.1"
    configuration.httpListenAddress = "127.0.0.1"
    configuration.adminIdleTimeout = .milliseconds(200)
    configuration.grpcPort = try FreePort.next()
    configuration.monitoringPort = try FreePort.next()
    configuration.httpPort = try FreePort.next()
    configuration.security.securePort = 0
    let logs = LogRecorder()
    let observer = ControlPlane.Observer()
    let controlPlane = ControlPlane(
      configuration: configuration, logger: logs.logger, metrics: { "# metrics\n" }, observer: observer)
    let group = ServiceGroup(services: [controlPlane], logger: logs.logger)
    let running = Task { try await group.run() }
    defer { running.cancel() }

    let monitoring = configuration.monitoringPort
    try #require(
      await eventually { (try? RawConnection(host: "127.0.0.1", port: monitoring)) != nil },
      "the monitoring port listens on 127.0.0.1")
    #expect(throws: RawConnection.Failure.self) { try RawConnection(host: "127.0.0.2", port: monitoring) }
    #expect(throws: RawConnection.Failure.self) {
      try RawConnection(host: "127.0.0.2", port: configuration.httpPort)
    }
    #expect(try RawConnection(host: "127.0.0.1", port: configuration.httpPort).closedByPeer(within: 10))
    // xDS stays on --listen-address.
    #expect(throws: RawConnection.Failure.self) { try RawConnection(host: "127.0.0.1", port: configuration.grpcPort) }
    _ = try RawConnection(host: "127.0.0.2", port: configuration.grpcPort)

    // A connection that sends nothing is closed after the idle timeout (200 ms here), well before 10 s.
    let idle = try RawConnection(host: "127.0.0.1", port: monitoring)
    #expect(idle.closedByPeer(within: 10))

    await group.triggerGracefulShutdown()
    try await running.value
  }

  static var isLinux: Bool {
    #if os(Linux)
    true
    #else
    false
    #endif
  }
}

/// A plain TCP connection, closed when released.
final class RawConnection {
  struct Failure: Error, CustomStringConvertible {
    var description: String
  }

  let fd: Int32

  init(host: String, port: Int) throws {
    fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw Failure(description: "socket: \(String(cString: strerror(errno)))") }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr(host)
    address.sin_port = UInt16(port).bigEndian
    let connected = withUnsafePointer(to: &address) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
        connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
      }
    }
    guard connected else {
      let reason = String(cString: strerror(errno))
      close(fd)
      throw Failure(description: "connect \(host):\(port): \(reason)")
    }
  }

  deinit { close(fd) }

  /// Whether the peer closes the connection (a read sees end of file) within `seconds`, sending nothing itself.
  func closedByPeer(within seconds: Int) -> Bool {
    var timeout = timeval(tv_sec: seconds, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    var byte: UInt8 = 0
    while true {
      let count = recv(fd, &byte, 1, 0)
      if count == 0 { return true }
      if count < 0 { return errno == ECONNRESET }
    }
  }
}
