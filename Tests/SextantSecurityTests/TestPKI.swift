import Crypto
import Foundation
import Logging
import SwiftASN1
import X509
import _CryptoExtras

@testable import SextantPKI
@testable import SextantTrust

/// A fixed "now" for tests: 2026-01-01T00:00:00Z. Test certificates are valid from a day before it.
let testNow = Date(timeIntervalSince1970: 1_767_225_600)
let day: TimeInterval = 86_400
let year: TimeInterval = 365 * day

let quietLogger = Logger(label: "sextant.security.tests", factory: { _ in SwiftLogNoOpLogHandler() })

/// How a test key is written to ca-key.pem.
enum KeyFormat: String, CaseIterable, Sendable, CustomStringConvertible {
  case rsaPKCS1, rsaPKCS8, p256SEC1, p256SEC1WithParameters, p256PKCS8, p384SEC1, p384PKCS8

  var description: String { rawValue }
  var isRSA: Bool { self == .rsaPKCS1 || self == .rsaPKCS8 }
}

/// A private key that can be written in every format ca-key.pem may use.
enum TestKey: Sendable {
  case rsa(_RSA.Signing.PrivateKey)
  case p256(P256.Signing.PrivateKey)
  case p384(P384.Signing.PrivateKey)

  static func make(_ format: KeyFormat) -> TestKey {
    switch format {
    case .rsaPKCS1, .rsaPKCS8: .rsa(try! _RSA.Signing.PrivateKey(keySize: .bits2048))
    case .p256SEC1, .p256SEC1WithParameters, .p256PKCS8: .p256(P256.Signing.PrivateKey())
    case .p384SEC1, .p384PKCS8: .p384(P384.Signing.PrivateKey())
    }
  }

  var certificateKey: Certificate.PrivateKey {
    switch self {
    case .rsa(let key): Certificate.PrivateKey(key)
    case .p256(let key): Certificate.PrivateKey(key)
    case .p384(let key): Certificate.PrivateKey(key)
    }
  }

  /// The key as PEM in `format` (which must fit the key's kind).
  func pem(_ format: KeyFormat) -> String {
    switch (self, format) {
    case (.rsa(let key), .rsaPKCS1): return key.pemRepresentation
    case (.rsa(let key), .rsaPKCS8): return key.pkcs8PEMRepresentation
    case (.p256(let key), .p256PKCS8): return key.pemRepresentation
    case (.p256(let key), .p256SEC1):
      return sec1(raw: key.rawRepresentation, publicKey: key.publicKey.x963Representation, curve: Self.p256OID)
    case (.p256(let key), .p256SEC1WithParameters):
      // What `openssl ecparam -genkey` writes: the curve OID in its own block first.
      var serializer = DER.Serializer()
      try! serializer.serialize(Self.p256OID)
      return PEMDocument(type: "EC PARAMETERS", derBytes: serializer.serializedBytes).pemString + "\n"
        + sec1(raw: key.rawRepresentation, publicKey: key.publicKey.x963Representation, curve: Self.p256OID)
    case (.p384(let key), .p384PKCS8): return key.pemRepresentation
    case (.p384(let key), .p384SEC1):
      return sec1(raw: key.rawRepresentation, publicKey: key.publicKey.x963Representation, curve: Self.p384OID)
    default: fatalError("key kind does not fit \(format)")
    }
  }

  static let p256OID: ASN1ObjectIdentifier = [1, 2, 840, 10045, 3, 1, 7]
  static let p384OID: ASN1ObjectIdentifier = [1, 3, 132, 0, 34]

  /// RFC 5915 ECPrivateKey ("EC PRIVATE KEY"), as OpenSSL writes it.
  private func sec1(raw: Data, publicKey: Data, curve: ASN1ObjectIdentifier) -> String {
    var serializer = DER.Serializer()
    try! serializer.appendConstructedNode(identifier: .sequence) { coder in
      try coder.serialize(1)
      try coder.serialize(ASN1OctetString(contentBytes: ArraySlice(raw)))
      try coder.serialize(curve, explicitlyTaggedWithTagNumber: 0, tagClass: .contextSpecific)
      try coder.serialize(
        ASN1BitString(bytes: ArraySlice(publicKey)), explicitlyTaggedWithTagNumber: 1, tagClass: .contextSpecific)
    }
    return PEMDocument(type: "EC PRIVATE KEY", derBytes: serializer.serializedBytes).pemString + "\n"
  }
}

/// A certificate and its key.
struct Issuer: Sendable {
  let certificate: Certificate
  let key: TestKey

  var pem: String { try! certificate.pemString() }
}

/// Builds CA certificates the way Istio's Makefile.selfsigned.mk does, with swift-certificates.
enum CertificateFactory {
  static func name(_ commonName: String, organization: String = "Istio") -> DistinguishedName {
    try! DistinguishedName {
      OrganizationName(organization)
      CommonName(commonName)
    }
  }

  /// A self-signed root: CA:TRUE, keyUsage keyCertSign/cRLSign/digitalSignature.
  static func root(
    _ commonName: String, key: TestKey, notBefore: Date = testNow - day, notAfter: Date = testNow + 10 * year
  ) -> Issuer {
    let subject = name(commonName)
    let certificate = try! Certificate(
      version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: key.certificateKey.publicKey,
      notValidBefore: notBefore, notValidAfter: notAfter, issuer: subject, subject: subject,
      extensions: try! Certificate.Extensions {
        Critical(BasicConstraints.isCertificateAuthority(maxPathLength: nil))
        Critical(KeyUsage(digitalSignature: true, keyCertSign: true, cRLSign: true))
        SubjectKeyIdentifier(keyIdentifier: KeyIdentifier.of(key.certificateKey.publicKey))
      },
      issuerPrivateKey: key.certificateKey)
    return Issuer(certificate: certificate, key: key)
  }

