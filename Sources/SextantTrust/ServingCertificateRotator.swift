import Foundation
import Logging
import ServiceLifecycle
import SextantPKI

/// Renews the serving certificate two thirds into its validity period, and at once when the mesh CA is replaced.
///
/// `run` listens on `MeshCA.changes()` and sleeps on the injected clock until the current certificate's `renewAt`
/// (waking at least every `maximumSleep`, so a wall-clock jump is noticed). Both paths call `renewIfDue(now:)`,
/// which tests may call directly. A failed renewal is logged at error level and retried every `retryInterval`; the
/// previous certificate stays in use meanwhile.
package final class ServingCertificateRotator: Service, Sendable {
  /// What one `renewIfDue(now:)` did.
  package enum Outcome: Sendable, Hashable {
    /// The certificate is neither two thirds through its lifetime nor from an older CA.
    case notDue
    /// A new certificate is current; `reason` says why.
    case renewed(reason: String)
    /// Renewal was due but failed; the previous certificate stays.
    case failed(ServingCertificateError)
  }

  /// The longest single sleep of `run` between checks.
  package static let maximumSleep: Duration = .seconds(60)
  /// The shortest sleep of `run` between checks.
  package static let minimumSleep: Duration = .seconds(1)

  private let certificate: ServingCertificate
  private let meshCA: MeshCA
  private let clock: any Clock<Duration>
  private let now: @Sendable () -> Date
  private let retryInterval: Duration
  private let logger: Logger

  /// A rotator for `certificate`, whose CA is `meshCA`.
  ///
  /// - Parameters:
  ///   - clock: What `run` sleeps on.
  ///   - now: Wall-clock time compared with the certificate's `renewAt`.
  ///   - retryInterval: Time between attempts after a failed renewal.
  package init(
    certificate: ServingCertificate, meshCA: MeshCA, clock: any Clock<Duration> = ContinuousClock(),
    now: @escaping @Sendable () -> Date = { Date() }, retryInterval: Duration = .seconds(30), logger: Logger
  ) {
    self.certificate = certificate
    self.meshCA = meshCA
    self.clock = clock
    self.now = now
    self.retryInterval = retryInterval
    self.logger = logger
  }

  /// Why the current certificate should be renewed at `now`, or nil when it should not.
  package func renewalReason(now: Date) -> String? {
    let current = certificate.current
    let generation = meshCA.generation
    if current.caGeneration != generation {
      return "the mesh CA was replaced (generation \(current.caGeneration) → \(generation))"
    }
    if now >= current.renewAt {
      return "two thirds of its lifetime have passed (due at \(CertificateChecks.timestamp(current.renewAt)))"
    }
    return nil
  }

  /// Renews the certificate when `renewalReason(now:)` gives a reason.
  @discardableResult
  package func renewIfDue(now: Date) -> Outcome {
    guard let reason = renewalReason(now: now) else { return .notDue }
    do {
      try certificate.renew(reason: reason)
      return .renewed(reason: reason)
    } catch {
      logger.error(
        "cannot renew the serving certificate; the current one stays in use",
        metadata: [
          "error": "\(error.description)",
          "notAfter": "\(CertificateChecks.timestamp(certificate.current.notAfter))",
        ])
      return .failed(error)
    }
  }

  /// Renews on CA changes and when due, until the task is cancelled or graceful shutdown begins.
  package func run() async throws {
    let changes = meshCA.changes()
    await cancelWhenGracefulShutdown {
      await withDiscardingTaskGroup { group in
        group.addTask {
          for await _ in changes {
            _ = self.renewIfDue(now: self.now())
          }
        }
        group.addTask {
          while !Task.isCancelled {
            let pause: Duration
            let now = self.now()
            if case .failed = self.renewIfDue(now: now) {
              pause = self.retryInterval
            } else {
              let untilDue = Duration.seconds(max(0, self.certificate.current.renewAt.timeIntervalSince(now)))
              // At least a second: a certificate cut short by an expiring CA chain must not renew in a busy loop.
              pause = max(min(untilDue, Self.maximumSleep), Self.minimumSleep)
            }
            do {
              try await self.clock.sleep(for: pause)
            } catch {
              return
            }
          }
        }
      }
    }
  }
}
