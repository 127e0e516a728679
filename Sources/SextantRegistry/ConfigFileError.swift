/// A settings file Sextant cannot use (mesh config, meshNetworks): names the file, the key path and, when known, the
/// line.
public struct ConfigFileError: Error, Sendable, Hashable, CustomStringConvertible {
  /// Which kind of file was wrong.
  public enum Code: String, Sendable, Hashable {
    case invalidMeshConfig = "invalid-mesh-config"
    case invalidMeshNetworks = "invalid-mesh-networks"
  }

  public var code: Code
  /// The file the document came from.
  public var source: String
  /// The path of the offending key, such as `networks.network1.gateways[0].port`; empty for the whole document.
  public var key: String
  public var message: String
  public var line: Int?

  public init(_ code: Code, source: String, key: String, message: String, line: Int? = nil) {
    self.code = code
    self.source = source
    self.key = key
    self.message = message
    self.line = line
  }

  public var description: String {
    let place = line.map { "\(source):\($0)" } ?? source
    return key.isEmpty ? "\(place): \(message)" : "\(place): \(key): \(message)"
  }
}
