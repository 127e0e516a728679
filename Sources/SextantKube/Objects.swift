/// Kubernetes objects as Sextant reads them: only the fields the registry uses.
///
/// Decoding is `Codable` over the API's JSON (YAML is converted to the same shape by `ObjectDecoder`). Unknown fields are
/// ignored; a missing required field is a decoding error that names the field's path.

/// Metadata common to every object.
public struct ObjectMeta: Codable, Sendable, Hashable {
  public var name: String
  public var namespace: String?
  public var labels: [String: String]?
  public var annotations: [String: String]?
  public var resourceVersion: String?
  public var uid: String?
  public var deletionTimestamp: String?

  public init(
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
public struct ObjectReference: Codable, Sendable, Hashable {
  public var kind: String?
  public var namespace: String?
  public var name: String?
  public var uid: String?

  public init(kind: String? = nil, namespace: String? = nil, name: String? = nil) {
    self.kind = kind
    self.namespace = namespace
    self.name = name
  }
}

/// A port number or a port name, as `targetPort` allows.
public enum IntOrString: Codable, Sendable, Hashable {
  case int(Int)
  case string(String)

  public init(from decoder: any Decoder) throws {
    let container = try decoder.singleValueContainer()
    if let value = try? container.decode(Int.self) {
      self = .int(value)
    } else {
      self = .string(try container.decode(String.self))
    }
  }

  public func encode(to encoder: any Encoder) throws {
    var container = encoder.singleValueContainer()
    switch self {
    case .int(let value): try container.encode(value)
    case .string(let value): try container.encode(value)
    }
  }
}

/// core/v1 Namespace.
public struct Namespace: Codable, Sendable, Hashable {
  public var metadata: ObjectMeta

  public init(metadata: ObjectMeta) {
    self.metadata = metadata
  }
}

/// core/v1 Service.
public struct Service: Codable, Sendable, Hashable {
  public var metadata: ObjectMeta
  public var spec: Spec
  public var status: Status?

  public init(metadata: ObjectMeta, spec: Spec, status: Status? = nil) {
    self.metadata = metadata
    self.spec = spec
    self.status = status
  }

  public struct Spec: Codable, Sendable, Hashable {
    public var type: String?
    public var clusterIP: String?
    public var clusterIPs: [String]?
    public var ports: [Port]?
    public var selector: [String: String]?
    public var externalIPs: [String]?
    public var externalName: String?

    public init(
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

  public struct Port: Codable, Sendable, Hashable {
    public var name: String?
    public var `protocol`: String?
    public var port: Int
    public var targetPort: IntOrString?
    public var nodePort: Int?
    public var appProtocol: String?

    public init(
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

  public struct Status: Codable, Sendable, Hashable {
    public var loadBalancer: LoadBalancer?

    public init(loadBalancer: LoadBalancer? = nil) {
      self.loadBalancer = loadBalancer
    }
  }

  public struct LoadBalancer: Codable, Sendable, Hashable {
    public var ingress: [Ingress]?

    public init(ingress: [Ingress]? = nil) {
      self.ingress = ingress
    }
  }

  public struct Ingress: Codable, Sendable, Hashable {
    public var ip: String?
    public var hostname: String?

    public init(ip: String? = nil, hostname: String? = nil) {
      self.ip = ip
      self.hostname = hostname
    }
  }
}

/// discovery.k8s.io EndpointSlice (v1 and v1beta1 share this shape; v1beta1's `topology` map is kept for zone lookup).
public struct EndpointSlice: Codable, Sendable, Hashable {
  /// The label that names the Service a slice belongs to.
  public static let serviceNameLabel = "kubernetes.io/service-name"

  public var metadata: ObjectMeta
  public var addressType: String?
  public var endpoints: [Endpoint]?
  public var ports: [Port]?

  public init(metadata: ObjectMeta, addressType: String? = nil, endpoints: [Endpoint]? = nil, ports: [Port]? = nil) {
    self.metadata = metadata
    self.addressType = addressType
    self.endpoints = endpoints
    self.ports = ports
  }

  /// The Service this slice belongs to, from its `kubernetes.io/service-name` label.
  public var serviceName: String? { metadata.labels?[Self.serviceNameLabel] }

  public struct Endpoint: Codable, Sendable, Hashable {
    public var addresses: [String]
    public var conditions: Conditions?
    public var hostname: String?
    public var nodeName: String?
    public var zone: String?
    public var targetRef: ObjectReference?
    /// v1beta1 only: topology labels such as `topology.kubernetes.io/zone`.
    public var topology: [String: String]?

    public init(
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

  public struct Conditions: Codable, Sendable, Hashable {
    public var ready: Bool?
    public var serving: Bool?
    public var terminating: Bool?

    public init(ready: Bool? = nil, serving: Bool? = nil, terminating: Bool? = nil) {
      self.ready = ready
      self.serving = serving
      self.terminating = terminating
    }
  }

  public struct Port: Codable, Sendable, Hashable {
    public var name: String?
    public var `protocol`: String?
    public var port: Int?
    public var appProtocol: String?

    public init(name: String? = nil, protocol: String? = nil, port: Int? = nil, appProtocol: String? = nil) {
      self.name = name
      self.protocol = `protocol`
      self.port = port
      self.appProtocol = appProtocol
    }
  }
}

/// core/v1 Endpoints: used for a Service that has no EndpointSlice in its cluster.
public struct Endpoints: Codable, Sendable, Hashable {
  public var metadata: ObjectMeta
  public var subsets: [Subset]?

  public init(metadata: ObjectMeta, subsets: [Subset]? = nil) {
    self.metadata = metadata
    self.subsets = subsets
  }

  public struct Subset: Codable, Sendable, Hashable {
    public var addresses: [Address]?
    public var notReadyAddresses: [Address]?
    public var ports: [Port]?

    public init(addresses: [Address]? = nil, notReadyAddresses: [Address]? = nil, ports: [Port]? = nil) {
      self.addresses = addresses
      self.notReadyAddresses = notReadyAddresses
      self.ports = ports
    }
  }

  public struct Address: Codable, Sendable, Hashable {
    public var ip: String
    public var hostname: String?
    public var nodeName: String?
    public var targetRef: ObjectReference?

    public init(ip: String, hostname: String? = nil, nodeName: String? = nil, targetRef: ObjectReference? = nil) {
      self.ip = ip
      self.hostname = hostname
      self.nodeName = nodeName
      self.targetRef = targetRef
    }
  }

  public struct Port: Codable, Sendable, Hashable {
    public var name: String?
    public var port: Int
    public var `protocol`: String?
    public var appProtocol: String?

    public init(name: String? = nil, port: Int, protocol: String? = nil, appProtocol: String? = nil) {
      self.name = name
      self.port = port
      self.protocol = `protocol`
      self.appProtocol = appProtocol
    }
  }
}

/// core/v1 Pod.
public struct Pod: Codable, Sendable, Hashable {
  public var metadata: ObjectMeta
  public var spec: Spec?
  public var status: Status?

  public init(metadata: ObjectMeta, spec: Spec? = nil, status: Status? = nil) {
    self.metadata = metadata
    self.spec = spec
    self.status = status
  }

  public struct Spec: Codable, Sendable, Hashable {
    public var nodeName: String?
    public var serviceAccountName: String?

    public init(nodeName: String? = nil, serviceAccountName: String? = nil) {
      self.nodeName = nodeName
      self.serviceAccountName = serviceAccountName
    }
  }

  public struct Status: Codable, Sendable, Hashable {
    public var podIP: String?
    public var podIPs: [PodIP]?
    public var phase: String?

    public init(podIP: String? = nil, podIPs: [PodIP]? = nil, phase: String? = nil) {
      self.podIP = podIP
      self.podIPs = podIPs
      self.phase = phase
    }
  }

  public struct PodIP: Codable, Sendable, Hashable {
    public var ip: String

    public init(ip: String) {
      self.ip = ip
    }
  }
}

/// core/v1 Node.
public struct Node: Codable, Sendable, Hashable {
  public var metadata: ObjectMeta
  public var status: Status?

  public init(metadata: ObjectMeta, status: Status? = nil) {
    self.metadata = metadata
    self.status = status
  }

  public struct Status: Codable, Sendable, Hashable {
    public var addresses: [Address]?

    public init(addresses: [Address]? = nil) {
      self.addresses = addresses
    }
  }

  public struct Address: Codable, Sendable, Hashable {
    public var type: String
    public var address: String

    public init(type: String, address: String) {
      self.type = type
      self.address = address
    }
  }
}