  /// A certificate for `key` issued by `issuer`; by default an intermediate CA as the Makefile makes them.
  static func issue(
    _ commonName: String, key: TestKey, by issuer: Issuer, notBefore: Date = testNow - day,
    notAfter: Date = testNow + 2 * year,
    basicConstraints: BasicConstraints? = .isCertificateAuthority(maxPathLength: nil),
    keyUsage: KeyUsage? = KeyUsage(digitalSignature: true, keyCertSign: true, cRLSign: true),
    subjectAlternativeNames: [GeneralName] = []
  ) -> Issuer {
    var extensions = Certificate.Extensions()
    if let basicConstraints { try! extensions.append(Critical(basicConstraints).makeCertificateExtension()) }
    if let keyUsage { try! extensions.append(Critical(keyUsage).makeCertificateExtension()) }
    try! extensions.append(
      SubjectKeyIdentifier(keyIdentifier: KeyIdentifier.of(key.certificateKey.publicKey)).makeCertificateExtension())
    if !subjectAlternativeNames.isEmpty {
      try! extensions.append(SubjectAlternativeNames(subjectAlternativeNames).makeCertificateExtension())
    }
    let certificate = try! Certificate(
      version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: key.certificateKey.publicKey,
      notValidBefore: notBefore, notValidAfter: notAfter, issuer: issuer.certificate.subject,
      subject: name(commonName), extensions: extensions, issuerPrivateKey: issuer.key.certificateKey)
    return Issuer(certificate: certificate, key: key)
  }
}

/// A root, two cluster intermediates, a two-level branch (middle → deep) and an unrelated root with the same name.
struct TestPKI: Sendable {
  let format: KeyFormat
  let root: Issuer
  let cluster1: Issuer
  let cluster2: Issuer
  let middle: Issuer
  let deep: Issuer
  let otherRoot: Issuer

  init(format: KeyFormat) {
    self.format = format
    root = CertificateFactory.root("Root CA", key: .make(format))
    cluster1 = CertificateFactory.issue("Intermediate CA cluster1", key: .make(format), by: root)
    cluster2 = CertificateFactory.issue("Intermediate CA cluster2", key: .make(format), by: root)
    middle = CertificateFactory.issue("Middle CA", key: .make(format), by: root)
    deep = CertificateFactory.issue("Deep CA", key: .make(format), by: middle)
    otherRoot = CertificateFactory.root("Root CA", key: .make(format))
  }

  /// One PKI per key format, built once (RSA key generation is slow in debug builds).
  static func shared(_ format: KeyFormat) -> TestPKI {
    switch format {
    case .rsaPKCS1: rsaPKCS1
    case .rsaPKCS8: rsaPKCS8
    case .p256SEC1: p256SEC1
    case .p256SEC1WithParameters: p256SEC1WithParameters
    case .p256PKCS8: p256PKCS8
    case .p384SEC1: p384SEC1
    case .p384PKCS8: p384PKCS8
    }
  }

  private static let rsaPKCS1 = TestPKI(format: .rsaPKCS1)
  private static let rsaPKCS8 = TestPKI(format: .rsaPKCS8)
  private static let p256SEC1 = TestPKI(format: .p256SEC1)
  private static let p256SEC1WithParameters = TestPKI(format: .p256SEC1WithParameters)
  private static let p256PKCS8 = TestPKI(format: .p256PKCS8)
  private static let p384SEC1 = TestPKI(format: .p384SEC1)
  private static let p384PKCS8 = TestPKI(format: .p384PKCS8)

  static let ecdsa = shared(.p256PKCS8)
  static let rsa = shared(.rsaPKCS1)

  /// The four plug-in files for `cluster`, as Makefile.selfsigned.mk writes them.
  func files(for cluster: Issuer, chainIncludesRoot: Bool = true) -> CAMaterial.PEMFiles {
    CAMaterial.PEMFiles(
      caCert: cluster.pem, caKey: cluster.key.pem(format),
      certChain: cluster.pem + (chainIncludesRoot ? root.pem : ""), rootCert: root.pem)
  }
}

/// A temporary directory, removed by `remove()`.
struct TemporaryDirectory {
  let path: String

  init() {
    path = FileManager.default.temporaryDirectory.appendingPathComponent("sextant-security-\(UUID().uuidString)").path
    try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
  }

  func file(_ name: CAFile) -> String { path + "/" + name.rawValue }

  /// Writes the four files in Istio's layout.
  func write(_ files: CAMaterial.PEMFiles) {
    write(files.caCert, to: .caCert)
    write(files.caKey, to: .caKey)
    write(files.certChain, to: .certChain)
    write(files.rootCert, to: .rootCert)
  }

  func write(_ text: String, to file: CAFile) {
    try! text.write(toFile: self.file(file), atomically: true, encoding: .utf8)
  }

  func remove() {
    try? FileManager.default.removeItem(atPath: path)
  }
}

/// Runs `body` with a fresh temporary directory that is removed afterwards.
func withTemporaryDirectory<T>(_ body: (TemporaryDirectory) throws -> T) rethrows -> T {
  let directory = TemporaryDirectory()
  defer { directory.remove() }
  return try body(directory)
}

/// The error `body` throws, or nil.
func caError(_ body: () throws(CAError) -> CAMaterial) -> CAError? {
  do {
    _ = try body()
    return nil
  } catch {
    return error
  }
}
