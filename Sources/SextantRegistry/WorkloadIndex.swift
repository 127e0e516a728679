import SextantKube

/// What an endpoint learns from the pod and node behind it: labels, identity, mTLS mode, network and locality.
///
/// Built once per cluster build. Pods are found by the endpoint's `targetRef` when it is a Pod (strictly: a missing
/// referenced pod gives no pod), otherwise by IP among the pods of the service's namespace (when several pods share an
/// IP, e.g. host-network pods, a non-terminal pod wins, then the first by name).
struct WorkloadIndex {
  private let pods: [NamespacedName: Pod]
  private let nodes: [String: Node]
  /// namespace → IP → pod.
  private let podsByIP: [String: [String: Pod]]
  /// The system namespace's network label (empty when unset).
  let namespaceNetwork: String
  /// The meshNetworks network naming the cluster in `fromRegistry` (empty when none).
  let registryNetwork: String
  let meshNetworks: MeshNetworks

  init(
    objects: ClusterObjects, namespaceNetwork: String, registryNetwork: String = "", meshNetworks: MeshNetworks = .none
  ) {
    pods = objects.pods
    nodes = objects.nodes
    self.namespaceNetwork = namespaceNetwork
    self.registryNetwork = registryNetwork
    self.meshNetworks = meshNetworks
    var byIP: [String: [String: (terminal: Bool, pod: Pod)]] = [:]
    for key in objects.pods.keys.sorted() {
      let pod = objects.pods[key]!
      let terminal = pod.status?.phase == "Succeeded" || pod.status?.phase == "Failed"
      var ips = (pod.status?.podIPs ?? []).map(\.ip)
      if let ip = pod.status?.podIP { ips.append(ip) }
      for ip in ips where !ip.isEmpty {
        if let existing = byIP[key.namespace]?[ip], !existing.terminal || terminal { continue }
        byIP[key.namespace, default: [:]][ip] = (terminal, pod)
      }
    }
    podsByIP = byIP.mapValues { $0.mapValues(\.pod) }
  }

  /// Where an endpoint address came from: the fields EndpointSlice and Endpoints addresses share.
  struct Source {
    var address: String
    var namespace: String
    var targetRef: ObjectReference?
    var nodeName: String?
    /// The slice endpoint's zone (v1 `zone`, or v1beta1 `topology["topology.kubernetes.io/zone"]`).
    var zone: String?
  }

  /// The facts about one endpoint address; `port` and `servicePort` are left 0 for the caller to fill.
  func endpoint(for source: Source, cluster: ClusterID) -> MeshEndpoint {
    let pod = self.pod(for: source)
    let labels = pod?.metadata.labels ?? [:]
    let nodeName = nonEmpty(pod?.spec?.nodeName) ?? nonEmpty(source.nodeName)
    let node = nodeName.flatMap { nodes[$0] }

    let locality: Locality
    if let label = nonEmpty(labels[WellKnownLabels.locality]) ?? nonEmpty(labels[WellKnownLabels.legacyLocality]) {
      locality = Locality(istioLabel: label)
    } else if let node, let fromNode = Locality(node: node) {
      locality = fromNode
    } else {
      locality = Locality(zone: source.zone ?? "")
    }

    return MeshEndpoint(
      address: source.address,
      port: 0,
      servicePort: 0,
      health: .healthy,
      locality: locality,
      network: network(labels: labels, address: source.address),
      tlsMode: Self.tlsMode(pod),
      labels: labels,
      serviceAccount: pod?.spec?.serviceAccountName ?? "",
      cluster: cluster,
      workload: pod.map { NamespacedName($0.metadata).description } ?? ""
    )
  }

  /// The endpoint's network: the pod's label, else the cluster's system-namespace label, else the meshNetworks
  /// network of the cluster (`fromRegistry`), else a meshNetworks `fromCidr` range holding the address (istiod's
  /// order), else "".
  func network(labels: [String: String], address: String) -> String {
    nonEmpty(labels[WellKnownLabels.network]) ?? nonEmpty(namespaceNetwork) ?? nonEmpty(registryNetwork)
      ?? meshNetworks.network(ofAddress: address) ?? ""
  }

  /// The pod's `security.istio.io/tlsMode` label; without it, `istio` when the pod has an injected sidecar
  /// (annotation `sidecar.istio.io/status`), else `disabled`.
  static func tlsMode(_ pod: Pod?) -> String {
    if let label = pod?.metadata.labels?[WellKnownLabels.tlsMode], !label.isEmpty { return label }
    if pod?.metadata.annotations?[WellKnownLabels.sidecarStatus] != nil { return WellKnownLabels.tlsModeIstio }
    return WellKnownLabels.tlsModeDisabled
  }

  private func pod(for source: Source) -> Pod? {
    if let ref = source.targetRef, ref.kind == "Pod" {
      guard let name = ref.name else { return nil }
      return pods[NamespacedName(namespace: ref.namespace ?? source.namespace, name: name)]
    }
    return podsByIP[source.namespace]?[source.address]
  }
}

/// `value` unless it is nil or empty.
func nonEmpty(_ value: String?) -> String? {
  guard let value, !value.isEmpty else { return nil }
  return value
}
