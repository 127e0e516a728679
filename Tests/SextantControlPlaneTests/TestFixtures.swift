import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A temporary directory the test writes cluster files into, removed by `remove()`.
struct TemporaryClusters {
  let path: String

  init() throws {
    path = NSTemporaryDirectory() + "sextant-controlplane-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
  }

  /// Writes `text` at `relative` (directories created), atomically so a scan never sees half a file.
  func write(_ relative: String, _ text: String) throws {
    let url = URL(fileURLWithPath: path + "/" + relative)
    try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
    try Data(text.utf8).write(to: url, options: .atomic)
  }

  func remove() { try? FileManager.default.removeItem(atPath: path) }
}

/// Kubernetes objects of a file-backed cluster.
enum ClusterFiles {
  /// A Service in namespace `sample` with one HTTP port and one ready endpoint.
  static func service(name: String, port: Int, ip: String) -> String {
    """
    apiVersion: v1
    kind: Service
    metadata: {name: \(name), namespace: sample}
    spec:
      clusterIP: 10.96.0.\(port % 250)
      ports: [{name: http, port: \(port), targetPort: 8080}]
    ---
    apiVersion: discovery.k8s.io/v1
    kind: EndpointSlice
    metadata:
      name: \(name)
      namespace: sample
      labels: {kubernetes.io/service-name: \(name)}
    addressType: IPv4
    ports: [{name: http, port: 8080}]
    endpoints: [{addresses: [\(ip)], conditions: {ready: true}}]
    """
  }
}

/// Free TCP ports on loopback, found by binding port 0 and reading the port the kernel chose.
enum FreePort {
  struct Failure: Error, CustomStringConvertible {
    var description: String
  }

  static func next() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw Failure(description: "socket: \(String(cString: strerror(errno)))") }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
        bind(fd, pointer, length) == 0 && getsockname(fd, pointer, &length) == 0
      }
    }
    guard bound else { throw Failure(description: "bind: \(String(cString: strerror(errno)))") }
    return Int(UInt16(bigEndian: address.sin_port))
  }
}
