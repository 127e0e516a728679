import ArgumentParser
import SextantControlPlane

/// The `sextant` command: a multi-cluster service-mesh control plane.
@main
struct Sextant: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "sextant",
    abstract: "A multi-cluster service-mesh control plane compatible with Istio's istiod discovery.",
    version: SextantVersion.current,
    subcommands: [ServeCommand.self, VersionCommand.self]
  )
}

/// `sextant version`: prints the version of this build.
struct VersionCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "version",
    abstract: "Print the Sextant version."
  )

  func run() {
    print("sextant \(SextantVersion.current)")
  }
}
