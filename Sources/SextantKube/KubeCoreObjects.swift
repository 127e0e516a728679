/// Kubernetes objects as Sextant reads them: only the fields the registry uses.
///
/// Decoding is `Codable` over the API's JSON (YAML is converted to the same shape by `ObjectDecoder`). Unknown fields are
/// ignored; a missing required field is a decoding error that names the field's path.

/// Metadata common to every object.
package struct ObjectMeta: Codable, Sendable, Hashable {
  package var name: String
  package var namespace: String?
  package var labels: [String: String]?
  package var annotations: [String: String]?
  package var resourceVersion: String?
  package var uid: String?
  package var deletionTimestamp: String?

  package init(
    name: String,
    namespace: String? = nil,
    labels: [String: String]? = nil,
    annotations: [String: String]? = nil,
    resourceVersion: String? = nil,
    uid: String? = nil
  ) {
    self.name = name
    self.namespace = namespace
    self.labels = labels
    self.annotations = annotations
    self.resourceVersion = resourceVersion
    self.uid = uid
  }
}

/// A reference from an endpoint to the object behind it (usually a Pod).
package struct ObjectReference: Codable, Sendable, Hashable {
  package var kind: String?
  package var namespace: String?
  package var name: String?
  package var uid: String?

  package init(kind: String? = nil, namespace: String? = nil, name: String? = nil) {
    self.kind = kind
    self.namespace = namespace
    self.name = name
  }
}

/// A port number or a port name, as `targetPort` allows.
package enum IntOrString: Codable, Sendable, Hashable {
  case int(Int)
  case string(String)

  package init(from decoder: any Decoder) throws {
    let container = try decoder.singleValueContainer()
    if let value = try? container.decode(Int.self) {
      self = .int(value)
    } else {
      self = .string(try container.decode(String.self))
    }
  }

  package func encode(to encoder: any Encoder) throws {
    var container = encoder.singleValueContainer()
    switch self {
    case .int(let value): try container.encode(value)
    case .string(let value): try container.encode(value)
    }
  }
}

/// core/v1 Namespace.
package struct Namespace: Codable, Sendable, Hashable {
  package var metadata: ObjectMeta

  package init(metadata: ObjectMeta) {
    self.metadata = metadata
  }
}

/// core/v1 Service.
package struct KubeService: Codable, Sendable, Hashable {
  package var metadata: ObjectMeta
  package var spec: Spec
  package var status: Status?

  package init(metadata: ObjectMeta, spec: Spec, status: Status? = nil) {
    self.metadata = metadata
    self.spec = spec
    self.status = status
  }

  package struct Spec: Codable, Sendable, Hashable {
    package var type: String?
    package var clusterIP: String?
    package var clusterIPs: [String]?
    package var ports: [Port]?
    package var selector: [String: String]?
    package var externalIPs: [String]?
    package var externalName: String?

    package init(
      type: String? = nil,
      clusterIP: String? = nil,
      clusterIPs: [String]? = nil,
      ports: [Port]? = nil,
      selector: [String: String]? = nil,
      externalIPs: [String]? = nil,
      externalName: String? = nil
    ) {
      self.type = type
      self.clusterIP = clusterIP
      self.clusterIPs = clusterIPs
      self.ports = ports
      self.selector = selector
      self.externalIPs = externalIPs
      self.externalName = externalName
    }
  }

  package struct Port: Codable, Sendable, Hashable {
    package var name: String?
    package var `protocol`: String?
    package var port: Int
    package var targetPort: IntOrString?
    package var nodePort: Int?
    package var appProtocol: String?

    package init(
      name: String? = nil,
      protocol: String? = nil,
      port: Int,
      targetPort: IntOrString? = nil,
      nodePort: Int? = nil,
      appProtocol: String? = nil
    ) {
      self.name = name
      self.protocol = `protocol`
      self.port = port
      self.targetPort = targetPort
      self.nodePort = nodePort
      self.appProtocol = appProtocol
    }
  }

  package struct Status: Codable, Sendable, Hashable {
    package var loadBalancer: LoadBalancer?

    package init(loadBalancer: LoadBalancer? = nil) {
      self.loadBalancer = loadBalancer
    }
  }

  package struct LoadBalancer: Codable, Sendable, Hashable {
    package var ingress: [Ingress]?

    package init(ingress: [Ingress]? = nil) {
      self.ingress = ingress
    }
  }

  package struct Ingress: Codable, Sendable, Hashable {
    package var ip: String?
    package var hostname: String?

    package init(ip: String? = nil, hostname: String? = nil) {
      self.ip = ip
      self.hostname = hostname
    }
  }
}

