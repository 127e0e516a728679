import Testing

@testable import SextantControlPlane

/// istiod's environment knobs over a control-plane configuration.
@Suite("PILOT_* and istiod environment")
struct PilotEnvironmentTests {
  static func apply(
    _ environment: [String: String], clusterID: String? = nil
  ) throws(ConfigurationError) -> ControlPlane.Configuration {
    var configuration = ControlPlane.Configuration.defaults
    try PilotEnvironment.apply(environment, to: &configuration, clusterIDFlag: clusterID)
    return configuration
  }

  @Test("unset variables keep istiod's defaults")
  func defaults() throws {
    let configuration = try Self.apply([:])
    #expect(configuration.clusterID == "Kubernetes")
    #expect(configuration.debounce.after == .milliseconds(100))
    #expect(configuration.debounce.max == .seconds(10))
    #expect(configuration.debounce.debounceEndpoints)
    #expect(configuration.remote.syncTimeout == .seconds(30))
    #expect(configuration.remote.insecureKubeconfigOptions.isEmpty)
    #expect(configuration.security.customHosts.isEmpty)
    #expect(configuration.security.workloadTTL == .seconds(86_400))
    #expect(configuration.security.maximumWorkloadTTL == .seconds(90 * 86_400))
    #expect(configuration.resolveHostnameGateways)
  }

  @Test("every knob is read")
  func knobs() throws {
    let configuration = try Self.apply([
      "CLUSTER_ID": "east",
      "PILOT_DEBOUNCE_AFTER": "250ms",
      "PILOT_DEBOUNCE_MAX": "2s",
      "PILOT_ENABLE_EDS_DEBOUNCE": "false",
      "PILOT_REMOTE_CLUSTER_TIMEOUT": "0",
      "PILOT_INSECURE_MULTICLUSTER_KUBECONFIG_OPTIONS": " exec , insecure-skip-tls-verify,,",
      "ISTIOD_CUSTOM_HOST": "istiod.example.com, 10.0.0.1",
      "DEFAULT_WORKLOAD_CERT_TTL": "1h",
      "MAX_WORKLOAD_CERT_TTL": "48h",
      "RESOLVE_HOSTNAME_GATEWAYS": "0",
    ])
    #expect(configuration.clusterID == "east")
    #expect(configuration.debounce.after == .milliseconds(250))
    #expect(configuration.debounce.max == .seconds(2))
    #expect(!configuration.debounce.debounceEndpoints)
    #expect(configuration.remote.syncTimeout == nil)
    #expect(configuration.remote.insecureKubeconfigOptions == ["exec", "insecure-skip-tls-verify"])
    #expect(configuration.security.customHosts == ["istiod.example.com", "10.0.0.1"])
    #expect(configuration.security.workloadTTL == .seconds(3600))
    #expect(configuration.security.maximumWorkloadTTL == .seconds(48 * 3600))
    #expect(!configuration.resolveHostnameGateways)
  }

  @Test("the --cluster-id flag wins over CLUSTER_ID")
  func clusterIDFlag() throws {
    #expect(try Self.apply(["CLUSTER_ID": "east"], clusterID: "west").clusterID == "west")
  }

  @Test(
    "a malformed value names the variable and what was expected",
    arguments: [
      ("PILOT_DEBOUNCE_AFTER", "soon", "PILOT_DEBOUNCE_AFTER=soon: expected a duration such as 100ms or 10s"),
      ("PILOT_DEBOUNCE_MAX", "-1s", "PILOT_DEBOUNCE_MAX=-1s: expected a duration such as 100ms or 10s"),
      ("PILOT_ENABLE_EDS_DEBOUNCE", "yes", "PILOT_ENABLE_EDS_DEBOUNCE=yes: expected true or false"),
      ("RESOLVE_HOSTNAME_GATEWAYS", "maybe", "RESOLVE_HOSTNAME_GATEWAYS=maybe: expected true or false"),
      (
        "PILOT_REMOTE_CLUSTER_TIMEOUT", "30",
        "PILOT_REMOTE_CLUSTER_TIMEOUT=30: expected a duration such as 100ms or 10s"
      ),
    ])
  func malformed(name: String, value: String, message: String) {
    #expect(throws: ConfigurationError.self) { try Self.apply([name: value]) }
    do {
      _ = try Self.apply([name: value])
    } catch {
      #expect(error.description == message)
      #expect(error.code == .invalidValue)
    }
  }

  @Test("a workload lifetime above the maximum is refused")
  func ttlAboveMaximum() {
    #expect(throws: ConfigurationError.self) {
      try Self.apply(["DEFAULT_WORKLOAD_CERT_TTL": "100h", "MAX_WORKLOAD_CERT_TTL": "48h"])
    }
  }

  @Test("plug-in CA files and a self-signed directory exclude each other")
  func caConflict() {
    var configuration = ControlPlane.Configuration.defaults
    configuration.security.caDirectory = "/ca"
    configuration.security.selfSignedDirectory = "/self"
    #expect(
      throws: ConfigurationError(
        .conflict, "exclude each other: plug-in material or a self-signed root",
        context: "--ca-dir and --self-signed-ca-dir")
    ) {
      try PilotEnvironment.apply([:], to: &configuration)
    }
  }
}
