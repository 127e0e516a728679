// PLACEHOLDER, replaced by the AdmissionReview/validation work (owned by the review helper).
import Logging

/// Answers the webhook's paths: `/inject...`, `/validate`, `/ready`.
package struct AdmissionController: AdmissionService {
  package init(configuration: AdmissionConfiguration, injector: SidecarInjector, logger: Logger) {}

  package func respond(to request: AdmissionHTTPRequest) async -> AdmissionHTTPResponse {
    .text(404, "not implemented")
  }
}
