import Foundation
import Logging
import SextantKubeClient
import SextantPKI

/// Loads the mesh CA from the primary cluster's system namespace, as istiod does without a CA directory:
///
/// 1. Secret `cacerts` (Istio's plug-in CA: keys ca-cert.pem, ca-key.pem, cert-chain.pem, root-cert.pem), verified
///    with every check `CAMaterial` runs. A broken `cacerts` is an error: start-up fails, nothing is replaced.
/// 2. Without `cacerts`: Secret `istio-ca-secret` (type `istio.io/ca-root`), the self-signed root an earlier start
///    (of Sextant or istiod) stored. Istio writes only ca-cert.pem and ca-key.pem there (cert-chain.pem and
///    root-cert.pem empty); missing or empty ones are taken from ca-cert.pem. A broken one is an error too.
/// 3. Without either: a new self-signed root (ECDSA P-256, 10 years, O = trust domain, as `SelfSignedCA`) is created
///    and stored as `istio-ca-secret` with all four keys, so every later start (and every replica) reuses it. When
///    another instance created it first (409 Conflict), that one is read and used.
///
/// Errors are `CAError`s naming the Secret and the key: `secret istio-system/cacerts, key ca-key.pem: the private
/// key does not match ...`. API failures are retried (with backoff) for `retryTimeout`, then reported as `CAError`
/// `unreadable` (reading) or `writeFailed` (creating) with the client's error. Needs `get` and `create` on Secrets in
/// the namespace.
package struct KubeCASecrets: Sendable {
  /// Istio's plug-in CA Secret.
  package static let pluggedSecretName = "cacerts"
  /// The Secret holding the self-signed root.
  package static let selfSignedSecretName = "istio-ca-secret"
  /// The type Istio gives `istio-ca-secret`.
  package static let selfSignedSecretType = "istio.io/ca-root"

  /// Where the loaded material came from.
  package enum Origin: Sendable, Hashable {
    /// Secret `cacerts`.
    case plugged
    /// Secret `istio-ca-secret`; `created` when this call created it.
    case selfSigned(created: Bool)
  }

  /// Verified CA material, with the PEM text it was verified from (to tell later changes apart) and its origin.
  package struct Loaded: Sendable {
    package var material: CAMaterial
    package var files: CAMaterial.PEMFiles
    package var origin: Origin
    /// `NAMESPACE/NAME` of the Secret.
    package var secret: String
  }

  package let namespace: String
  package let trustDomain: String
  package let retryTimeout: Duration

  private let client: any CASecretClient
  private let now: @Sendable () -> Date
  private let sleep: @Sendable (Duration) async throws -> Void
  private let logger: Logger

  /// - Parameters:
  ///   - client: The primary cluster's client (`KubeClient`).
  ///   - namespace: The system namespace (`istio-system`).
  ///   - trustDomain: The organization of a new self-signed root (meshConfig `trustDomain`).
  ///   - retryTimeout: How long failing API requests are retried before `load` gives up.
  ///   - now: When validity periods are checked and a new root starts.
  ///   - sleep: Waits between retries (tests inject one that returns at once).
  package init(
    client: any CASecretClient,
    namespace: String = "istio-system",
    trustDomain: String = "cluster.local",
    retryTimeout: Duration = .seconds(30),
    now: @escaping @Sendable () -> Date = { Date() },
    sleep: @escaping @Sendable (Duration) async throws -> Void = { try await Task.sleep(for: $0) },
    logger: Logger
  ) {
    self.client = client
    self.namespace = namespace
    self.trustDomain = trustDomain
    self.retryTimeout = retryTimeout
    self.now = now
    self.sleep = sleep
    self.logger = logger
  }

  /// Loads `cacerts`, else loads or creates `istio-ca-secret`; see the type's documentation.
  package func load() async throws(CAError) -> Loaded {
    if let plugged = try await read(Self.pluggedSecretName) {
      let (material, files) = try Self.material(from: plugged, now: now())
      logger.info(
        "loaded the plug-in CA from a Secret",
        metadata: ["secret": "\(namespace)/\(Self.pluggedSecretName)", "roots": "\(material.rootCertificates.count)"])
      return Loaded(
        material: material, files: files, origin: .plugged, secret: "\(namespace)/\(Self.pluggedSecretName)")
    }
    let name = "\(namespace)/\(Self.selfSignedSecretName)"
    for _ in 0..<3 {
      if let stored = try await read(Self.selfSignedSecretName) {
        let (material, files) = try Self.material(from: stored, now: now(), selfSigned: true)
        logger.info("reusing the self-signed root CA stored in a Secret", metadata: ["secret": "\(name)"])
        return Loaded(material: material, files: files, origin: .selfSigned(created: false), secret: name)
      }
      let source = "secret \(name)"
      let files = try SelfSignedCA.makeMaterialPEM(trustDomain: trustDomain, now: now(), source: source)
      let material = try Self.verify(files, source: source, now: now())
      let secret = Secret(
        namespace: namespace, name: Self.selfSignedSecretName, type: Self.selfSignedSecretType,
        values: [
          CAFile.caCert.rawValue: Array(files.caCert.utf8), CAFile.caKey.rawValue: Array(files.caKey.utf8),
          CAFile.certChain.rawValue: Array(files.certChain.utf8), CAFile.rootCert.rawValue: Array(files.rootCert.utf8),
        ])
      switch await create(secret) {
      case .created:
        logger.notice(
          "created a self-signed root CA and stored it in a Secret",
          metadata: ["secret": "\(name)", "trustDomain": "\(trustDomain)"])
        return Loaded(material: material, files: files, origin: .selfSigned(created: true), secret: name)
      case .conflict:
        logger.info("another instance stored a self-signed root first; using that one", metadata: ["secret": "\(name)"])
        continue
      case .failed(let error):
        throw CAError(.writeFailed, file: source, "cannot create the Secret: \(error)")
      }
    }
    throw CAError(
      .writeFailed, file: "secret \(name)", "was created by another instance but then could not be found, repeatedly")
  }

  /// The verified material of a `cacerts` (or, with `selfSigned`, an `istio-ca-secret`) Secret, and its PEM text.
  ///
  /// - Throws: `CAError` naming `secret NAMESPACE/NAME, key KEY`: a missing key (`missingFile`), a value that is not
  ///   base64 (`unreadable`) or not UTF-8 (`invalidPEM`), or any check of `CAMaterial`.
  package static func material(
    from secret: Secret, now: Date, selfSigned: Bool = false
  ) throws(CAError) -> (CAMaterial, CAMaterial.PEMFiles) {
    let source = "secret \(secret.name)"
    let values: [String: [UInt8]]
    do throws(SecretDataError) {
      values = try secret.decodedData()
    } catch {
      throw CAError(.unreadable, file: "\(source), key \(error.key)", error.message)
    }
    func text(_ file: CAFile) throws(CAError) -> String? {
      guard let bytes = values[file.rawValue] else { return nil }
      guard let text = String(validating: bytes, as: UTF8.self) else {
        throw CAError(.invalidPEM, file: "\(source), key \(file.rawValue)", "is not UTF-8 text, so not PEM")
      }
      return text
    }
    func required(_ file: CAFile) throws(CAError) -> String {
      if let value = try text(file) { return value }
      let present = values.keys.sorted()
      throw CAError(
        .missingFile, file: "\(source), key \(file.rawValue)",
        "is missing from the Secret (its keys: \(present.isEmpty ? "none" : present.joined(separator: ", ")))")
    }
    let caCert = try required(.caCert)
    let caKey = try required(.caKey)
    let files: CAMaterial.PEMFiles
    if selfSigned {
      // Istio leaves cert-chain.pem and root-cert.pem empty: the root is ca-cert.pem.
      func orRoot(_ value: String?) -> String {
        guard let value, !value.allSatisfy(\.isWhitespace) else { return caCert }
        return value
      }
      files = CAMaterial.PEMFiles(
        caCert: caCert, caKey: caKey, certChain: orRoot(try text(.certChain)), rootCert: orRoot(try text(.rootCert)))
    } else {
      files = CAMaterial.PEMFiles(
        caCert: caCert, caKey: caKey, certChain: try required(.certChain), rootCert: try required(.rootCert))
    }
    return (try verify(files, source: source, now: now), files)
  }

  /// `CAMaterial(pem:source:now:)`, with errors naming `SOURCE, key FILE` instead of `SOURCE/FILE`.
  static func verify(_ files: CAMaterial.PEMFiles, source: String, now: Date) throws(CAError) -> CAMaterial {
    do throws(CAError) {
      return try CAMaterial(pem: files, source: source, now: now)
    } catch {
      var error = error
      if error.file.hasPrefix(source + "/") {
        error.file = "\(source), key \(error.file.dropFirst(source.count + 1))"
      }
      throw error
    }
  }

  // MARK: - API calls, retried

  private enum Creation {
    case created
    case conflict
    case failed(KubeClientError)
  }

  /// The Secret `name` in the namespace, nil when it does not exist; retries failures for `retryTimeout`.
  private func read(_ name: String) async throws(CAError) -> Secret? {
    var backoff = Backoff(cap: .seconds(5))
    var waited: Duration = .zero
    while true {
      do throws(KubeClientError) {
        return try await client.secret(namespace: namespace, name: name)
      } catch {
        guard let delay = nextDelay(error, &backoff, &waited) else {
          throw CAError(.unreadable, file: "secret \(namespace)/\(name)", "cannot be read: \(error)")
        }
        logger.warning(
          "cannot read the CA Secret; retrying",
          metadata: ["secret": "\(namespace)/\(name)", "error": "\(error)", "retryIn": "\(delay)"])
        do {
          try await sleep(delay)
        } catch {
          throw CAError(.unreadable, file: "secret \(namespace)/\(name)", "cannot be read: cancelled")
        }
      }
    }
  }

  private func create(_ secret: Secret) async -> Creation {
    var backoff = Backoff(cap: .seconds(5))
    var waited: Duration = .zero
    while true {
      do throws(KubeClientError) {
        _ = try await client.createSecret(secret)
        return .created
      } catch let failure {
        if failure.isConflict { return .conflict }
        guard let delay = nextDelay(failure, &backoff, &waited) else { return .failed(failure) }
        logger.warning(
          "cannot create the CA Secret; retrying",
          metadata: ["secret": "\(secret.name)", "error": "\(failure)", "retryIn": "\(delay)"])
        do {
          try await sleep(delay)
        } catch {
          return .failed(failure)
        }
      }
    }
  }

  /// The delay before retrying after `error`, or nil when it is not retryable or `retryTimeout` is used up.
  private func nextDelay(_ error: KubeClientError, _ backoff: inout Backoff, _ waited: inout Duration) -> Duration? {
    guard error.isRetryable, waited < retryTimeout else { return nil }
    let delay = min(backoff.next(), retryTimeout - waited)
    waited += delay
    return delay
  }
}
