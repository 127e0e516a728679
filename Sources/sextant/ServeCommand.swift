import ArgumentParser
import Foundation
import Logging
import Metrics
import Prometheus
import ServiceLifecycle
import SextantBase
import SextantControlPlane
import SextantKubeClient
import SextantRegistry
import SextantXDS

/// `sextant serve`: watch the configured clusters and serve xDS, readiness, debug and metrics.
struct ServeCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "serve",
    abstract: "Watch clusters and serve Envoy xDS.",
    discussion: """
      Environment: PILOT_DEBOUNCE_AFTER (default 100ms), PILOT_DEBOUNCE_MAX (default 10s) and \
      PILOT_ENABLE_EDS_DEBOUNCE (default true) tune push batching as in istiod; PILOT_REMOTE_CLUSTER_TIMEOUT \
      (default 30s, 0 waits forever) bounds how long readiness waits for a remote cluster; \
      PILOT_INSECURE_MULTICLUSTER_KUBECONFIG_OPTIONS lists kubeconfig features remote secrets may use; CLUSTER_ID is \
      the default of --cluster-id. ISTIOD_CUSTOM_HOST adds comma-separated names (IPs become IP SANs) to the \
      secure port's certificate; DEFAULT_WORKLOAD_CERT_TTL (24h) and MAX_WORKLOAD_CERT_TTL (90 days, 2160h) bound \
      workload certificates.
      """
  )

  @Option(help: "Directory whose subdirectories are file-backed clusters (the directory name is the cluster ID).")
  var clustersDir: String?

  @Option(
    help:
      "Kubeconfig of the primary (config) cluster; inside a pod the service-account credentials are used without it.")
  var kubeconfig: String?

  @Option(help: "ID of the primary cluster (default: $CLUSTER_ID, else Kubernetes).")
  var clusterID: String?

  @Option(help: "Server-side timeout of each Kubernetes watch request, e.g. 5m (shorter values relist more often).")
  var watchTimeout: String = "5m"

  @Option(help: "Address the listeners bind (the HTTP and monitoring ports unless given their own).")
  var listenAddress: String = "0.0.0.0"

  @Option(help: "Plaintext gRPC xDS port (0 disables it).")
  var grpcPort: Int = 15010

  @Option(help: "TLS gRPC port for authenticated xDS, SDS and the certificate service (0 disables it).")
  var secureGrpcPort: Int = 15012

  @Option(help: "How long one xDS response may take to be read before the proxy is disconnected, e.g. 30s.")
  var xdsSendTimeout: String = "30s"

  @Option(help: "Maximum age of a gRPC connection before it is drained (±10% jitter), e.g. 30m; 0 keeps it forever.")
  var keepaliveMaxServerConnectionAge: String = "30m"

  @Option(help: "Directory with Istio's plug-in CA files: ca-cert.pem, ca-key.pem, cert-chain.pem, root-cert.pem.")
  var caDir: String?

  @Option(help: "Directory where the self-signed root is kept when there is no plug-in CA and no Kubernetes.")
  var selfSignedCaDir: String?

  @Option(help: "HTTP port for /ready and debug endpoints (0 disables it).")
  var httpPort: Int = 8080

  @Option(help: "Monitoring port for /metrics and /debug/* (0 disables it).")
  var monitoringPort: Int = 15014

  @Option(help: "Address the HTTP port binds, e.g. 127.0.0.1 (default: --listen-address).")
  var httpListenAddress: String?

  @Option(help: "Address the monitoring port binds, e.g. 127.0.0.1 (default: --listen-address).")
  var monitoringListenAddress: String?

  @Option(help: "How long a connection to the HTTP or monitoring port may stay idle before it is closed, e.g. 60s.")
  var adminIdleTimeout: String = "60s"

  @Option(help: "DNS domain suffix of service hostnames.")
  var domainSuffix: String = "cluster.local"

  @Option(help: "Namespace of the control plane.")
  var systemNamespace: String = "istio-system"

  @Option(help: "YAML file with Istio meshConfig settings (a subset; unknown keys are an error).")
  var meshConfig: String?

  @Option(
    help:
      "YAML file with Istio meshNetworks (networks: endpoints fromRegistry/fromCidr, gateways); istiod's --meshNetworks."
  )
  var meshNetworks: String?

  @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
  var logLevel: String = "info"

  func validate() throws {
    for (name, port) in [
      ("--grpc-port", grpcPort), ("--secure-grpc-port", secureGrpcPort), ("--http-port", httpPort),
      ("--monitoring-port", monitoringPort),
    ]
    where !(0...65535).contains(port) {
      throw ValidationError("\(name) \(port) is not a port number (0 to 65535; 0 disables the listener)")
    }
    guard Logger.Level(rawValue: logLevel) != nil else {
      throw ValidationError(
        "--log-level \(logLevel) is not one of trace, debug, info, notice, warning, error, critical")
    }
    guard GoDuration.parse(watchTimeout).map({ $0 > .zero }) == true else {
      throw ValidationError("--watch-timeout \(watchTimeout) is not a positive duration such as 30s or 5m")
    }
    guard GoDuration.parse(xdsSendTimeout).map({ $0 > .zero }) == true else {
      throw ValidationError("--xds-send-timeout \(xdsSendTimeout) is not a positive duration such as 30s")
    }
    guard GoDuration.parse(keepaliveMaxServerConnectionAge).map({ $0 >= .zero }) == true else {
      throw ValidationError(
        "--keepalive-max-server-connection-age \(keepaliveMaxServerConnectionAge) is not a duration such as 30m")
    }
    guard GoDuration.parse(adminIdleTimeout).map({ $0 > .zero }) == true else {
      throw ValidationError("--admin-idle-timeout \(adminIdleTimeout) is not a positive duration such as 60s")
    }
  }

  func run() async throws {
    let configuration = try configuration(environment: ProcessInfo.processInfo.environment)
    let level = Logger.Level(rawValue: logLevel) ?? .info
    LoggingSystem.bootstrap { label in
      var handler = StreamLogHandler.standardError(label: label)
      handler.logLevel = level
      return handler
    }
    let prometheus = PrometheusCollectorRegistry()
    MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: prometheus))
    let logger = Logger(label: "sextant")
    let controlPlane = ControlPlane(configuration: configuration, logger: logger) {
      var buffer: [UInt8] = []
      prometheus.emit(into: &buffer)
      return String(decoding: buffer, as: UTF8.self)
    }
    let group = ServiceGroup(
      configuration: ServiceGroupConfiguration(
        services: [.init(service: controlPlane)],
        gracefulShutdownSignals: [.sigterm, .sigint],
        logger: logger
      ))
    do {
      try await group.run()
    } catch let error as StartupError {
      // One line naming what is wrong (a CA file and the failed check, say); no usage text: the flags were fine.
      FileHandle.standardError.write(Data("sextant: error: \(error)\n".utf8))
      throw ExitCode.failure
    }
  }

  /// Resolves flags, environment and files into the control plane's configuration; every error names its source.
  func configuration(environment: [String: String]) throws -> ControlPlane.Configuration {
    var configuration = ControlPlane.Configuration.defaults
    var mesh = MeshConfig.defaults
    if let path = meshConfig {
      let text: String
      do {
        text = try String(contentsOfFile: path, encoding: .utf8)
      } catch {
        throw ValidationError("--mesh-config \(path): cannot read: \(error.localizedDescription)")
      }
      do {
        mesh = try MeshConfig(yaml: text, source: path)
      } catch {
        throw ValidationError("--mesh-config \(error)")
      }
    }
    if let path = meshNetworks {
      guard mesh.meshNetworks == .none else {
        throw ValidationError("--mesh-networks \(path): meshNetworks is also set in --mesh-config; give it once")
      }
      let text: String
      do {
        text = try String(contentsOfFile: path, encoding: .utf8)
      } catch {
        throw ValidationError("--mesh-networks \(path): cannot read: \(error.localizedDescription)")
      }
      do {
        mesh.meshNetworks = try MeshNetworks(yaml: text, source: path)
      } catch {
        throw ValidationError("--mesh-networks \(error)")
      }
    }
    if let path = kubeconfig {
      let text: String
      do {
        text = try String(contentsOfFile: path, encoding: .utf8)
      } catch {
        throw ValidationError("--kubeconfig \(path): cannot read: \(error.localizedDescription)")
      }
      do {
        let config = try Kubeconfig.parse(yaml: text, source: path, policy: .trusted).clientConfig()
        configuration.primary = .init(config: config, source: path)
      } catch {
        throw ValidationError("--kubeconfig \(error)")
      }
    } else if environment["KUBERNETES_SERVICE_HOST"] != nil {
      do {
        configuration.primary = .init(
          config: try KubeClientConfig.inCluster(environment: environment), source: "in-cluster")
      } catch {
        throw ValidationError("in-cluster Kubernetes credentials: \(error)")
      }
    }
    if configuration.primary != nil, selfSignedCaDir != nil {
      throw ValidationError(
        "--self-signed-ca-dir is for meshes without Kubernetes: with Kubernetes the self-signed root is kept in the "
          + "Secret istio-ca-secret of --system-namespace (or give --ca-dir)")
    }
    guard clustersDir != nil || configuration.primary != nil else {
      throw ValidationError("nothing to watch: give --clusters-dir, --kubeconfig, or run inside a Kubernetes pod")
    }
    configuration.clustersDirectory = clustersDir
    configuration.watchTimeout = GoDuration.parse(watchTimeout) ?? .seconds(300)
    configuration.listenAddress = listenAddress
    configuration.grpcPort = grpcPort
    configuration.xdsLimits.sendTimeout = GoDuration.parse(xdsSendTimeout) ?? .seconds(30)
    let age = GoDuration.parse(keepaliveMaxServerConnectionAge) ?? .seconds(1800)
    configuration.xdsLimits.maximumConnectionAge = age == .zero ? nil : age
    configuration.httpPort = httpPort
    configuration.monitoringPort = monitoringPort
    configuration.httpListenAddress = httpListenAddress
    configuration.monitoringListenAddress = monitoringListenAddress
    configuration.adminIdleTimeout = GoDuration.parse(adminIdleTimeout) ?? .seconds(60)
    configuration.security.securePort = secureGrpcPort
    configuration.security.caDirectory = caDir
    configuration.security.selfSignedDirectory = selfSignedCaDir
    configuration.domainSuffix = domainSuffix
    configuration.systemNamespace = systemNamespace
    configuration.mesh = mesh
    do {
      try PilotEnvironment.apply(environment, to: &configuration, clusterIDFlag: clusterID)
    } catch {
      throw ValidationError(error.description)
    }
    return configuration
  }
}
