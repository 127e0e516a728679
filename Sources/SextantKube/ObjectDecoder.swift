import Foundation

/// Decodes the Kubernetes objects held in one file: YAML (one or more `---` separated documents) or JSON, each
/// document an object or a List of objects.
///
/// Dispatch is on `apiVersion` and `kind`: `v1` Namespace, Service, Endpoints, Pod and Node, and
/// `discovery.k8s.io/v1` or `/v1beta1` EndpointSlice, and `networking.istio.io` (v1, v1beta1, v1alpha3) Gateway and
/// VirtualService (spec kept untyped, checked later per object) are decoded; any other object is returned in
/// `DecodedFile.skipped` (not an error: the caller logs it at debug level). `kind: List` and typed lists such as
/// `ServiceList` (whose items may omit `kind` and `apiVersion`, as the API server returns them) are unpacked.
///
/// Anything invalid in a decoded kind rejects the whole file with an `ObjectDecodingError` naming the file, the line
/// and the reason: malformed YAML or JSON, a missing or empty `metadata.name`, a field of the wrong type, a Service,
/// EndpointSlice or Endpoints port (or a Service's `targetPort` or `nodePort`) outside 1-65535, an EndpointSlice
/// endpoint without addresses (`ObjectValidation`, the same checks objects from API servers get). Decoding is strict about types, as the
/// API server is (`port: "80"` is an error); unknown fields are ignored.
///
/// For v1beta1 EndpointSlices the endpoint `zone` and `nodeName` are filled from `topology` when absent
/// (`topology.kubernetes.io/zone`, `kubernetes.io/hostname`), as the API server converts them to v1.
///
/// A value type with no state: decode from any thread.
package struct ObjectDecoder: Sendable {
  /// The file formats read.
  package enum Format: String, Sendable, Hashable, CaseIterable {
    /// YAML 1.1 as Kubernetes reads it, several documents allowed (it also reads most JSON).
    case yaml
    /// JSON; several top-level values in a row are read as several documents.
    case json

    /// The format a file's name implies: `.json` (any case) is JSON, anything else YAML.
    package init(path: String) {
      self = path.lowercased().hasSuffix(".json") ? .json : .yaml
    }
  }

  /// The largest file `decodeFile(atPath:)` reads by default: 64 MiB.
  package static let defaultMaximumFileSize = 64 << 20

  package init() {}

  /// Decodes the objects in `bytes`, the content of the file at `path`.
  ///
  /// - Parameters:
  ///   - path: Used in errors, and to pick the format when `format` is nil.
  ///   - format: The format, or nil to go by the extension of `path`.
  package func decode(_ bytes: [UInt8], path: String, format: Format? = nil) throws(ObjectDecodingError) -> DecodedFile
  {
    let format = format ?? Format(path: path)
    let text = try Self.text(of: bytes, path: path)
    let documents: [SourceNode]
    do throws(SourceSyntaxError) {
      switch format {
      case .json: documents = try JSONReader.documents(in: bytes)
      case .yaml: documents = try YAMLReader.documents(in: text)
      }
    } catch {
      throw ObjectDecodingError(
        code: error.code, message: error.message, path: path, line: error.line, column: error.column)
    }
    var file = DecodedFile()
    for document in documents {
      try decodeDocument(document, inheritedKind: nil, inheritedAPIVersion: nil, path: path, into: &file)
    }
    return file
  }

  /// Decodes the objects in `data`, the content of the file at `path`; see `decode(_:path:format:)`.
  package func decode(_ data: Data, path: String, format: Format? = nil) throws(ObjectDecodingError) -> DecodedFile {
    try decode([UInt8](data), path: path, format: format)
  }

  /// Decodes the objects in `text`, the content of the file at `path`; see `decode(_:path:format:)`.
  package func decode(_ text: String, path: String, format: Format? = nil) throws(ObjectDecodingError) -> DecodedFile {
    try decode(Array(text.utf8), path: path, format: format)
  }

  /// Reads the file at `path` (following symlinks) and decodes its objects.
  ///
  /// A file that cannot be read is an error with code `unreadable`; one larger than `maximumSize` bytes, `tooLarge`.
  package func decodeFile(
    atPath path: String,
    maximumSize: Int = ObjectDecoder.defaultMaximumFileSize
  ) throws(ObjectDecodingError) -> DecodedFile {
    switch FileSystem.contents(of: path, maximumSize: maximumSize) {
    case .success(let bytes):
      return try decode(bytes, path: path)
    case .failure(let failure):
      throw ObjectDecodingError(
        code: failure.isTooLarge ? .tooLarge : .unreadable, message: failure.reason, path: path)
    }
  }

  // MARK: - Documents

  private func decodeDocument(
    _ node: SourceNode,
    inheritedKind: String?,
    inheritedAPIVersion: String?,
    path: String,
    into file: inout DecodedFile
  ) throws(ObjectDecodingError) {
    guard let mapping = node.mapping else {
      throw ObjectDecodingError(
        code: .notAnObject,
        message: "expected a Kubernetes object (a mapping with apiVersion, kind and metadata), found "
          + node.foundDescription,
        path: path, line: node.line, column: node.column)
    }
    let label = Self.label(of: mapping, kind: nil)

    func failure(_ failure: FieldDecodingFailure, label: String?) -> ObjectDecodingError {
      ObjectDecodingError(
        code: failure.code, message: failure.reason, path: path, line: failure.line, column: failure.column,
        object: label, field: PathComponent.render(failure.path))
    }

    let kind: String
    let apiVersion: String
    do throws(FieldDecodingFailure) {
      kind = try Self.header("kind", of: node, inherited: inheritedKind)
      apiVersion = try Self.header("apiVersion", of: node, inherited: inheritedAPIVersion)
    } catch {
      throw failure(error, label: label)
    }

    if kind == "List" || (kind.hasSuffix("List") && mapping["items"] != nil) {
      guard let items = mapping["items"], !items.isNull else { return }
      guard case .sequence(let elements) = items.value else {
        throw ObjectDecodingError(
          code: .notAnObject, message: "expected a list of objects, found \(items.foundDescription)", path: path,
          line: items.line, column: items.column, object: Self.label(of: mapping, kind: kind), field: "items")
      }
      // A typed list (`ServiceList`) names its items' kind; the API server leaves it out of each item.
      let itemKind = kind == "List" ? nil : String(kind.dropLast("List".count))
      for element in elements {
        try decodeDocument(
          element, inheritedKind: itemKind, inheritedAPIVersion: itemKind == nil ? nil : apiVersion, path: path,
          into: &file)
      }
      return
    }

    let objectLabel = Self.label(of: mapping, kind: kind)
    let object: KubeObject
    do throws(FieldDecodingFailure) {
      switch (apiVersion, kind) {
      case ("v1", "Namespace"): object = .namespace(try Self.model(Namespace.self, from: node))
      case ("v1", "Service"): object = .service(try Self.model(KubeService.self, from: node))
      case ("v1", "Endpoints"): object = .endpoints(try Self.model(Endpoints.self, from: node))
      case ("v1", "Pod"): object = .pod(try Self.model(Pod.self, from: node))
      case ("v1", "Node"): object = .node(try Self.model(Node.self, from: node))
      case ("discovery.k8s.io/v1", "EndpointSlice"):
        object = .endpointSlice(try Self.model(EndpointSlice.self, from: node))
      case ("discovery.k8s.io/v1beta1", "EndpointSlice"):
        object = .endpointSlice(Self.convertedFromV1beta1(try Self.model(EndpointSlice.self, from: node)))
      case (let version, "Gateway") where IstioAPI.networkingVersions.contains(version):
        object = .gateway(try Self.model(IstioGateway.self, from: node))
      case (let version, "VirtualService") where IstioAPI.networkingVersions.contains(version):
        object = .virtualService(try Self.model(IstioVirtualService.self, from: node))
      default:
        let metadata = mapping["metadata"]?.mapping
        file.skipped.append(
          SkippedObject(
            apiVersion: apiVersion, kind: kind, namespace: metadata?["namespace"]?.string,
            name: metadata?["name"]?.string, line: node.line))
        return
      }
      try ObjectValidation.validate(object, node: node)
    } catch {
      throw failure(error, label: objectLabel)
    }
    file.objects.append(object)
  }

  /// The `kind` or `apiVersion` of an object: a non-empty string, or the value its List implies.
  private static func header(
    _ key: String, of node: SourceNode, inherited: String?
  ) throws(FieldDecodingFailure) -> String {
    guard let value = node.mapping?[key], !value.isNull else {
      if let inherited { return inherited }
      throw FieldDecodingFailure(
        code: .missingField, path: [.key(key)], line: node.line, column: node.column,
        reason: "required field is missing")
    }
    guard case .string(let string) = value.value else {
      throw FieldDecodingFailure(
        code: .typeMismatch, path: [.key(key)], line: value.line, column: value.column,
        reason: "expected a string, found \(value.foundDescription)")
    }
    guard !string.isEmpty else {
      throw FieldDecodingFailure(
        code: .invalidValue, path: [.key(key)], line: value.line, column: value.column, reason: "must not be empty")
    }
    return string
  }

  /// Decodes one model type, turning every failure into a located `FieldDecodingFailure`.
  private static func model<T: Decodable>(_ type: T.Type, from node: SourceNode) throws(FieldDecodingFailure) -> T {
    do {
      return try T(from: SourceNodeDecoder(node: node))
    } catch let failure as FieldDecodingFailure {
      throw failure
    } catch let error as DecodingError {
      // Only a model's own `init(from:)` throws these; place them by their coding path.
      let (codingPath, reason): ([any CodingKey], String) =
        switch error {
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
          (context.codingPath, context.debugDescription)
        case .keyNotFound(let key, let context):
          (context.codingPath + [key], "required field is missing")
        @unknown default:
          ([], "\(error)")
        }
      let path = codingPath.map { key in key.intValue.map(PathComponent.index) ?? .key(key.stringValue) }
      let located = node.deepest(at: path)
      throw FieldDecodingFailure(
        code: .typeMismatch, path: path, line: located.line, column: located.column, reason: reason)
    } catch {
      throw FieldDecodingFailure(
        code: .invalidValue, path: [], line: node.line, column: node.column, reason: "\(error)")
    }
  }

  /// A v1beta1 slice as v1 reads it: endpoint `zone` and `nodeName` taken from `topology` when not set.
  private static func convertedFromV1beta1(_ slice: EndpointSlice) -> EndpointSlice {
    var slice = slice
    guard var endpoints = slice.endpoints else { return slice }
    for index in endpoints.indices {
      guard let topology = endpoints[index].topology else { continue }
      if endpoints[index].zone == nil { endpoints[index].zone = topology["topology.kubernetes.io/zone"] }
      if endpoints[index].nodeName == nil { endpoints[index].nodeName = topology["kubernetes.io/hostname"] }
    }
    slice.endpoints = endpoints
    return slice
  }

  /// `KIND NAMESPACE/NAME` for messages, from whatever the raw object holds (`Service (unnamed)` without a name).
  private static func label(of mapping: SourceMapping, kind: String?) -> String? {
    guard let kind = kind ?? mapping["kind"]?.string else { return nil }
    let metadata = mapping["metadata"]?.mapping
    guard let name = metadata?["name"]?.string, !name.isEmpty else { return "\(kind) (unnamed)" }
    if let namespace = metadata?["namespace"]?.string, !namespace.isEmpty { return "\(kind) \(namespace)/\(name)" }
    return "\(kind) \(name)"
  }

  // MARK: - Text

  /// The bytes as UTF-8 text, or an error at the line of the first byte that is not UTF-8.
  private static func text(of bytes: [UInt8], path: String) throws(ObjectDecodingError) -> String {
    if let text = String(validating: bytes, as: UTF8.self) { return text }
    var line = 1
    var column = 1
    var iterator = bytes.makeIterator()
    var parser = Unicode.UTF8.ForwardParser()
    while true {
      switch parser.parseScalar(from: &iterator) {
      case .valid(let scalar):
        if scalar.count == 1 && scalar.first == UInt8(ascii: "\n") {
          line += 1
          column = 1
        } else {
          column += 1
        }
      case .error:
        throw ObjectDecodingError(
          code: .invalidEncoding, message: "not UTF-8 text (a binary file?)", path: path, line: line, column: column)
      case .emptyInput:
        throw ObjectDecodingError(code: .invalidEncoding, message: "not UTF-8 text", path: path)
      }
    }
  }
}

