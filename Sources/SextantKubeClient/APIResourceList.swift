/// meta/v1 APIResourceList: what `GET /apis/GROUP/VERSION` (or `/api/v1`) serves.
package struct APIResourceList: Codable, Sendable, Hashable {
  /// One served resource (`endpointslices`) or subresource (`pods/status`).
  package struct Resource: Codable, Sendable, Hashable {
    /// The plural name; subresources contain a slash.
    package var name: String
    package var namespaced: Bool?
    package var kind: String?
    package var verbs: [String]?

    package init(name: String, namespaced: Bool? = nil, kind: String? = nil, verbs: [String]? = nil) {
      self.name = name
      self.namespaced = namespaced
      self.kind = kind
      self.verbs = verbs
    }
  }

  package var groupVersion: String?
  package var resources: [Resource]

  package init(groupVersion: String? = nil, resources: [Resource]) {
    self.groupVersion = groupVersion
    self.resources = resources
  }

  private enum CodingKeys: String, CodingKey {
    case groupVersion
    case resources
  }

  package init(from decoder: any Decoder) throws {
    let container = try decoder.container(keyedBy: CodingKeys.self)
    groupVersion = try container.decodeIfPresent(String.self, forKey: .groupVersion)
    resources = try container.decodeIfPresent([Resource].self, forKey: .resources) ?? []
  }

  /// Whether `resource` (a plural name such as `endpointslices`) is served, and can be listed and watched when the
  /// server says which verbs it supports.
  package func serves(_ resource: String) -> Bool {
    resources.contains { entry in
      entry.name == resource
        && (entry.verbs.map { verbs in verbs.contains("list") && verbs.contains("watch") } ?? true)
    }
  }
}
