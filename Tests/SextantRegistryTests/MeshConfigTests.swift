import Testing

@testable import SextantBase
@testable import SextantRegistry

@Suite struct GoDurationTests {
  @Test(arguments: [
    ("100ms", Duration.milliseconds(100)), ("10s", .seconds(10)), ("1m30s", .seconds(90)), ("1.5h", .seconds(5400)),
    ("0", .zero), ("250us", .microseconds(250)),
  ])
  func parses(text: String, expected: Duration) {
    #expect(GoDuration.parse(text) == expected)
  }

  @Test(arguments: ["", "10", "ms", "1x", "1s2", "--1s"])
  func rejects(text: String) {
    #expect(GoDuration.parse(text) == nil)
  }
}

@Suite struct MeshConfigTests {
  @Test func readsKnownKeys() throws {
    let mesh = try MeshConfig(
      yaml: """
        connectTimeout: 3s
        trustDomain: example.org
        outboundTrafficPolicy:
          mode: REGISTRY_ONLY
        """,
      source: "mesh.yaml"
    )
    #expect(mesh.connectTimeout == .seconds(3))
    #expect(mesh.trustDomain == "example.org")
    #expect(mesh.outboundTrafficPolicy == .registryOnly)
  }

  @Test func emptyFileMeansDefaults() throws {
    #expect(try MeshConfig(yaml: "", source: "mesh.yaml") == .defaults)
  }

  @Test(arguments: [
    ("connectTimout: 3s\n", "mesh.yaml:1: connectTimout: unknown key"),
    (
      "outboundTrafficPolicy:\n  mode: DENY\n",
      "mesh.yaml:2: outboundTrafficPolicy.mode: expected ALLOW_ANY or REGISTRY_ONLY"
    ),
    ("outboundTrafficPolicy:\n  mood: ALLOW_ANY\n", "mesh.yaml:2: outboundTrafficPolicy.mood: unknown key"),
    ("connectTimeout: soon\n", "mesh.yaml:1: connectTimeout: expected a positive duration"),
    ("- a\n- b\n", "mesh.yaml: expected a mapping"),
  ])
  func rejectsWithKeyAndLine(yaml: String, expected: String) {
    #expect {
      _ = try MeshConfig(yaml: yaml, source: "mesh.yaml")
    } throws: { error in
      "\(error)".hasPrefix(expected)
    }
  }
}

@Suite struct MeshConfigYAMLGuardTests {
  @Test func aliasBombAsKeyIsInvalidYAML() {
    var yaml = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
    for level in 1..<12 {
      yaml += "a\(level): &a\(level) [\(Array(repeating: "*a\(level - 1)", count: 10).joined(separator: ", "))]\n"
    }
    yaml += "? *a11\n: boom\n"
    #expect {
      _ = try MeshConfig(yaml: yaml, source: "mesh.yaml")
    } throws: { error in
      let text = "\(error)"
      return text.hasPrefix("mesh.yaml:13:")
        && text.contains("not valid YAML: a mapping key may not be an alias (*a11)")
    }
  }

  @Test func aliasesAsValuesStillParse() throws {
    let config = try MeshConfig(
      yaml: "connectTimeout: &t 5s\ntrustDomain: &d example.org\n", source: "mesh.yaml")
    #expect(config.trustDomain == "example.org")
  }

  @Test func aliasBombIsInvalidYAML() {
    var yaml = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
    for level in 1..<12 {
      yaml += "a\(level): &a\(level) [\(Array(repeating: "*a\(level - 1)", count: 10).joined(separator: ", "))]\n"
    }
    #expect {
      _ = try MeshConfig(yaml: yaml, source: "mesh.yaml")
    } throws: { error in
      let text = "\(error)"
      return text.hasPrefix("mesh.yaml:") && text.contains("not valid YAML: the document expands to too many values")
    }
  }
}
