import Foundation
import SextantBase
import SextantXDS

/// istiod's environment knobs that Sextant honours, applied over a configuration.
///
/// Unset variables keep the configuration's value; a malformed one throws `ConfigurationError` naming it.
public enum PilotEnvironment {
  /// Applies every knob: debounce, remote clusters, security, RESOLVE_HOSTNAME_GATEWAYS and CLUSTER_ID (the
  /// default cluster ID, used when `clusterIDFlag` is nil).
  public static func apply(
    _ environment: [String: String],
    to configuration: inout ControlPlane.Configuration,
    clusterIDFlag: String? = nil
  ) throws(ConfigurationError) {
    configuration.clusterID = clusterIDFlag ?? environment["CLUSTER_ID"] ?? configuration.clusterID
    configuration.debounce = try debounce(environment, over: configuration.debounce)
    try remoteClusters(environment, into: &configuration.remote)
    try security(environment, into: &configuration.security)
    configuration.resolveHostnameGateways = try flag(
      environment, "RESOLVE_HOSTNAME_GATEWAYS", default: configuration.resolveHostnameGateways)
    try xdsLimits(environment, into: &configuration.xdsLimits)
  }

  /// ISTIO_GPRC_MAXRECVMSGSIZE (bytes; istiod's spelling), ISTIO_GPRC_MAXSTREAMS, GRPC_KEEPALIVE_INTERVAL and
  /// GRPC_KEEPALIVE_TIMEOUT over `limits`.
  package static func xdsLimits(
    _ environment: [String: String], into limits: inout XDSLimits
  ) throws(ConfigurationError) {
    if let text = environment["ISTIO_GPRC_MAXRECVMSGSIZE"] {
      limits.maximumRequestBytes = try positive("ISTIO_GPRC_MAXRECVMSGSIZE", text)
    }
    if let text = environment["ISTIO_GPRC_MAXSTREAMS"] {
      limits.maximumConcurrentStreamsPerConnection = try positive("ISTIO_GPRC_MAXSTREAMS", text)
    }
    if let text = environment["GRPC_KEEPALIVE_INTERVAL"] {
      limits.keepaliveTime = try duration("GRPC_KEEPALIVE_INTERVAL", text)
    }
    if let text = environment["GRPC_KEEPALIVE_TIMEOUT"] {
      limits.keepaliveTimeout = try duration("GRPC_KEEPALIVE_TIMEOUT", text)
    }
    guard limits.keepaliveTime > .zero, limits.keepaliveTimeout > .zero else {
      throw ConfigurationError(
        .invalidValue, "must be positive",
        context:
          "GRPC_KEEPALIVE_INTERVAL (\(limits.keepaliveTime)) and GRPC_KEEPALIVE_TIMEOUT (\(limits.keepaliveTimeout))")
    }
  }

  /// A positive integer knob.
  static func positive(_ name: String, _ text: String) throws(ConfigurationError) -> Int {
    guard let value = Int(text), value > 0 else {
      throw ConfigurationError(.invalidValue, "expected a positive whole number", context: "\(name)=\(text)")
    }
    return value
  }

  /// PILOT_DEBOUNCE_AFTER, PILOT_DEBOUNCE_MAX and PILOT_ENABLE_EDS_DEBOUNCE over `config`.
  package static func debounce(
    _ environment: [String: String], over config: DebounceConfig = .defaults
  ) throws(ConfigurationError) -> DebounceConfig {
    var config = config
    if let text = environment["PILOT_DEBOUNCE_AFTER"] {
      config.after = try duration("PILOT_DEBOUNCE_AFTER", text)
    }
    if let text = environment["PILOT_DEBOUNCE_MAX"] {
      config.max = try duration("PILOT_DEBOUNCE_MAX", text)
    }
    config.debounceEndpoints = try flag(environment, "PILOT_ENABLE_EDS_DEBOUNCE", default: config.debounceEndpoints)
    return config
  }

