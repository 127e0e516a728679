/// meta/v1 APIResourceList: what `GET /apis/GROUP/VERSION` (or `/api/v1`) serves.
public struct APIResourceList: Codable, Sendable, Hashable {
  /// One served resource (`endpointslices`) or subresource (`pods/status`).
  public struct Resource: Codable, Sendable, Hashable {
    /// The plural name; subresources contain a slash.
    public var name: String
    public var namespaced: Bool?
    public var kind: String?
    public var verbs: [String]?

    public init(name: String, namespaced: Bool? = nil, kind: String? = nil, verbs: [String]? = nil) {
      self.name = name
      self.namespaced = namespaced
      self.kind = kind
      self.verbs = verbs
    }
  }

  public var groupVersion: String?
  public var resources: [Resource]

  public init(groupVersion: String? = nil, resources: [Resource]) {
    self.groupVersion = groupVersion
    self.resources = resources
  }

  private enum CodingKeys: String, CodingKey {
    case groupVersion
    case resources
  }

  public init(from decoder: any Decoder) throws {
    let container = try decoder.container(keyedBy: CodingKeys.self)
    groupVersion = try container.decodeIfPresent(String.self, forKey: .groupVersion)
    resources = try container.decodeIfPresent([Resource].self, forKey: .resources) ?? []
  }

  /// Whether `resource` (a plural name such as `endpointslices`) is served, and can be listed and watched when the
  /// server says which verbs it supports.
  public func serves(_ resource: String) -> Bool {
    resources.contains { entry in
      entry.name == resource
        && (entry.verbs.map { verbs in verbs.contains("list") && verbs.contains("watch") } ?? true)
    }
  }
}
