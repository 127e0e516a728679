/// Who is calling on an authenticated stream: a SPIFFE identity and how it was proven.
public struct CallerIdentity: Sendable, Hashable, CustomStringConvertible {
  /// How the caller proved its identity.
  public enum Method: Sendable, Hashable {
    /// A TLS client certificate that chains to the mesh root.
    case clientCertificate
    /// A Kubernetes service-account token, reviewed by the API server of `clusterID`.
    case token(clusterID: String)
  }

  public var spiffe: SpiffeID
  public var method: Method

  public init(spiffe: SpiffeID, method: Method) {
    self.spiffe = spiffe
    self.method = method
  }

  public var namespace: String { spiffe.namespace }
  public var serviceAccount: String { spiffe.serviceAccount }

  public var description: String {
    switch method {
    case .clientCertificate: "\(spiffe.uri) (client certificate)"
    case .token(let cluster): "\(spiffe.uri) (token reviewed by cluster \(cluster))"
    }
  }
}
