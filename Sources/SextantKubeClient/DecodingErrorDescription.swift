/// Describes decoding failures by field path and problem, never by value (values may be credentials).
enum DecodingErrorDescription {
  /// - Parameter prefixLength: Leading coding-path components to leave out (those of the enclosing value when an
  ///   item of a list is described on its own).
  static func describe(_ error: any Error, droppingPrefix prefixLength: Int = 0) -> String {
    guard let error = error as? DecodingError else { return "\(error)" }
    func path(_ codingPath: [any CodingKey]) -> String {
      var text = ""
      for key in codingPath.dropFirst(prefixLength) {
        if let index = key.intValue {
          text += "[\(index)]"
        } else {
          text += text.isEmpty ? key.stringValue : ".\(key.stringValue)"
        }
      }
      return text
    }
    func located(_ codingPath: [any CodingKey], _ message: String) -> String {
      let location = path(codingPath)
      return location.isEmpty ? message : "\(location): \(message)"
    }
    switch error {
    case .keyNotFound(let key, let context):
      return located(context.codingPath + [key], "required field is missing")
    case .typeMismatch(let type, let context):
      return located(context.codingPath, "expected \(type)")
    case .valueNotFound(let type, let context):
      return located(context.codingPath, "expected \(type), found null")
    case .dataCorrupted(let context):
      return located(context.codingPath, context.debugDescription)
    @unknown default:
      return "\(error)"
    }
  }
}
