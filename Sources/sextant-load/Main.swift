// sextant-load: a load run against a real `sextant serve` process. Many simulated sidecars (each its own HTTP/2
// connection and ADS stream, state of the world or delta, ACKing everything) fetch the config of a synthetic
// file-backed mesh; then endpoint changes are written and the time until every proxy has the new assignment is
// measured. Figures, one per line: initial sync, push latency and fan-out, bytes, Sextant's resident memory and CPU.
//
//   swift build -c release --product sextant
//   swift build -c release --product sextant-load
//   .build/release/sextant-load --sextant .build/release/sextant --services 1000 --proxies 500 [--protocol delta]
import ArgumentParser
import Foundation

extension XDSProtocol: ExpressibleByArgument {}

@main
struct SextantLoad: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "sextant-load",
    abstract: "Measures a running Sextant under many ADS streams: initial sync, push latency, memory and CPU.")

  @Option(help: "The sextant executable to start.")
  var sextant: String

  @Option(help: "Services in the synthetic mesh (each with ports 8080 and 9090).")
  var services = 200

  @Option(help: "mTLS-capable pods per service (at most 200).")
  var endpointsPerService = 5

  @Option(help: "Simulated sidecars, each with its own connection and ADS stream.")
  var proxies = 100

  @Option(name: .customLong("protocol"), help: "The ADS protocol of the simulated proxies: sotw or delta.")
  var xdsProtocol = XDSProtocol.sotw

  @Option(help: "Endpoint changes to measure, one after the other.")
  var changes = 10

  @Option(help: "PILOT_DEBOUNCE_AFTER given to sextant.")
  var debounceAfter = "100ms"

  @Option(help: "PILOT_DEBOUNCE_MAX given to sextant.")
  var debounceMax = "10s"

  @Option(help: "Log level of sextant (its log is sextant.log in the working directory; see --keep).")
  var sextantLogLevel = "warning"

  @Option(help: "Seconds any one phase (start, initial sync, one change) may take before the run fails.")
  var timeout = 180

  @Flag(help: "Keep the working directory (mesh files, sextant.log) instead of deleting it.")
  var keep = false

  func validate() throws {
    guard services > 0, proxies > 0, changes >= 0, timeout > 0 else {
      throw ValidationError("--services, --proxies and --timeout must be positive, --changes not negative")
    }
    // A service's pod addresses and a proxy's address take its index in two octets (see MeshFiles and LoadProxy).
    guard services <= 65536, proxies <= 65536 else {
      throw ValidationError("--services and --proxies must be at most 65536")
    }
    guard (1...200).contains(endpointsPerService) else {
      throw ValidationError("--endpoints-per-service must be 1...200")
    }
    guard FileManager.default.isExecutableFile(atPath: sextant) else {
      throw ValidationError("--sextant \(sextant): not an executable file")
    }
  }

  func run() async throws {
    let work = FileManager.default.temporaryDirectory.appendingPathComponent("sextant-load-\(getpid())")
    try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
    defer {
      if keep { print("working directory: \(work.path)") } else { try? FileManager.default.removeItem(at: work) }
    }
    let run = LoadRun(
      options: self,
      files: MeshFiles(
        directory: work.appendingPathComponent("clusters"), services: services, endpointsPerService: endpointsPerService
      ),
      work: work)
    try await run.execute()
  }
}
