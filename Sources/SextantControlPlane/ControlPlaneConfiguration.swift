import Logging
import SextantKubeClient
import SextantRegistry
import SextantXDS

extension ControlPlane {
  /// Everything a control plane needs to start, resolved and validated (`sextant serve` builds it from flags,
  /// environment and files; tests build it directly).
  ///
  /// Start from `defaults` and set at least one cluster source: `clustersDirectory` or `primary`.
  public struct Configuration: Sendable {
    /// The primary (config) cluster's API server.
    public struct Primary: Sendable {
      package var config: KubeClientConfig
      /// Where the credentials came from (a kubeconfig path or `in-cluster`), for logs.
      package var source: String

      package init(config: KubeClientConfig, source: String) {
        self.config = config
        self.source = source
      }
    }

    /// Remote clusters named by remote secrets.
    public struct Remote: Sendable {
      /// PILOT_REMOTE_CLUSTER_TIMEOUT: how long readiness waits for a remote cluster (nil: forever).
      public var syncTimeout: Duration? = .seconds(30)
      /// PILOT_INSECURE_MULTICLUSTER_KUBECONFIG_OPTIONS: kubeconfig features remote secrets may use.
      public var insecureKubeconfigOptions: Set<String> = []

      public init() {}
    }

    /// The CA, the secure port and workload certificate lifetimes.
    public struct Security: Sendable {
      /// TLS gRPC port (0: disabled).
      public var securePort: Int = 15012
      /// Istio plug-in CA files (`--ca-dir`).
      public var caDirectory: String?
      /// Where the self-signed root is kept without plug-in material and without Kubernetes.
      public var selfSignedDirectory: String?
      /// ISTIOD_CUSTOM_HOST: extra names (and IPs) of the serving certificate.
      public var customHosts: [String] = []
      /// DEFAULT_WORKLOAD_CERT_TTL.
      public var workloadTTL: Duration = .seconds(86_400)
      /// MAX_WORKLOAD_CERT_TTL.
      public var maximumWorkloadTTL: Duration = .seconds(90 * 86_400)

      public init() {}
    }

    /// A file-backed clusters directory: every subdirectory is a cluster.
    public var clustersDirectory: String?
    /// How often the clusters directory is scanned.
    public var clustersDirectoryPollInterval: Duration = .milliseconds(250)
    package var primary: Primary?
    /// The primary cluster's ID (`--cluster-id`, CLUSTER_ID).
    public var clusterID: String = "Kubernetes"
    /// Server-side timeout of each Kubernetes watch request.
    public var watchTimeout: Duration = .seconds(300)
    public var remote = Remote()
    /// The address every listener binds.
    public var listenAddress: String = "0.0.0.0"
    /// Plaintext gRPC xDS port (0: disabled).
    public var grpcPort: Int = 15010
    /// Readiness and debug HTTP port (0: disabled).
    public var httpPort: Int = 8080
    /// Metrics and debug HTTP port (0: disabled).
    public var monitoringPort: Int = 15014
    /// The address the HTTP port binds (`--http-listen-address`); nil: `listenAddress`.
    public var httpListenAddress: String?
    /// The address the monitoring port binds (`--monitoring-listen-address`); nil: `listenAddress`.
    ///
    /// Set it to `127.0.0.1` to keep `/debug/*` and `/metrics` on loopback while xDS listens on every address.
    public var monitoringListenAddress: String?
    /// How long a connection to the HTTP or monitoring port may stay idle (no request in progress) before it is
    /// closed (`--admin-idle-timeout`).
    public var adminIdleTimeout: Duration = .seconds(60)
    public var security = Security()
    /// Service hostnames are `NAME.NAMESPACE.svc.DOMAIN_SUFFIX`.
    public var domainSuffix: String = "cluster.local"
    /// The control plane's namespace.
    public var systemNamespace: String = "istio-system"
    package var mesh: MeshConfig = .defaults
    /// RESOLVE_HOSTNAME_GATEWAYS: resolve gateway Services' load-balancer hostnames.
    public var resolveHostnameGateways: Bool = true
    package var debounce: DebounceConfig = .defaults
    /// Bounds on xDS clients: message size, streams, connection age, keepalive, send deadline, names and unknown types
    /// (ISTIO_GPRC_MAXRECVMSGSIZE, ISTIO_GPRC_MAXSTREAMS, GRPC_KEEPALIVE_INTERVAL/TIMEOUT, `--xds-send-timeout`, ...).
    package var xdsLimits: XDSLimits = .defaults
    /// How long graceful shutdown may take before the remaining services are cancelled.
    public var maximumGracefulShutdownDuration: Duration = .seconds(10)

    /// istiod's defaults; no cluster source yet.
    public static var defaults: Configuration { Configuration() }

    private init() {}
  }
}
