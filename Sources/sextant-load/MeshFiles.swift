import Foundation

/// The synthetic mesh a load run serves, written as one file-backed cluster (`DIR/cluster1`; `DIR` is given to
/// `sextant serve --clusters-dir`).
///
/// `services` Services `svc-N.load` with ports 8080 (http) and 9090 (grpc), each with `endpointsPerService`
/// mTLS-capable Pods (label `security.istio.io/tlsMode: istio`) and one EndpointSlice; one file per service, so a
/// change rewrites one small file. Sextant's file source picks a rewrite up at its next scan (every 250 ms).
struct MeshFiles {
  static let cluster = "cluster1"
  static let namespace = "load"

  let directory: URL
  let services: Int
  let endpointsPerService: Int

  var clusterDirectory: URL { directory.appendingPathComponent(Self.cluster) }

  /// The EDS cluster of service `index`'s http port.
  static func edsCluster(service index: Int) -> String {
    "outbound|8080||svc-\(index).\(namespace).svc.cluster.local"
  }

  /// Writes every file.
  func writeAll() throws {
    try FileManager.default.createDirectory(at: clusterDirectory, withIntermediateDirectories: true)
    let namespaceFile = """
      apiVersion: v1
      kind: Namespace
      metadata:
        name: \(Self.namespace)

      """
    try Data(namespaceFile.utf8).write(to: clusterDirectory.appendingPathComponent("namespace.yaml"))
    for index in 0..<services { try write(service: index, endpoints: endpointsPerService) }
  }

  /// Rewrites service `index`'s file with `endpoints` endpoints.
  func write(service index: Int, endpoints: Int) throws {
    let name = "svc-\(index)"
    var yaml = """
      apiVersion: v1
      kind: Service
      metadata: {name: \(name), namespace: \(Self.namespace)}
      spec:
        clusterIP: \(address(10, index, 0))
        selector: {app: \(name)}
        ports:
        - {name: http, port: 8080, targetPort: 8080}
        - {name: grpc, port: 9090, targetPort: 9090}
      ---
      apiVersion: discovery.k8s.io/v1
      kind: EndpointSlice
      metadata:
        name: \(name)-slice
        namespace: \(Self.namespace)
        labels: {kubernetes.io/service-name: \(name)}
      addressType: IPv4
      ports:
      - {name: http, port: 8080}
      - {name: grpc, port: 9090}
      endpoints:

      """
    for e in 0..<endpoints {
      yaml +=
        "- {addresses: [\"\(address(11, index, e + 1))\"], targetRef: {kind: Pod, name: \(name)-\(e), namespace: \(Self.namespace)}}\n"
    }
    for e in 0..<endpoints {
      yaml += """
        ---
        apiVersion: v1
        kind: Pod
        metadata:
          name: \(name)-\(e)
          namespace: \(Self.namespace)
          labels: {app: \(name), security.istio.io/tlsMode: istio}
        spec: {serviceAccountName: \(name)}
        status: {podIP: \(address(11, index, e + 1))}

        """
    }
    // Written whole, then moved into place: the scanner never reads half a file.
    let file = clusterDirectory.appendingPathComponent("\(name).yaml")
    let temporary = clusterDirectory.appendingPathComponent(".\(name).yaml.tmp")
    try Data(yaml.utf8).write(to: temporary)
    guard rename(temporary.path, file.path) == 0 else {
      throw LoadError("cannot move \(temporary.path) to \(file.path): \(String(cString: strerror(errno)))")
    }
  }

  /// `first.x.y.z` with service `index` and endpoint `e` spread over the last three octets.
  private func address(_ first: Int, _ index: Int, _ e: Int) -> String {
    let value = index * 256 + e
    return "\(first).\((value >> 16) & 255).\((value >> 8) & 255).\(value & 255)"
  }
}
