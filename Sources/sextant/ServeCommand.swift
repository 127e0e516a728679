import ArgumentParser
import Foundation
import Logging
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

  @Option(help: "Kubeconfig of the primary (config) cluster; inside a pod the service-account credentials are used without it.")
  var kubeconfig: String?

  @Option(help: "ID of the primary cluster (default: $CLUSTER_ID, else Kubernetes).")
  var clusterID: String?

  @Option(help: "Server-side timeout of each Kubernetes watch request, e.g. 5m (shorter values relist more often).")
  var watchTimeout: String = "5m"

  @Option(help: "Address every listener binds.")
  var listenAddress: String = "0.0.0.0"

  @Option(help: "Plaintext gRPC xDS port (0 disables it).")
  var grpcPort: Int = 15010

  @Option(help: "TLS gRPC port for authenticated xDS, SDS and the certificate service (0 disables it).")
  var secureGrpcPort: Int = 15012

  @Option(help: "Directory with Istio's plug-in CA files: ca-cert.pem, ca-key.pem, cert-chain.pem, root-cert.pem.")
  var caDir: String?

  @Option(help: "Directory where the self-signed root is kept when there is no plug-in CA and no Kubernetes.")
  var selfSignedCaDir: String?

  @Option(help: "HTTP port for /ready and debug endpoints (0 disables it).")
  var httpPort: Int = 8080

  @Option(help: "Monitoring port for /metrics and /debug/* (0 disables it).")
  var monitoringPort: Int = 15014

  @Option(help: "DNS domain suffix of service hostnames.")
  var domainSuffix: String = "cluster.local"

  @Option(help: "Namespace of the control plane.")
  var systemNamespace: String = "istio-system"

  @Option(help: "YAML file with Istio meshConfig settings (a subset; unknown keys are an error).")
  var meshConfig: String?

  @Option(
    help: "YAML file with Istio meshNetworks (networks: endpoints fromRegistry/fromCidr, gateways); istiod's --meshNetworks.")
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
      throw ValidationError("--log-level \(logLevel) is not one of trace, debug, info, notice, warning, error, critical")
    }
    guard GoDuration.parse(watchTimeout).map({ $0 > .zero }) == true else {
      throw ValidationError("--watch-timeout \(watchTimeout) is not a positive duration such as 30s or 5m")
    }
  }

  func run() async throws {
    let settings = try settings(environment: ProcessInfo.processInfo.environment)
    do {
      try await Server(settings: settings).run()
    } catch let error as StartupError {
      // One line naming what is wrong (a CA file and the failed check, say); no usage text: the flags were fine.
      FileHandle.standardError.write(Data("sextant: error: \(error)\n".utf8))
      throw ExitCode.failure
    }
  }

  /// Resolves flags, environment and files into the server's settings; every error names its source.
  func settings(environment: [String: String]) throws -> ServerSettings {
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
    var primary: ServerSettings.Primary?
    if let path = kubeconfig {
      let text: String
      do {
        text = try String(contentsOfFile: path, encoding: .utf8)
      } catch {
        throw ValidationError("--kubeconfig \(path): cannot read: \(error.localizedDescription)")
      }
      do {
        let config = try Kubeconfig.parse(yaml: text, source: path, policy: .trusted).clientConfig()
        primary = ServerSettings.Primary(config: config, source: path)
      } catch {
        throw ValidationError("--kubeconfig \(error)")
      }
    } else if environment["KUBERNETES_SERVICE_HOST"] != nil {
      do {
        primary = ServerSettings.Primary(config: try KubeClientConfig.inCluster(environment: environment), source: "in-cluster")
      } catch {
        throw ValidationError("in-cluster Kubernetes credentials: \(error)")
      }
    }
    if primary != nil, selfSignedCaDir != nil {
      throw ValidationError(
        "--self-signed-ca-dir is for meshes without Kubernetes: with Kubernetes the self-signed root is kept in the "
          + "Secret istio-ca-secret of --system-namespace (or give --ca-dir)")
    }
    guard clustersDir != nil || primary != nil else {
      throw ValidationError("nothing to watch: give --clusters-dir, --kubeconfig, or run inside a Kubernetes pod")
    }
    return ServerSettings(
      clustersDirectory: clustersDir,
      primary: primary,
      clusterID: clusterID ?? environment["CLUSTER_ID"] ?? "Kubernetes",
      watchTimeout: GoDuration.parse(watchTimeout) ?? .seconds(300),
      remote: try PilotEnvironment.remoteClusters(environment),
      listenAddress: listenAddress,
      grpcPort: grpcPort,
      httpPort: httpPort,
      monitoringPort: monitoringPort,
      security: try PilotEnvironment.security(
        environment,
        securePort: secureGrpcPort,
        caDirectory: caDir,
        selfSignedDirectory: selfSignedCaDir
      ),
      domainSuffix: domainSuffix,
      systemNamespace: systemNamespace,
      mesh: mesh,
      resolveHostnameGateways: try PilotEnvironment.flag(environment, "RESOLVE_HOSTNAME_GATEWAYS", default: true),
      debounce: try PilotEnvironment.debounce(environment),
      logLevel: Logger.Level(rawValue: logLevel) ?? .info
    )
  }
}

