// PLACEHOLDER, replaced by the injection work (owned by the injection helper).
import SextantKube

/// Decides whether a pod gets a sidecar and computes the patch that adds it.
package struct SidecarInjector: Sendable {
  package init(configuration: AdmissionConfiguration) throws {}

  package func inject(pod: ConfigValue, request: InjectionRequest) throws -> InjectionOutcome {
    .skipped(reason: "not implemented")
  }
}