/// discovery.k8s.io EndpointSlice (v1 and v1beta1 share this shape; v1beta1's `topology` map is kept for zone lookup).
package struct EndpointSlice: Codable, Sendable, Hashable {
  /// The label that names the Service a slice belongs to.
  package static let serviceNameLabel = "kubernetes.io/service-name"

  package var metadata: ObjectMeta
  package var addressType: String?
  package var endpoints: [Endpoint]?
  package var ports: [Port]?

  package init(metadata: ObjectMeta, addressType: String? = nil, endpoints: [Endpoint]? = nil, ports: [Port]? = nil) {
    self.metadata = metadata
    self.addressType = addressType
    self.endpoints = endpoints
    self.ports = ports
  }

  /// The Service this slice belongs to, from its `kubernetes.io/service-name` label.
  package var serviceName: String? { metadata.labels?[Self.serviceNameLabel] }

  package struct Endpoint: Codable, Sendable, Hashable {
    package var addresses: [String]
    package var conditions: Conditions?
    package var hostname: String?
    package var nodeName: String?
    package var zone: String?
    package var targetRef: ObjectReference?
    /// v1beta1 only: topology labels such as `topology.kubernetes.io/zone`.
    package var topology: [String: String]?

    package init(
      addresses: [String],
      conditions: Conditions? = nil,
      hostname: String? = nil,
      nodeName: String? = nil,
      zone: String? = nil,
      targetRef: ObjectReference? = nil,
      topology: [String: String]? = nil
    ) {
      self.addresses = addresses
      self.conditions = conditions
      self.hostname = hostname
      self.nodeName = nodeName
      self.zone = zone
      self.targetRef = targetRef
      self.topology = topology
    }
  }

  package struct Conditions: Codable, Sendable, Hashable {
    package var ready: Bool?
    package var serving: Bool?
    package var terminating: Bool?

    package init(ready: Bool? = nil, serving: Bool? = nil, terminating: Bool? = nil) {
      self.ready = ready
      self.serving = serving
      self.terminating = terminating
    }
  }

  package struct Port: Codable, Sendable, Hashable {
    package var name: String?
    package var `protocol`: String?
    package var port: Int?
    package var appProtocol: String?

    package init(name: String? = nil, protocol: String? = nil, port: Int? = nil, appProtocol: String? = nil) {
      self.name = name
      self.protocol = `protocol`
      self.port = port
      self.appProtocol = appProtocol
    }
  }
}

/// core/v1 Endpoints: used for a Service that has no EndpointSlice in its cluster.
package struct Endpoints: Codable, Sendable, Hashable {
  package var metadata: ObjectMeta
  package var subsets: [Subset]?

  package init(metadata: ObjectMeta, subsets: [Subset]? = nil) {
    self.metadata = metadata
    self.subsets = subsets
  }

  package struct Subset: Codable, Sendable, Hashable {
    package var addresses: [Address]?
    package var notReadyAddresses: [Address]?
    package var ports: [Port]?

    package init(addresses: [Address]? = nil, notReadyAddresses: [Address]? = nil, ports: [Port]? = nil) {
      self.addresses = addresses
      self.notReadyAddresses = notReadyAddresses
      self.ports = ports
    }
  }

  package struct Address: Codable, Sendable, Hashable {
    package var ip: String
    package var hostname: String?
    package var nodeName: String?
    package var targetRef: ObjectReference?

    package init(ip: String, hostname: String? = nil, nodeName: String? = nil, targetRef: ObjectReference? = nil) {
      self.ip = ip
      self.hostname = hostname
      self.nodeName = nodeName
      self.targetRef = targetRef
    }
  }

  package struct Port: Codable, Sendable, Hashable {
    package var name: String?
    package var port: Int
    package var `protocol`: String?
    package var appProtocol: String?

    package init(name: String? = nil, port: Int, protocol: String? = nil, appProtocol: String? = nil) {
      self.name = name
      self.port = port
      self.protocol = `protocol`
      self.appProtocol = appProtocol
    }
  }
}

/// core/v1 Pod.
package struct Pod: Codable, Sendable, Hashable {
  package var metadata: ObjectMeta
  package var spec: Spec?
  package var status: Status?

  package init(metadata: ObjectMeta, spec: Spec? = nil, status: Status? = nil) {
    self.metadata = metadata
    self.spec = spec
    self.status = status
  }

  package struct Spec: Codable, Sendable, Hashable {
    package var nodeName: String?
    package var serviceAccountName: String?

    package init(nodeName: String? = nil, serviceAccountName: String? = nil) {
      self.nodeName = nodeName
      self.serviceAccountName = serviceAccountName
    }
  }

  package struct Status: Codable, Sendable, Hashable {
    package var podIP: String?
    package var podIPs: [PodIP]?
    package var phase: String?

    package init(podIP: String? = nil, podIPs: [PodIP]? = nil, phase: String? = nil) {
      self.podIP = podIP
      self.podIPs = podIPs
      self.phase = phase
    }
  }

  package struct PodIP: Codable, Sendable, Hashable {
    package var ip: String

    package init(ip: String) {
      self.ip = ip
    }
  }
}

/// core/v1 Node.
package struct Node: Codable, Sendable, Hashable {
  package var metadata: ObjectMeta
  package var status: Status?

  package init(metadata: ObjectMeta, status: Status? = nil) {
    self.metadata = metadata
    self.status = status
  }

  package struct Status: Codable, Sendable, Hashable {
    package var addresses: [Address]?

    package init(addresses: [Address]? = nil) {
      self.addresses = addresses
    }
  }

  package struct Address: Codable, Sendable, Hashable {
    package var type: String
    package var address: String

    package init(type: String, address: String) {
      self.type = type
      self.address = address
    }
  }
}
