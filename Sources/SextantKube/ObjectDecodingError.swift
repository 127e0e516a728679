/// Why one file's Kubernetes objects could not be decoded, and where.
///
/// `description` reads `PATH:LINE: KIND NAMESPACE/NAME: FIELD: MESSAGE`, for example
/// `clusters/cluster1/svc.yaml:12: Service sample/helloworld: spec.ports[0].port: expected a number, found string "http"`;
/// parts that are unknown (no line for an unreadable file, no object for a syntax error) are left out. The whole file
/// is rejected: a caller keeps whatever it held from that file before.
package struct ObjectDecodingError: Error, Sendable, Hashable, CustomStringConvertible {
  /// The kind of failure, stable for metrics and tests.
  package enum Code: String, Sendable, Hashable, CaseIterable {
    /// The file could not be read (permissions, I/O error, vanished while reading).
    case unreadable
    /// The file is larger than the reader accepts.
    case tooLarge
    /// The bytes are not UTF-8 text.
    case invalidEncoding
    /// The text is not well-formed YAML or JSON, nests too deeply, or expands too much through aliases.
    case syntax
    /// A document is not a Kubernetes object (not a mapping, or `items` of a List is not a list).
    case notAnObject
    /// A required field (`apiVersion`, `kind`, `metadata.name`, `spec.ports[].port`, ...) is missing.
    case missingField
    /// A field has the wrong type (a string where a number is expected, ...).
    case typeMismatch
    /// A field has the right type but a value Kubernetes would reject (empty name, port 0, slice endpoint without
    /// addresses, a number out of range).
    case invalidValue
  }

  /// The kind of failure.
  package var code: Code
  /// The reason, without the location: `expected a number, found string "http"`.
  package var message: String
  /// The file, as the caller named it.
  package var path: String
  /// The 1-based line of the offending node (or of the document) when known.
  package var line: Int?
  /// The 1-based column of the offending node when known.
  package var column: Int?
  /// The object being decoded, as `KIND NAMESPACE/NAME` (`Service sample/helloworld`), when the error is inside one.
  package var object: String?
  /// The path of the offending field inside the object (`spec.ports[0].port`), when the error is about a field.
  package var field: String?

  package init(
    code: Code,
    message: String,
    path: String,
    line: Int? = nil,
    column: Int? = nil,
    object: String? = nil,
    field: String? = nil
  ) {
    self.code = code
    self.message = message
    self.path = path
    self.line = line
    self.column = column
    self.object = object
    self.field = field
  }

  /// `PATH:LINE: OBJECT: FIELD: MESSAGE`, omitting the parts that are unknown.
  package var description: String {
    var text = path
    if let line { text += ":\(line)" }
    text += ": "
    if let object { text += "\(object): " }
    if let field, !field.isEmpty { text += "\(field): " }
    return text + message
  }
}
