import SextantKube

/// One RFC 6902 JSON Patch operation, as an AdmissionResponse's `patch` carries them (patchType `JSONPatch`).
package struct JSONPatchOperation: Sendable, Hashable, Encodable {
  /// The operations Sextant emits.
  package enum Operation: String, Sendable, Hashable, Encodable {
    case add, remove, replace
  }

  package var op: Operation
  /// An RFC 6901 JSON Pointer; build segments with `JSONPatchOperation.pointer(_:)`, which escapes `~` and `/`.
  package var path: String
  /// The value for `add` and `replace`; nil for `remove`.
  package var value: ConfigValue?

  package init(_ op: Operation, _ path: String, _ value: ConfigValue? = nil) {
    self.op = op
    self.path = path
    self.value = value
  }

  /// A JSON Pointer from unescaped segments: `pointer(["metadata", "labels", "a/b"])` is `/metadata/labels/a~1b`.
  package static func pointer(_ segments: [String]) -> String {
    segments.map { "/" + $0.replacingOccurrences(of: "~", with: "~0").replacingOccurrences(of: "/", with: "~1") }
      .joined()
  }
}
