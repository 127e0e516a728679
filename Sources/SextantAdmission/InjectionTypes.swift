import SextantKube

/// Who an injected proxy belongs to, read from the request path (`/inject/cluster/C/net/N`, other keys as env).
package struct InjectionRequest: Sendable, Hashable {
  /// The pod's namespace (the AdmissionRequest's `namespace`; pods created by controllers often have none of their own).
  package var namespace: String
  /// The cluster named by the path, nil when the path names none.
  package var clusterID: String?
  /// The network named by the path, nil when the path names none.
  package var network: String?
  /// Other `/KEY/VALUE` pairs of the path, as environment variables (upper-cased keys), in path order.
  package var environment: [(name: String, value: String)]

  package init(
    namespace: String, clusterID: String? = nil, network: String? = nil,
    environment: [(name: String, value: String)] = []
  ) {
    self.namespace = namespace
    self.clusterID = clusterID
    self.network = network
    self.environment = environment
  }

  package static func == (lhs: InjectionRequest, rhs: InjectionRequest) -> Bool {
    lhs.namespace == rhs.namespace && lhs.clusterID == rhs.clusterID && lhs.network == rhs.network
      && lhs.environment.elementsEqual(rhs.environment) { $0.name == $1.name && $0.value == $1.value }
  }

  package func hash(into hasher: inout Hasher) {
    hasher.combine(namespace)
    hasher.combine(clusterID)
    hasher.combine(network)
    for entry in environment {
      hasher.combine(entry.name)
      hasher.combine(entry.value)
    }
  }
}

/// What the injector decided for one pod.
package enum InjectionOutcome: Sendable, Hashable {
  /// Left alone (host network, inject=false, ignored namespace, ...): allowed without a patch; `reason` is logged.
  case skipped(reason: String)
  /// Injected: the patch turns the pod as sent into the injected pod.
  case patched([JSONPatchOperation])
}
