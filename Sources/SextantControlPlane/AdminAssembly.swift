import Logging
import SextantAdmin

/// The HTTP side of a control plane: readiness and debug on the HTTP port, metrics and debug on the monitoring port.
enum AdminAssembly {
  static func add(
    to assembly: inout ControlPlaneAssembly, configuration settings: ControlPlane.Configuration, logger: Logger
  ) {
    if settings.httpPort != 0 {
      assembly.add(
        .admin, "http",
        AdminServer.http(
          host: settings.listenAddress, port: settings.httpPort, state: assembly.admin,
          logger: logger.labelled("sextant.http")))
    }
    if settings.monitoringPort != 0 {
      assembly.add(
        .admin, "monitoring",
        AdminServer.monitoring(
          host: settings.listenAddress, port: settings.monitoringPort, state: assembly.admin,
          logger: logger.labelled("sextant.monitoring")))
    }
  }
}