/// What one file held: the objects of watched kinds, in file order, and the objects of other kinds passed over.
package struct DecodedFile: Sendable, Hashable {
  /// The decoded objects, in the order they appear in the file.
  package var objects: [KubeObject]
  /// Objects of kinds (or API versions) Sextant does not watch; a caller logs one debug line for each.
  package var skipped: [SkippedObject]

  package init(objects: [KubeObject] = [], skipped: [SkippedObject] = []) {
    self.objects = objects
    self.skipped = skipped
  }
}

/// An object of a kind Sextant does not watch, found in a file and passed over.
package struct SkippedObject: Sendable, Hashable, CustomStringConvertible {
  package var apiVersion: String
  package var kind: String
  package var namespace: String?
  /// `metadata.name` when it is a string.
  package var name: String?
  /// The 1-based line where the object starts.
  package var line: Int

  package init(apiVersion: String, kind: String, namespace: String? = nil, name: String? = nil, line: Int) {
    self.apiVersion = apiVersion
    self.kind = kind
    self.namespace = namespace
    self.name = name
    self.line = line
  }

  /// `apps/v1 Deployment sample/helloworld at line 3`.
  package var description: String {
    let qualified = [namespace, name].compactMap { $0 }.joined(separator: "/")
    return "\(apiVersion) \(kind)\(qualified.isEmpty ? "" : " \(qualified)") at line \(line)"
  }
}
