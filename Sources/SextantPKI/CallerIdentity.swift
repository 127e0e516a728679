/// Who is calling on an authenticated stream: a SPIFFE identity and how it was proven.
package struct CallerIdentity: Sendable, Hashable, CustomStringConvertible {
  /// How the caller proved its identity.
  package enum Method: Sendable, Hashable {
    /// A TLS client certificate that chains to the mesh root.
    case clientCertificate
    /// A Kubernetes service-account token, reviewed by the API server of `clusterID`.
    case token(clusterID: String)
  }

  package var spiffe: SpiffeID
  package var method: Method

  package init(spiffe: SpiffeID, method: Method) {
    self.spiffe = spiffe
    self.method = method
  }

  package var namespace: String { spiffe.namespace }
  package var serviceAccount: String { spiffe.serviceAccount }

  package var description: String {
    switch method {
    case .clientCertificate: "\(spiffe.uri) (client certificate)"
    case .token(let cluster): "\(spiffe.uri) (token reviewed by cluster \(cluster))"
    }
  }
}
