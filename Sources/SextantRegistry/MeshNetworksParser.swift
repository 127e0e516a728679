import SextantKube
import Yams

extension MeshNetworks {
  /// Parses Istio's meshNetworks YAML (`networks: {NAME: {endpoints: [...], gateways: [...]}}`); `source` names the
  /// file in errors. Unknown keys are errors, so a typo never silently declares nothing.
  package init(yaml: String, source: String) throws(ConfigFileError) {
    let node: Yams.Node?
    do throws(SourceSyntaxError) {
      node = try GuardedYAML.document(in: yaml)
    } catch {
      throw ConfigFileError(
        .invalidMeshNetworks, source: source, key: "", message: "not valid YAML: \(error.message)", line: error.line)
    }
    guard let node else {
      self.init()
      return
    }
    try self.init(node: node, source: source, path: "")
  }

  /// Parses an already composed meshNetworks mapping found at `path` (empty at the top of a file).
  package init(node: Yams.Node, source: String, path: String) throws(ConfigFileError) {
    let reader = NodeReader(source: source)
    self.init()
    if node.null != nil { return }
    let top = try reader.mapping(node, path)
    for (keyNode, value) in top {
      let key = keyNode.string ?? "\(keyNode)"
      guard key == "networks" else {
        throw reader.error(reader.join(path, key), "unknown key (expected networks)", keyNode)
      }
      let networksPath = reader.join(path, key)
      if value.null != nil { continue }
      for (nameNode, body) in try reader.mapping(value, networksPath) {
        guard let name = nameNode.string, !name.isEmpty else {
          throw reader.error(networksPath, "a network name must be a non-empty string", nameNode)
        }
        networks[name] = try reader.network(name: name, body, reader.join(networksPath, name))
      }
    }
  }
}

/// Reads meshNetworks nodes, producing errors that name the key path and line.
private struct NodeReader {
  let source: String

  func join(_ path: String, _ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

  func error(_ path: String, _ message: String, _ node: Yams.Node) -> ConfigFileError {
    ConfigFileError(.invalidMeshNetworks, source: source, key: path, message: message, line: node.mark.map { $0.line })
  }

  func mapping(_ node: Yams.Node, _ path: String) throws(ConfigFileError) -> Yams.Node.Mapping {
    guard let mapping = node.mapping else { throw error(path, "expected a mapping", node) }
    return mapping
  }

  func sequence(_ node: Yams.Node, _ path: String) throws(ConfigFileError) -> Yams.Node.Sequence {
    guard let sequence = node.sequence else { throw error(path, "expected a list", node) }
    return sequence
  }

  func string(_ node: Yams.Node, _ path: String) throws(ConfigFileError) -> String {
    guard let text = node.scalar?.string, !text.isEmpty else { throw error(path, "expected a non-empty string", node) }
    return text
  }

  func port(_ node: Yams.Node, _ path: String) throws(ConfigFileError) -> Int {
    guard let text = node.scalar?.string, let port = Int(text), (1...65535).contains(port) else {
      throw error(path, "expected a port number between 1 and 65535", node)
    }
    return port
  }

  func network(name: String, _ node: Yams.Node, _ path: String) throws(ConfigFileError) -> MeshNetworks.Network {
    var network = MeshNetworks.Network(name: name)
    for (keyNode, value) in try mapping(node, path) {
      let key = keyNode.string ?? "\(keyNode)"
      let keyPath = join(path, key)
      switch key {
      case "endpoints":
        for (index, entry) in try sequence(value, keyPath).enumerated() {
          let entryPath = "\(keyPath)[\(index)]"
          let fields = try mapping(entry, entryPath)
          guard fields.count == 1, let (innerKey, innerValue) = fields.first else {
            throw error(entryPath, "expected exactly one of fromRegistry or fromCidr", entry)
          }
          let inner = innerKey.string ?? "\(innerKey)"
          switch inner {
          case "fromRegistry":
            network.registries.append(try string(innerValue, join(entryPath, inner)))
          case "fromCidr":
            let text = try string(innerValue, join(entryPath, inner))
            guard let range = IPRange(text) else {
              throw error(join(entryPath, inner), "\"\(text)\" is not a CIDR range such as 10.0.0.0/16", innerValue)
            }
            network.ranges.append(range)
          default:
            throw error(join(entryPath, inner), "unknown key (expected fromRegistry or fromCidr)", innerKey)
          }
        }
      case "gateways":
        for (index, entry) in try sequence(value, keyPath).enumerated() {
          network.gateways.append(try gateway(entry, "\(keyPath)[\(index)]"))
        }
      default:
        throw error(keyPath, "unknown key (expected endpoints or gateways)", keyNode)
      }
    }
    return network
  }

  func gateway(_ node: Yams.Node, _ path: String) throws(ConfigFileError) -> MeshNetworks.Gateway {
    var target: MeshNetworks.Gateway.Target?
    var port: Int?
    for (keyNode, value) in try mapping(node, path) {
      let key = keyNode.string ?? "\(keyNode)"
      let keyPath = join(path, key)
      switch key {
      case "address":
        guard target == nil else { throw error(keyPath, "give address or registryServiceName, not both", keyNode) }
        target = .address(try string(value, keyPath))
      case "registryServiceName":
        guard target == nil else { throw error(keyPath, "give address or registryServiceName, not both", keyNode) }
        target = .registryServiceName(try string(value, keyPath))
      case "port":
        port = try self.port(value, keyPath)
      case "locality":
        _ = try string(value, keyPath)  // Accepted for compatibility; Sextant does not weigh gateways by locality.
      default:
        throw error(keyPath, "unknown key (expected address, registryServiceName, port or locality)", keyNode)
      }
    }
    guard let target else { throw error(path, "a gateway needs address or registryServiceName", node) }
    guard let port else { throw error(join(path, "port"), "a gateway needs a port", node) }
    return MeshNetworks.Gateway(target: target, port: port)
  }
}