/// istiod's environment knobs that Sextant honours.
enum PilotEnvironment {
  /// PILOT_DEBOUNCE_AFTER, PILOT_DEBOUNCE_MAX and PILOT_ENABLE_EDS_DEBOUNCE over the defaults.
  static func debounce(_ environment: [String: String]) throws -> DebounceConfig {
    var config = DebounceConfig.defaults
    if let text = environment["PILOT_DEBOUNCE_AFTER"] {
      config.after = try duration("PILOT_DEBOUNCE_AFTER", text)
    }
    if let text = environment["PILOT_DEBOUNCE_MAX"] {
      config.max = try duration("PILOT_DEBOUNCE_MAX", text)
    }
    if environment["PILOT_ENABLE_EDS_DEBOUNCE"] != nil {
      config.debounceEndpoints = try flag(environment, "PILOT_ENABLE_EDS_DEBOUNCE", default: true)
    }
    return config
  }

  /// PILOT_REMOTE_CLUSTER_TIMEOUT (30s; 0 waits forever) and PILOT_INSECURE_MULTICLUSTER_KUBECONFIG_OPTIONS.
  static func remoteClusters(_ environment: [String: String]) throws -> (timeout: Duration?, insecureOptions: Set<String>) {
    var timeout: Duration? = .seconds(30)
    if let text = environment["PILOT_REMOTE_CLUSTER_TIMEOUT"] {
      let value = try duration("PILOT_REMOTE_CLUSTER_TIMEOUT", text)
      timeout = value == .zero ? nil : value
    }
    let options = (environment["PILOT_INSECURE_MULTICLUSTER_KUBECONFIG_OPTIONS"] ?? "")
      .split(separator: ",")
      .map { $0.trimmingCharacters(in: .whitespaces) }
      .filter { !$0.isEmpty }
    return (timeout, Set(options))
  }

  /// ISTIOD_CUSTOM_HOST, DEFAULT_WORKLOAD_CERT_TTL and MAX_WORKLOAD_CERT_TTL with the CA and secure-port flags.
  static func security(
    _ environment: [String: String],
    securePort: Int,
    caDirectory: String?,
    selfSignedDirectory: String?
  ) throws -> ServerSettings.Security {
    var settings = ServerSettings.Security(
      securePort: securePort,
      caDirectory: caDirectory,
      selfSignedDirectory: selfSignedDirectory
    )
    settings.customHosts = (environment["ISTIOD_CUSTOM_HOST"] ?? "")
      .split(separator: ",")
      .map { $0.trimmingCharacters(in: .whitespaces) }
      .filter { !$0.isEmpty }
    if let text = environment["DEFAULT_WORKLOAD_CERT_TTL"] {
      settings.workloadTTL = try duration("DEFAULT_WORKLOAD_CERT_TTL", text)
    }
    if let text = environment["MAX_WORKLOAD_CERT_TTL"] {
      settings.maximumWorkloadTTL = try duration("MAX_WORKLOAD_CERT_TTL", text)
    }
    guard settings.workloadTTL > .zero, settings.workloadTTL <= settings.maximumWorkloadTTL else {
      throw ValidationError(
        "DEFAULT_WORKLOAD_CERT_TTL (\(settings.workloadTTL)) must be positive and at most MAX_WORKLOAD_CERT_TTL "
          + "(\(settings.maximumWorkloadTTL))")
    }
    if caDirectory != nil, selfSignedDirectory != nil {
      throw ValidationError("--ca-dir and --self-signed-ca-dir exclude each other: plug-in material or a self-signed root")
    }
    return settings
  }

  /// A boolean knob: true/1 or false/0; `default` when unset.
  static func flag(_ environment: [String: String], _ name: String, default value: Bool) throws -> Bool {
    guard let text = environment[name] else { return value }
    switch text.lowercased() {
    case "true", "1": return true
    case "false", "0": return false
    default: throw ValidationError("\(name)=\(text): expected true or false")
    }
  }

  static func duration(_ name: String, _ text: String) throws -> Duration {
    guard let value = GoDuration.parse(text), value >= .zero else {
      throw ValidationError("\(name)=\(text): expected a duration such as 100ms or 10s")
    }
    return value
  }
}
