import Foundation
import Logging
import ServiceLifecycle
import SextantControlPlane

/// Time from starting a whole `ControlPlane` in-process on a clusters directory of `services` services (one
/// cluster, `endpoints` endpoints each) until it is ready: files read and decoded, the registry built, the first
/// snapshot pushed. No listener is opened.
func controlPlaneStartup(services: Int, endpoints: Int, logger: Logger) async throws -> Duration {
  let directory = NSTemporaryDirectory() + "sextant-bench-\(UUID().uuidString)"
  defer { try? FileManager.default.removeItem(atPath: directory) }
  try FileManager.default.createDirectory(atPath: directory + "/cluster1", withIntermediateDirectories: true)
  for index in 0..<services {
    let addresses = (0..<endpoints).map { "10.\(1 + index / 250).\(index % 250).\(1 + $0)" }.joined(separator: ", ")
    let text = """
      apiVersion: v1
      kind: Service
      metadata: {name: svc-\(index), namespace: bench}
      spec:
        clusterIP: 10.96.\(index / 250).\(index % 250)
        ports: [{name: http, port: 8080, targetPort: 8080}]
      ---
      apiVersion: discovery.k8s.io/v1
      kind: EndpointSlice
      metadata:
        name: svc-\(index)
        namespace: bench
        labels: {kubernetes.io/service-name: svc-\(index)}
      addressType: IPv4
      ports: [{name: http, port: 8080}]
      endpoints: [{addresses: [\(addresses)], conditions: {ready: true}}]
      """
    try Data(text.utf8).write(to: URL(fileURLWithPath: directory + "/cluster1/svc-\(index).yaml"))
  }
  var configuration = ControlPlane.Configuration.defaults
  configuration.clustersDirectory = directory
  configuration.grpcPort = 0
  configuration.httpPort = 0
  configuration.monitoringPort = 0
  configuration.security.securePort = 0
  configuration.clustersDirectoryPollInterval = .milliseconds(20)
  let observer = ControlPlane.Observer()
  let controlPlane = ControlPlane(configuration: configuration, logger: logger, metrics: { "" }, observer: observer)
  let group = ServiceGroup(services: [controlPlane], logger: logger)
  let clock = ContinuousClock()
  let start = clock.now
  return try await withThrowingTaskGroup(of: Void.self) { tasks in
    tasks.addTask { try await group.run() }
    while observer.assembly?.admin.readiness().ready != true {
      try await Task.sleep(for: .milliseconds(1))
    }
    let elapsed = clock.now - start
    await group.triggerGracefulShutdown()
    try await tasks.waitForAll()
    return elapsed
  }
}
