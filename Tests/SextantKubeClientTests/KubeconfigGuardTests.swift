import Testing

@testable import SextantKubeClient

/// A kubeconfig from a remote secret is untrusted: it is parsed by the guarded YAML reader, like object files.
@Suite("Kubeconfig YAML guards")
struct KubeconfigGuardTests {
  private func syntaxError(_ yaml: String) -> KubeconfigError? {
    let error = #expect(throws: KubeconfigError.self) {
      try Kubeconfig.parse(yaml: yaml, source: "test", policy: .untrusted(allowing: []))
    }
    #expect(error?.code == .syntax)
    return error
  }

  @Test("an alias bomb is a syntax error, not an exponential walk")
  func aliasBomb() {
    var yaml = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
    for level in 1..<12 {
      yaml += "a\(level): &a\(level) [\(Array(repeating: "*a\(level - 1)", count: 10).joined(separator: ", "))]\n"
    }
    yaml += "clusters: *a11\n"
    #expect(syntaxError(yaml)?.message.contains("too many values") == true)
  }

  @Test("an alias bomb as a mapping key is refused before Yams hashes it")
  func aliasBombKey() {
    var yaml = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
    for level in 1..<12 {
      yaml += "a\(level): &a\(level) [\(Array(repeating: "*a\(level - 1)", count: 10).joined(separator: ", "))]\n"
    }
    yaml += "clusters: []\n*a11 : boom\n"
    let error = syntaxError(yaml)
    #expect(error?.message == "a mapping key may not be an alias (*a11)")
    #expect(error?.line == 14)
    #expect(error?.column == 1)
  }

  @Test("deep nesting is a syntax error, not a stack overflow")
  func deepNesting() {
    let yaml = "clusters: " + String(repeating: "[", count: 5_000) + String(repeating: "]", count: 5_000) + "\n"
    #expect(syntaxError(yaml)?.message == "nesting deeper than 128 levels")
  }

  @Test("more than one document is a syntax error with its line")
  func twoDocuments() {
    #expect(syntaxError("clusters: []\n---\nclusters: []\n")?.line == 2)
  }
}
