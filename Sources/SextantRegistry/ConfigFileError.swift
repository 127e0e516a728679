/// A settings file Sextant cannot use (mesh config, meshNetworks): names the file, the key path and, when known, the
/// line.
package struct ConfigFileError: Error, Sendable, Hashable, CustomStringConvertible {
  /// Which kind of file was wrong.
  package enum Code: String, Sendable, Hashable {
    case invalidMeshConfig = "invalid-mesh-config"
    case invalidMeshNetworks = "invalid-mesh-networks"
  }

  package var code: Code
  /// The file the document came from.
  package var source: String
  /// The path of the offending key, such as `networks.network1.gateways[0].port`; empty for the whole document.
  package var key: String
  package var message: String
  package var line: Int?

  package init(_ code: Code, source: String, key: String, message: String, line: Int? = nil) {
    self.code = code
    self.source = source
    self.key = key
    self.message = message
    self.line = line
  }

  package var description: String {
    let place = line.map { "\(source):\($0)" } ?? source
    return key.isEmpty ? "\(place): \(message)" : "\(place): \(key): \(message)"
  }
}
