import Logging
import SextantAdmin

/// The HTTP side of a control plane: readiness and debug on the HTTP port, metrics and debug on the monitoring port.
///
/// Each binds its own listen address when one is configured (`httpListenAddress`, `monitoringListenAddress`), else
/// `listenAddress` as xDS does, and closes connections idle for `adminIdleTimeout`.
enum AdminAssembly {
  static func add(
    to assembly: inout ControlPlaneAssembly, configuration settings: ControlPlane.Configuration, logger: Logger
  ) {
    if settings.httpPort != 0 {
      assembly.add(
        .admin, "http",
        AdminServer.http(
          host: settings.httpListenAddress ?? settings.listenAddress, port: settings.httpPort,
          idleTimeout: settings.adminIdleTimeout, state: assembly.admin,
          logger: logger.labelled("sextant.http")))
    }
    if settings.monitoringPort != 0 {
      assembly.add(
        .admin, "monitoring",
        AdminServer.monitoring(
          host: settings.monitoringListenAddress ?? settings.listenAddress, port: settings.monitoringPort,
          idleTimeout: settings.adminIdleTimeout, state: assembly.admin,
          logger: logger.labelled("sextant.monitoring")))
    }
  }
}
