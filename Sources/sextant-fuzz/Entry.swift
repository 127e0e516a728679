import Foundation

#if FUZZING
/// The target `SEXTANT_FUZZ_TARGET` names (Scripts/fuzz.sh sets it), read once.
let selectedTarget: FuzzTarget = {
  let name = ProcessInfo.processInfo.environment["SEXTANT_FUZZ_TARGET"] ?? ""
  guard let target = FuzzTarget(rawValue: name) else {
    let names = FuzzTarget.allCases.map(\.rawValue).joined(separator: ", ")
    FileHandle.standardError.write(Data("sextant-fuzz: SEXTANT_FUZZ_TARGET=\(name) is not one of \(names)\n".utf8))
    exit(2)
  }
  return target
}()

/// libFuzzer's entry point (the build with `--sanitize=fuzzer -Xswiftc -DFUZZING` links libFuzzer's main).
@_cdecl("LLVMFuzzerTestOneInput")
func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
  let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
  selectedTarget.run(bytes)
  return 0
}
#else
/// Without libFuzzer: replays corpus files through a target, so every committed input runs in the normal build.
///
///   sextant-fuzz list
///   sextant-fuzz replay TARGET PATH...   (a PATH that is a directory is read recursively)
@main
struct Replay {
  static func main() {
    let arguments = Array(CommandLine.arguments.dropFirst())
    switch arguments.first {
    case "list":
      for target in FuzzTarget.allCases { print(target.rawValue) }
    case "replay" where arguments.count >= 3:
      guard let target = FuzzTarget(rawValue: arguments[1]) else { fail("unknown target \(arguments[1])") }
      var count = 0
      for path in arguments.dropFirst(2) {
        for file in files(under: path) {
          guard let data = FileManager.default.contents(atPath: file) else { fail("cannot read \(file)") }
          target.run(Array(data))
          count += 1
        }
      }
      print("sextant-fuzz: \(target.rawValue): \(count) inputs replayed, no crash")
    default:
      fail("usage: sextant-fuzz list | sextant-fuzz replay TARGET PATH...")
    }
  }

  static func files(under path: String) -> [String] {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { return [] }
    guard isDirectory.boolValue else { return [path] }
    let names = (try? FileManager.default.subpathsOfDirectory(atPath: path)) ?? []
    return names.sorted().map { path + "/" + $0 }.filter {
      var isDirectory: ObjCBool = false
      return FileManager.default.fileExists(atPath: $0, isDirectory: &isDirectory) && !isDirectory.boolValue
    }
  }

  static func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("sextant-fuzz: \(message)\n".utf8))
    exit(2)
  }
}
#endif
