import Crypto
import SwiftASN1
import X509
import _CryptoExtras

/// Decodes certificates, private keys and CSRs from PEM text, reporting failures without a file name.
///
/// Each public entry point maps `PEMDecoding.Failure` to its own error type (CAError, IssuanceError,
/// PeerVerificationError), adding the file or input it was reading. Text around PEM blocks (as `openssl x509 -text`
/// writes it) is ignored; `EC PARAMETERS` blocks in key files are skipped.
enum PEMDecoding {
  /// Why PEM text could not be decoded.
  struct Failure: Error, Sendable {
    enum Kind: Sendable {
      /// No PEM block, or a malformed one.
      case notPEM
      /// A PEM block of the wrong type, or content that does not decode as that type.
      case wrongContent
      /// A key of a kind Sextant does not use.
      case unsupportedKey
    }

    var kind: Kind
    var message: String
  }

  static let certificateDiscriminator = "CERTIFICATE"
  static let csrDiscriminators: Set<String> = ["CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST"]
  static let keyDiscriminators: Set<String> = ["PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY"]

  /// Every PEM block in `text`, in order; at least one.
  static func blocks(_ text: String) throws(Failure) -> [PEMDocument] {
    let documents: [PEMDocument]
    do {
      documents = try PEMDocument.parseMultiple(pemString: text)
    } catch {
      throw Failure(kind: .notPEM, message: "not valid PEM: \(reason(error))")
    }
    guard !documents.isEmpty else {
      throw Failure(kind: .notPEM, message: "no PEM block found (expected -----BEGIN ...-----)")
    }
    return documents
  }

  /// The certificates of `text`, in file order; every PEM block must be a `CERTIFICATE`.
  ///
  /// `label` names the file in messages about one block (`cert-chain.pem` gives `cert-chain.pem[1]`).
  static func certificates(_ text: String, label: String) throws(Failure) -> [Certificate] {
    var certificates: [Certificate] = []
    for (index, block) in try blocks(text).enumerated() {
      guard block.discriminator == certificateDiscriminator else {
        throw Failure(
          kind: .wrongContent,
          message: "PEM block \(index + 1) is \(block.discriminator), expected CERTIFICATE")
      }
      do {
        certificates.append(try Certificate(derEncoded: block.derBytes))
      } catch {
        throw Failure(
          kind: .wrongContent,
          message: "\(label)[\(index)] is not a valid X.509 certificate: \(reason(error))")
      }
    }
    return certificates
  }

  /// The DER certificates of `chain`, decoded; `label` as in `certificates(_:label:)`.
  static func certificates(der chain: [[UInt8]], label: String) throws(Failure) -> [Certificate] {
    var certificates: [Certificate] = []
    for (index, der) in chain.enumerated() {
      do {
        certificates.append(try Certificate(derEncoded: der))
      } catch {
        throw Failure(
          kind: .wrongContent, message: "\(label)[\(index)] is not a valid X.509 certificate: \(reason(error))")
      }
    }
    return certificates
  }

