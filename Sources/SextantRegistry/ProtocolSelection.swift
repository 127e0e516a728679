import SextantKube

/// How a Service port's protocol is chosen, following istiod's `kube.ConvertProtocol` and `protocol.Parse`.
///
/// Order of decision:
/// 1. Kubernetes `protocol: UDP` → `.udp`, whatever the name says.
/// 2. `appProtocol`, when set, replaces the port name entirely (the name is then ignored). The Kubernetes-defined
///    values `kubernetes.io/h2c` → `.http2`, `kubernetes.io/ws` → `.http`, `kubernetes.io/wss` → `.https` (exact,
///    case-sensitive, as istiod compares them).
/// 3. A value starting with `grpc-web` (any case) → `.grpcWeb`; istiod checks only that prefix, so `grpc-webx` is
///    gRPC-Web too, while `grpcweb-x` is not.
/// 4. Otherwise the part before the first `-` (or the whole value) is matched case-insensitively against
///    http, http2, https, grpc, grpc-web, tcp, tls, udp, mongo, redis, mysql.
/// 5. Anything else, including a missing name, is `.tcp`. istiod would mark such ports "unsupported" and sniff the
///    protocol; Sextant does not sniff, so they are plain TCP (istiod's well-known-port rule gives TCP as well).
extension ServiceProtocol {
  /// The protocol of a Service port.
  package init(port: KubeService.Port) {
    self.init(portName: port.name, kubernetesProtocol: port.protocol, appProtocol: port.appProtocol)
  }

  /// The protocol from the pieces of a port: its name, its Kubernetes `protocol` (TCP/UDP/SCTP) and its `appProtocol`.
  ///
  /// Also usable for EndpointSlice and Endpoints ports, which carry the same three fields.
  package init(portName: String?, kubernetesProtocol: String?, appProtocol: String?) {
    if let kubernetesProtocol, kubernetesProtocol.uppercased() == "UDP" {
      self = .udp
      return
    }
    var name = portName ?? ""
    if let appProtocol {
      switch appProtocol {
      case "kubernetes.io/h2c":
        self = .http2
        return
      case "kubernetes.io/ws":
        self = .http
        return
      case "kubernetes.io/wss":
        self = .https
        return
      default:
        name = appProtocol
      }
    }
    if name.utf8.count >= 8, name.prefix(8).lowercased() == "grpc-web" {
      self = .grpcWeb
      return
    }
    let prefix = name.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
    self = ServiceProtocol.parse(prefix) ?? .tcp
  }

  /// The protocol named `name` (case-insensitive), as istiod's `protocol.Parse`; nil when the name is not one of them.
  ///
  /// istiod also knows `http_proxy`, which only applies to Sidecar egress listeners; it is not a service protocol
  /// here and gives nil.
  package static func parse(_ name: String) -> ServiceProtocol? {
    switch name.lowercased() {
    case "tcp": .tcp
    case "udp": .udp
    case "grpc": .grpc
    case "grpc-web": .grpcWeb
    case "http": .http
    case "http2": .http2
    case "https": .https
    case "tls": .tls
    case "mongo": .mongo
    case "redis": .redis
    case "mysql": .mysql
    default: nil
    }
  }
}
