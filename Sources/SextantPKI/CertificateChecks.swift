import Foundation
import X509

/// Single-certificate checks shared by CA material verification and peer verification.
package enum CertificateChecks {
  /// Where a time lies relative to a certificate's validity period.
  package enum Validity: Equatable {
    case valid
    /// notAfter is before now; the message says when.
    case expired(String)
    /// notBefore is after now; the message says when.
    case notYetValid(String)
  }

  /// Whether `certificate` is valid at `now` (both bounds inclusive, as RFC 5280 says).
  package static func validity(of certificate: Certificate, at now: Date) -> Validity {
    if now < certificate.notValidBefore {
      return .notYetValid(
        "is not valid before \(timestamp(certificate.notValidBefore)) (now is \(timestamp(now)))")
    }
    if now > certificate.notValidAfter {
      return .expired("expired at \(timestamp(certificate.notValidAfter)) (now is \(timestamp(now)))")
    }
    return .valid
  }

  /// Why `certificate` may not issue certificates, or nil when it may.
  ///
  /// basicConstraints must say CA:TRUE. keyUsage must include keyCertSign; with `requireKeyUsage` false an absent
  /// keyUsage extension is accepted (RFC 5280: no restriction), with it true (ca-cert.pem) it is required.
  package static func caProblem(_ certificate: Certificate, requireKeyUsage: Bool) -> String? {
    do {
      switch try certificate.extensions.basicConstraints {
      case .none:
        return "has no basicConstraints extension (CA:TRUE is required)"
      case .some(.notCertificateAuthority):
        return "has basicConstraints CA:FALSE"
      case .some(.isCertificateAuthority):
        break
      }
    } catch {
      return "has a basicConstraints extension that cannot be decoded: \(error)"
    }
    do {
      switch try certificate.extensions.keyUsage {
      case .none:
        if requireKeyUsage { return "has no keyUsage extension (keyCertSign is required)" }
      case .some(let usage):
        if !usage.keyCertSign { return "has a keyUsage without keyCertSign" }
      }
    } catch {
      return "has a keyUsage extension that cannot be decoded: \(error)"
    }
    return nil
  }

  /// The maximum number of intermediate CAs `certificate` allows below it, or nil for no limit.
  package static func maxPathLength(_ certificate: Certificate) -> Int? {
    if case .some(.isCertificateAuthority(let length)) = try? certificate.extensions.basicConstraints {
      return length
    }
    return nil
  }

  /// `2026-01-02T03:04:05Z`.
  package static func timestamp(_ date: Date) -> String {
    date.formatted(.iso8601)
  }
}
