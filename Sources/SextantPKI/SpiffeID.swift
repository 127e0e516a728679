import X509

/// A workload identity in Istio's form `spiffe://TRUST_DOMAIN/ns/NAMESPACE/sa/SERVICE_ACCOUNT`.
///
/// Parsing is strict: the scheme is lowercase `spiffe`, the trust domain holds only lowercase letters, digits, `.`,
/// `-` and `_` (the SPIFFE rule), the path is exactly `/ns/NAMESPACE/sa/SERVICE_ACCOUNT` with a Kubernetes namespace
/// (DNS label) and service account name (DNS subdomain); no port, user info, query, fragment or percent-encoding.
/// `description` is the URI, as it appears in certificates and in Envoy's SAN matchers.
package struct SpiffeID: Sendable, Hashable, CustomStringConvertible {
  /// The trust domain (`cluster.local` by default in Istio).
  package let trustDomain: String
  /// The Kubernetes namespace of the workload.
  package let namespace: String
  /// The Kubernetes service account of the workload.
  package let serviceAccount: String

  /// An identity from its parts, validated as `init(parsing:)` validates a URI.
  package init(trustDomain: String, namespace: String, serviceAccount: String) throws(SpiffeIDError) {
    let uri = "spiffe://\(trustDomain)/ns/\(namespace)/sa/\(serviceAccount)"
    try Self.validate(trustDomain: trustDomain, namespace: namespace, serviceAccount: serviceAccount, input: uri)
    self.trustDomain = trustDomain
    self.namespace = namespace
    self.serviceAccount = serviceAccount
  }

  /// Parses `spiffe://TRUST_DOMAIN/ns/NAMESPACE/sa/SERVICE_ACCOUNT`.
  package init(parsing uri: String) throws(SpiffeIDError) {
    let scheme = "spiffe://"
    guard uri.hasPrefix(scheme) else {
      throw SpiffeIDError(.missingScheme, input: uri, "does not start with spiffe://")
    }
    let rest = uri.dropFirst(scheme.count)
    let segments = rest.split(separator: "/", omittingEmptySubsequences: false)
    guard let trustDomain = segments.first else {
      throw SpiffeIDError(.invalidTrustDomain, input: uri, "the trust domain is empty")
    }
    try Self.validateTrustDomain(String(trustDomain), input: uri)
    guard segments.count == 5, segments[1] == "ns", segments[3] == "sa" else {
      let path = rest.dropFirst(trustDomain.count)
      throw SpiffeIDError(
        .invalidPath, input: uri,
        "the path \"\(path)\" is not /ns/NAMESPACE/sa/SERVICE_ACCOUNT")
    }
    try self.init(trustDomain: String(trustDomain), namespace: String(segments[2]), serviceAccount: String(segments[4]))
  }

  /// The single SPIFFE identity in `certificate`'s URI SANs.
  ///
  /// Throws `notInCertificate` when there is no subjectAltName extension or no `spiffe://` URI in it,
  /// `multipleInCertificate` when there are several (an X.509-SVID has exactly one), and the parse error of a
  /// malformed one. Non-SPIFFE URI SANs are ignored.
  package init(certificate: Certificate) throws(SpiffeIDError) {
    let names: SubjectAlternativeNames?
    do {
      names = try certificate.extensions.subjectAlternativeNames
    } catch {
      throw SpiffeIDError(
        .notInCertificate, input: certificate.subjectDescription,
        "the subjectAltName extension cannot be decoded: \(error)")
    }
    let uris = (names.map(Array.init) ?? []).compactMap { name -> String? in
      if case .uniformResourceIdentifier(let uri) = name, uri.lowercased().hasPrefix("spiffe://") { return uri }
      return nil
    }
    guard let uri = uris.first else {
      throw SpiffeIDError(
        .notInCertificate, input: certificate.subjectDescription, "the certificate has no spiffe:// URI SAN")
    }
    guard uris.count == 1 else {
      throw SpiffeIDError(
        .multipleInCertificate, input: certificate.subjectDescription,
        "the certificate has \(uris.count) spiffe:// URI SANs (\(uris.joined(separator: ", "))), expected one")
    }
    try self.init(parsing: uri)
  }

  /// `spiffe://TRUST_DOMAIN/ns/NAMESPACE/sa/SERVICE_ACCOUNT`.
  package var uri: String { "spiffe://\(trustDomain)/ns/\(namespace)/sa/\(serviceAccount)" }

  /// The URI.
  package var description: String { uri }

  // MARK: - Validation

  private static func validate(
    trustDomain: String, namespace: String, serviceAccount: String, input: String
  ) throws(SpiffeIDError) {
    try validateTrustDomain(trustDomain, input: input)
    if let problem = KubernetesName.dnsLabelProblem(namespace) {
      throw SpiffeIDError(.invalidNamespace, input: input, "namespace \"\(namespace)\" \(problem)")
    }
    if let problem = KubernetesName.dnsSubdomainProblem(serviceAccount) {
      throw SpiffeIDError(.invalidServiceAccount, input: input, "service account \"\(serviceAccount)\" \(problem)")
    }
  }

  static func validateTrustDomain(_ trustDomain: String, input: String) throws(SpiffeIDError) {
    guard !trustDomain.isEmpty else {
      throw SpiffeIDError(.invalidTrustDomain, input: input, "the trust domain is empty")
    }
    guard trustDomain.utf8.count <= 255 else {
      throw SpiffeIDError(.invalidTrustDomain, input: input, "the trust domain is longer than 255 characters")
    }
    let allowed = trustDomain.utf8.allSatisfy { byte in
      (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z"))
        || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"))
        || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_")
    }
    guard allowed else {
      throw SpiffeIDError(
        .invalidTrustDomain, input: input,
        "the trust domain \"\(trustDomain)\" may hold only lowercase letters, digits, '.', '-' and '_'")
    }
  }
}

/// Why a string or a certificate does not give a `SpiffeID`.
///
/// `description` reads `invalid SPIFFE ID "INPUT": MESSAGE`; for certificates INPUT is the certificate's subject.
package struct SpiffeIDError: Error, Sendable, Hashable, CustomStringConvertible {
  /// What is wrong.
  package enum Code: String, Sendable, Hashable, CaseIterable {
    /// The URI does not start with `spiffe://`.
    case missingScheme
    /// The trust domain is empty, too long or has characters SPIFFE does not allow.
    case invalidTrustDomain
    /// The path is not `/ns/NAMESPACE/sa/SERVICE_ACCOUNT`.
    case invalidPath
    /// The namespace is not a Kubernetes namespace name (DNS label).
    case invalidNamespace
    /// The service account is not a Kubernetes name (DNS subdomain).
    case invalidServiceAccount
    /// The certificate has no `spiffe://` URI SAN (or its subjectAltName cannot be decoded).
    case notInCertificate
    /// The certificate has more than one `spiffe://` URI SAN.
    case multipleInCertificate
  }

  /// What is wrong.
  package var code: Code
  /// The URI (or, for certificates, the subject) that was being read.
  package var input: String
  /// What is wrong, in words.
  package var message: String

  package init(_ code: Code, input: String, _ message: String) {
    self.code = code
    self.input = input
    self.message = message
  }

  /// `invalid SPIFFE ID "INPUT": MESSAGE`.
  package var description: String { "invalid SPIFFE ID \"\(input)\": \(message)" }
}

/// Kubernetes object name rules (RFC 1123), as the API server enforces them.
enum KubernetesName {
  /// Why `name` is not a DNS label (1–63 of `a-z0-9-`, alphanumeric at both ends), or nil.
  static func dnsLabelProblem(_ name: String) -> String? {
    guard !name.isEmpty else { return "is empty" }
    guard name.utf8.count <= 63 else { return "is longer than 63 characters" }
    guard isLabel(name.utf8) else {
      return "must consist of lowercase letters, digits and '-', and start and end with a letter or digit"
    }
    return nil
  }

  /// Why `name` is not a DNS subdomain (1–253 characters, dot-separated DNS labels), or nil.
  static func dnsSubdomainProblem(_ name: String) -> String? {
    guard !name.isEmpty else { return "is empty" }
    guard name.utf8.count <= 253 else { return "is longer than 253 characters" }
    let labels = name.utf8.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
    guard labels.allSatisfy({ !$0.isEmpty && isLabel($0) }) else {
      return "must consist of lowercase letters, digits, '-' and '.', and start and end with a letter or digit"
    }
    return nil
  }

  private static func isLabel<Bytes: Collection>(_ bytes: Bytes) -> Bool where Bytes.Element == UInt8 {
    func alphanumeric(_ byte: UInt8) -> Bool {
      (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z"))
        || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"))
    }
    guard let first = bytes.first, alphanumeric(first) else { return false }
    var last = first
    for byte in bytes {
      guard alphanumeric(byte) || byte == UInt8(ascii: "-") else { return false }
      last = byte
    }
    return alphanumeric(last)
  }
}