  /// The single private key of `text`: PKCS#1 (`RSA PRIVATE KEY`), SEC1 (`EC PRIVATE KEY`) or PKCS#8 (`PRIVATE
  /// KEY`), RSA of at least 2048 bits or ECDSA P-256/P-384.
  static func privateKey(_ text: String) throws(Failure) -> Certificate.PrivateKey {
    // Legacy OpenSSL encryption puts headers inside the block, which the PEM decoder would call malformed.
    if text.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----") || text.contains("Proc-Type: 4,ENCRYPTED") {
      throw Failure(kind: .unsupportedKey, message: "encrypted private keys are not supported")
    }
    let all = try blocks(text)
    let keys = all.filter { keyDiscriminators.contains($0.discriminator) }
    guard let block = keys.first else {
      let found = all.map(\.discriminator).joined(separator: ", ")
      throw Failure(
        kind: .wrongContent,
        message: "no private key block (expected PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY; found \(found))")
    }
    guard keys.count == 1 else {
      throw Failure(kind: .wrongContent, message: "\(keys.count) private keys found, expected one")
    }
    let key: Certificate.PrivateKey
    do {
      key = try Certificate.PrivateKey(pemDocument: block)
    } catch {
      throw Failure(
        kind: .wrongContent, message: "the \(block.discriminator) block cannot be decoded: \(reason(error))")
    }
    if let unsupported = KeyKind.unsupportedReason(key.publicKey) {
      throw Failure(kind: .unsupportedKey, message: unsupported)
    }
    return key
  }

  /// The single CSR of `text` (`CERTIFICATE REQUEST` or `NEW CERTIFICATE REQUEST`).
  static func csr(_ text: String) throws(Failure) -> CertificateSigningRequest {
    let all = try blocks(text)
    guard all.count == 1, let block = all.first else {
      throw Failure(kind: .wrongContent, message: "\(all.count) PEM blocks found, expected one CERTIFICATE REQUEST")
    }
    guard csrDiscriminators.contains(block.discriminator) else {
      throw Failure(kind: .wrongContent, message: "PEM block is \(block.discriminator), expected CERTIFICATE REQUEST")
    }
    do {
      return try CertificateSigningRequest(derEncoded: block.derBytes)
    } catch {
      throw Failure(kind: .wrongContent, message: "not a valid PKCS#10 certificate request: \(reason(error))")
    }
  }

  /// A short reason for an error thrown by swift-asn1, swift-certificates or swift-crypto.
  static func reason(_ error: any Error) -> String {
    String(describing: error)
  }
}

/// The key kinds Sextant signs with and accepts in CSRs: RSA (2048 bits or more; at most 4096 in CSRs) and ECDSA
/// P-256/P-384.
enum KeyKind {
  /// The fewest bits an RSA key may have (CA material and CSRs).
  static let minimumRSABits = 2048
  /// The most bits an RSA key in a CSR may have: what istio-agent makes (`WORKLOAD_RSA_KEY_SIZE`, 2048 by default)
  /// with room to spare; larger keys only make the CSR's signature check slower. CA material is not bounded.
  static let maximumCSRRSABits = 4096

  /// Why `key` is not acceptable as CA material, or nil when it is.
  static func unsupportedReason(_ key: Certificate.PublicKey) -> String? {
    if P256.Signing.PublicKey(key) != nil || P384.Signing.PublicKey(key) != nil { return nil }
    if let rsa = _RSA.Signing.PublicKey(key) {
      return rsa.keySizeInBits >= minimumRSABits
        ? nil : "RSA keys must have at least \(minimumRSABits) bits (this one has \(rsa.keySizeInBits))"
    }
    if P521.Signing.PublicKey(key) != nil { return "ECDSA P-521 keys are not supported (use P-256 or P-384)" }
    return "unsupported key type \(key) (use RSA or ECDSA P-256/P-384)"
  }

  /// Why `key` is not acceptable in a CSR, or nil when it is: as `unsupportedReason`, and RSA keys of at most
  /// `maximumCSRRSABits` bits. Reads the key's type and size only, never a signature.
  static func csrProblem(_ key: Certificate.PublicKey) -> String? {
    if let problem = unsupportedReason(key) { return problem }
    if let rsa = _RSA.Signing.PublicKey(key), rsa.keySizeInBits > maximumCSRRSABits {
      return "RSA keys may have at most \(maximumCSRRSABits) bits (this one has \(rsa.keySizeInBits))"
    }
    return nil
  }
}

extension Certificate {
  /// The certificate as one PEM block, ending in a newline.
  func pemString() throws -> String {
    try serializeAsPEM().pemString + "\n"
  }

  /// True when the subject equals the issuer and the certificate's own key verifies its signature.
  var isSelfSigned: Bool {
    subject == issuer && publicKey.isValidSignature(signature, for: self)
  }

  /// True when `issuerCandidate`'s subject is this certificate's issuer and its key verifies this signature.
  func isIssued(by issuerCandidate: Certificate) -> Bool {
    issuer == issuerCandidate.subject && issuerCandidate.publicKey.isValidSignature(signature, for: self)
  }

  /// The subject for messages (`CN=...,O=...`), or `(empty subject)`.
  package var subjectDescription: String {
    let text = subject.description
    return text.isEmpty ? "(empty subject)" : text
  }

  /// The issuer for messages.
  var issuerDescription: String {
    let text = issuer.description
    return text.isEmpty ? "(empty issuer)" : text
  }
}