  /// PILOT_REMOTE_CLUSTER_TIMEOUT (30s; 0 waits forever) and PILOT_INSECURE_MULTICLUSTER_KUBECONFIG_OPTIONS.
  package static func remoteClusters(
    _ environment: [String: String], into remote: inout ControlPlane.Configuration.Remote
  ) throws(ConfigurationError) {
    if let text = environment["PILOT_REMOTE_CLUSTER_TIMEOUT"] {
      let value = try duration("PILOT_REMOTE_CLUSTER_TIMEOUT", text)
      remote.syncTimeout = value == .zero ? nil : value
    }
    if let text = environment["PILOT_INSECURE_MULTICLUSTER_KUBECONFIG_OPTIONS"] {
      remote.insecureKubeconfigOptions = Set(list(text))
    }
  }

  /// ISTIOD_CUSTOM_HOST, DEFAULT_WORKLOAD_CERT_TTL and MAX_WORKLOAD_CERT_TTL; checks that the CA flags agree.
  package static func security(
    _ environment: [String: String], into settings: inout ControlPlane.Configuration.Security
  ) throws(ConfigurationError) {
    if let text = environment["ISTIOD_CUSTOM_HOST"] {
      settings.customHosts = list(text)
    }
    if let text = environment["DEFAULT_WORKLOAD_CERT_TTL"] {
      settings.workloadTTL = try duration("DEFAULT_WORKLOAD_CERT_TTL", text)
    }
    if let text = environment["MAX_WORKLOAD_CERT_TTL"] {
      settings.maximumWorkloadTTL = try duration("MAX_WORKLOAD_CERT_TTL", text)
    }
    guard settings.workloadTTL > .zero, settings.workloadTTL <= settings.maximumWorkloadTTL else {
      throw ConfigurationError(
        .invalidValue,
        "must be positive and at most MAX_WORKLOAD_CERT_TTL (\(settings.maximumWorkloadTTL))",
        context: "DEFAULT_WORKLOAD_CERT_TTL (\(settings.workloadTTL))")
    }
    if settings.caDirectory != nil, settings.selfSignedDirectory != nil {
      throw ConfigurationError(
        .conflict, "exclude each other: plug-in material or a self-signed root",
        context: "--ca-dir and --self-signed-ca-dir")
    }
  }

  /// A boolean knob: true/1 or false/0; `default` when unset.
  package static func flag(
    _ environment: [String: String], _ name: String, default value: Bool
  ) throws(ConfigurationError) -> Bool {
    guard let text = environment[name] else { return value }
    switch text.lowercased() {
    case "true", "1": return true
    case "false", "0": return false
    default: throw ConfigurationError(.invalidValue, "expected true or false", context: "\(name)=\(text)")
    }
  }

  /// A duration knob in Go's syntax (100ms, 10s, 1h30m); negative values are refused.
  package static func duration(_ name: String, _ text: String) throws(ConfigurationError) -> Duration {
    guard let value = GoDuration.parse(text), value >= .zero else {
      throw ConfigurationError(.invalidValue, "expected a duration such as 100ms or 10s", context: "\(name)=\(text)")
    }
    return value
  }

  /// A comma-separated list with blanks trimmed and empty items dropped.
  static func list(_ text: String) -> [String] {
    text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
  }
}

/// A configuration that cannot be used: a stable code, a message and where it came from (a flag, a variable, a file).
public struct ConfigurationError: Error, Sendable, Hashable, CustomStringConvertible {
  public enum Code: String, Sendable, Hashable {
    /// A value does not parse or is out of range.
    case invalidValue = "invalid-value"
    /// Two settings exclude each other.
    case conflict
  }

  public var code: Code
  public var message: String
  /// The flag, variable or file concerned, with its value where that helps.
  public var context: String

  public init(_ code: Code, _ message: String, context: String) {
    self.code = code
    self.message = message
    self.context = context
  }

  public var description: String { "\(context): \(message)" }
}
