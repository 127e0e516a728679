import EnvoyAPI
import SextantBase
import SextantRegistry
import SwiftProtobuf
import Synchronization

/// Names every input a generator reads, so two proxies whose keys are equal may share the serialized output.
///
/// Versions come from the snapshot (`servicesVersion`, `endpointVersions[host]`): they change whenever the content
/// they stand for changes and never repeat for different content.
package enum ResourceCacheKey: Sendable, Hashable {
  /// All clusters: services, node type, interception mode (inbound clusters differ), the proxy's inbound ports,
  /// whether its stream gets certificates, and (gateways) what its Gateways serve.
  case clusters(
    servicesVersion: UInt64, type: NodeType, interceptionMode: InterceptionMode, inbound: InboundPlan, mutualTLS: Bool,
    gateway: GatewayPlan)
  /// All listeners: services, node type, interception mode, the address listeners bind (NONE mode only, else
  /// empty), the proxy's inbound ports, whether its stream gets certificates, and (gateways) its Gateways' plan.
  case listeners(
    servicesVersion: UInt64, type: NodeType, interceptionMode: InterceptionMode, bindAddress: String,
    inbound: InboundPlan, mutualTLS: Bool, gateway: GatewayPlan)
  /// One route configuration: services, its name and the proxy's namespace (short names depend on it).
  case route(name: String, servicesVersion: UInt64, namespace: String)
  /// One cluster's endpoints (`outbound|…` or a gateway's `outbound_.…`): that hostname's endpoint version, the
  /// proxy's network and the network topology's version (gateways replace other networks' endpoints).
  case endpoints(cluster: String, endpointVersion: UInt64, network: String, networksVersion: UInt64)
}

/// A serialized resource ready to put in a DiscoveryResponse, with a version derived from its bytes.
///
/// `version` (delta xDS's per-resource version) is a 64-bit FNV-1a of the serialized `Any` value, as 16 hex
/// digits, computed once here: a cached resource is hashed when it enters the cache, not for every stream it is sent
/// on. Serialization is deterministic (`EnvoyBuild.any`), so equal content has an equal version on every stream and
/// across restarts.
package struct SerializedResource: Sendable, Hashable {
  package let name: String
  package let resource: Google_Protobuf_Any
  package let version: String

  package init(name: String, resource: Google_Protobuf_Any) {
    self.name = name
    self.resource = resource
    self.version = Self.version(of: resource)
  }

  /// The content version of a serialized resource: FNV-1a (64-bit) of its type URL and value bytes, in hex.
  package static func version(of resource: Google_Protobuf_Any) -> String {
    var hash = FNV1a.offsetBasis
    func add(_ bytes: some Sequence<UInt8>) {
      for byte in bytes {
        hash ^= UInt64(byte)
        hash &*= FNV1a.prime
      }
    }
    add(resource.typeURL.utf8)
    resource.value.withUnsafeBytes { add($0) }
    let hex = String(hash, radix: 16)
    return String(repeating: "0", count: 16 - hex.count) + hex
  }
}

/// Serialized resources shared between proxies, built once per distinct `ResourceCacheKey`.
///
/// Entries whose key is no longer current for the newest snapshot are dropped by `prune(keeping:)`, which the push
/// pipeline calls for every snapshot it pushes.
package final class ResourceCache: Sendable {
  private struct State {
    var entries: [ResourceCacheKey: [SerializedResource]] = [:]
    var hits: UInt64 = 0
    var misses: UInt64 = 0
  }

  private let state = Mutex(State())

  package init() {}

  /// The cached resources for `key`, building (outside the lock) and storing them on a miss.
  package func resources(
    for key: ResourceCacheKey,
    build: () throws(XDSError) -> [SerializedResource]
  ) throws(XDSError) -> [SerializedResource] {
    if let cached = state.withLock({ state -> [SerializedResource]? in
      guard let entry = state.entries[key] else { return nil }
      state.hits += 1
      return entry
    }) {
      return cached
    }
    let built = try build()
    state.withLock { state in
      state.misses += 1
      state.entries[key] = built
    }
    return built
  }

  /// Drops entries built from inputs older than `snapshot`.
  package func prune(keeping snapshot: MeshSnapshot) {
    state.withLock { state in
      state.entries = state.entries.filter { key, _ in
        switch key {
        case .clusters(let version, _, _, _, _, let gateway), .listeners(let version, _, _, _, _, _, let gateway):
          // A gateway plan from older Istio config is not current either (its entries would pile up otherwise).
          return version == snapshot.servicesVersion
            && (gateway == .none || GatewayPlan.current(gateway, in: snapshot))
        case .route(_, let version, _):
          return version == snapshot.servicesVersion
        case .endpoints(let cluster, let version, _, let networksVersion):
          guard let host = ResourceNames.endpointHost(cluster) else { return false }
          return snapshot.endpointVersions[host] == version && networksVersion == snapshot.networksVersion
        }
      }
    }
  }

  /// Counts for the debug endpoints and benchmarks.
  package var statistics: (entries: Int, hits: UInt64, misses: UInt64) {
    state.withLock { ($0.entries.count, $0.hits, $0.misses) }
  }
}
