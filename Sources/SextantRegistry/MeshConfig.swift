import SextantBase
import SextantKube
import Yams

/// The subset of Istio's meshConfig that Sextant reads, from a YAML file given with `--mesh-config`.
///
/// Keys Sextant does not know are an error naming the key, so a typo never silently changes nothing.
package struct MeshConfig: Sendable, Hashable {
  /// What a sidecar does with traffic to hosts not in the registry (`outboundTrafficPolicy.mode`).
  package enum OutboundTrafficPolicy: String, Sendable, Hashable {
    /// Pass it through to its original destination (istiod's default).
    case allowAny = "ALLOW_ANY"
    /// Drop it (BlackHoleCluster).
    case registryOnly = "REGISTRY_ONLY"
  }

  /// Upstream connect timeout of generated clusters (`connectTimeout`, default 10s).
  package var connectTimeout: Duration = .seconds(10)
  package var outboundTrafficPolicy: OutboundTrafficPolicy = .allowAny
  /// The trust domain of workload identities (`trustDomain`, default `cluster.local`).
  package var trustDomain: String = "cluster.local"
  /// Networks declared in configuration (`meshNetworks`, Istio's separate meshNetworks document nested here).
  package var meshNetworks: MeshNetworks = .none

  package init() {}

  /// The defaults istiod uses when no mesh config is given.
  package static let defaults = MeshConfig()

  /// Parses mesh config YAML; `source` names the file in errors.
  package init(yaml: String, source: String) throws(ConfigFileError) {
    let node: Yams.Node?
    do throws(SourceSyntaxError) {
      node = try GuardedYAML.document(in: yaml)
    } catch {
      throw ConfigFileError(
        .invalidMeshConfig, source: source, key: "", message: "not valid YAML: \(error.message)", line: error.line)
    }
    self.init()
    guard let node else { return }
    guard let mapping = node.mapping else {
      throw ConfigFileError(
        .invalidMeshConfig, source: source, key: "", message: "expected a mapping of meshConfig keys")
    }
    for (keyNode, value) in mapping {
      let key = keyNode.string ?? "\(keyNode)"
      switch key {
      case "connectTimeout":
        guard let text = value.string, let duration = GoDuration.parse(text), duration > .zero else {
          throw ConfigFileError(
            .invalidMeshConfig, source: source, key: key, message: "expected a positive duration such as 10s",
            line: value.mark?.line)
        }
        connectTimeout = duration
      case "trustDomain":
        guard let text = value.string, !text.isEmpty else {
          throw ConfigFileError(
            .invalidMeshConfig, source: source, key: key, message: "expected a non-empty string", line: value.mark?.line
          )
        }
        trustDomain = text
      case "meshNetworks":
        do {
          meshNetworks = try MeshNetworks(node: value, source: source, path: key)
        } catch {
          var inMeshConfig = error
          inMeshConfig.code = .invalidMeshConfig  // the file is a mesh config; the key path says where inside it
          throw inMeshConfig
        }
      case "outboundTrafficPolicy":
        guard let policy = value.mapping else {
          throw ConfigFileError(
            .invalidMeshConfig, source: source, key: key, message: "expected a mapping with key mode",
            line: value.mark?.line)
        }
        for (innerKey, innerValue) in policy {
          let name = innerKey.string ?? "\(innerKey)"
          guard name == "mode" else {
            throw ConfigFileError(
              .invalidMeshConfig, source: source, key: "\(key).\(name)", message: "unknown key",
              line: innerKey.mark?.line)
          }
          guard let text = innerValue.string, let mode = OutboundTrafficPolicy(rawValue: text) else {
            throw ConfigFileError(
              .invalidMeshConfig,
              source: source,
              key: "\(key).mode",
              message: "expected ALLOW_ANY or REGISTRY_ONLY",
              line: innerValue.mark?.line
            )
          }
          outboundTrafficPolicy = mode
        }
      default:
        throw ConfigFileError(
          .invalidMeshConfig, source: source, key: key, message: "unknown key", line: keyNode.mark?.line)
      }
    }
  }
}
