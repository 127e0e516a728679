import Foundation
import SextantKube
import Synchronization
import Testing

@Suite("ObjectDecoder: invalid files")
struct ObjectDecodingErrorTests {
  @Test func portThatIsNotANumberNamesPathLineObjectAndField() throws {
    let error = try #require(
      decodingError(
        """
        # helloworld, hand-written
        apiVersion: v1
        kind: Service
        metadata:
          name: helloworld
          namespace: sample
        spec:
          selector:
            app: helloworld
          ports:
          - name: http
            port: http
            targetPort: 5000
        """, path: "clusters/cluster1/svc.yaml"))
    #expect(error.code == .typeMismatch)
    #expect(error.line == 12)
    #expect(error.column == 11)
    #expect(error.object == "Service sample/helloworld")
    #expect(error.field == "spec.ports[0].port")
    #expect(error.message == "expected a number, found string \"http\"")
    #expect(
      error.description
        == "clusters/cluster1/svc.yaml:12: Service sample/helloworld: spec.ports[0].port: expected a number, found string \"http\""
    )
  }

  @Test func quotedNumberIsAStringAsTheAPIServerSaysToo() throws {
    let error = try #require(
      decodingError(
        """
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "a"},
         "spec": {"ports": [{"port": 80}, {"port": "8080"}]}}
        """, path: "svc.json"))
    #expect(error.description == "svc.json:2: Service a: spec.ports[1].port: expected a number, found string \"8080\"")
  }

  @Test func missingName() throws {
    let error = try #require(
      decodingError(
        """
        apiVersion: v1
        kind: Namespace
        metadata:
          labels: {istio-injection: enabled}
        ---
        apiVersion: v1
        kind: Service
        metadata:
          namespace: sample
          labels:
            app: helloworld
        spec: {}
        """))
    #expect(error.code == .missingField)
    #expect(error.line == 4)
    #expect(
      error.description
        == "clusters/cluster1/objects.yaml:4: Namespace (unnamed): metadata.name: required field is missing")
  }

  @Test func missingMetadataAndEmptyName() throws {
    let missing = try #require(decodingError("apiVersion: v1\nkind: Pod\nspec: {}\n"))
    #expect(missing.code == .missingField)
    #expect(missing.field == "metadata")
    #expect(missing.line == 1)

    let empty = try #require(decodingError("apiVersion: v1\nkind: Pod\nmetadata:\n  name: \"\"\n"))
    #expect(empty.code == .invalidValue)
    #expect(empty.description == "clusters/cluster1/objects.yaml:4: Pod (unnamed): metadata.name: must not be empty")
  }

  @Test func missingKindOrAPIVersion() throws {
    let noKind = try #require(decodingError("\n\napiVersion: v1\nmetadata: {name: x}\n"))
    #expect(noKind.description == "clusters/cluster1/objects.yaml:3: kind: required field is missing")
    let numericVersion = try #require(decodingError("apiVersion: 1\nkind: Pod\nmetadata: {name: x}\n"))
    #expect(numericVersion.code == .typeMismatch)
    #expect(numericVersion.field == "apiVersion")
    #expect(numericVersion.message == "expected a string, found number 1")
  }

  @Test func malformedYAML() throws {
    let error = try #require(
      decodingError(
        """
        apiVersion: v1
        kind: Service
        metadata:
          name: helloworld
         namespace: sample
        """))
    #expect(error.code == .syntax)
    #expect(error.line == 5)
    #expect(error.object == nil)
    #expect(error.description.hasPrefix("clusters/cluster1/objects.yaml:5: "))
    #expect(!error.message.isEmpty)
  }

  @Test func unterminatedFlowMappingAndDuplicateKeys() throws {
    let unterminated = try #require(decodingError("apiVersion: v1\nkind: Pod\nmetadata: {name: x\n"))
    #expect(unterminated.code == .syntax)
    #expect(unterminated.line == 4)

    let duplicate = try #require(decodingError("apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\n  name: b\n"))
    #expect(duplicate.code == .syntax)
    #expect(duplicate.line == 4)
    #expect(duplicate.message == "duplicate key 'name' in a mapping")
  }

  @Test func malformedJSONNamesLineAndColumn() throws {
    let error = try #require(
      decodingError(
        """
        {
          "apiVersion": "v1",
          "kind": "Pod"
          "metadata": {"name": "x"}
        }
        """, path: "pod.json"))
    #expect(error.code == .syntax)
    #expect(error.line == 4)
    #expect(error.column == 3)
    #expect(error.description == "pod.json:4: unexpected character '\"', expected ',' or '}'")
  }

  @Test func documentThatIsNotAnObject() throws {
    let error = try #require(decodingError("apiVersion: v1\nkind: Pod\nmetadata: {name: a}\n---\n- just\n- a list\n"))
    #expect(error.code == .notAnObject)
    #expect(error.line == 5)
    #expect(
      error.message == "expected a Kubernetes object (a mapping with apiVersion, kind and metadata), found a list")
  }

  @Test func portOutOfRangeAndTargetPortOutOfRange() throws {
    let port = try #require(
      decodingError("apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec:\n  ports:\n  - port: 70000\n"))
    #expect(port.code == .invalidValue)
    #expect(
      port.description
        == "clusters/cluster1/objects.yaml:6: Service a: spec.ports[0].port: port 70000 is not between 1 and 65535")

    let missingPort = try #require(
      decodingError("apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec:\n  ports:\n  - name: http\n"))
    #expect(missingPort.code == .missingField)
    #expect(missingPort.field == "spec.ports[0].port")
    #expect(missingPort.line == 6)

    let target = try #require(
      decodingError(
        "apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec:\n  ports:\n  - port: 80\n    targetPort: 0\n"))
    #expect(target.field == "spec.ports[0].targetPort")
    #expect(target.line == 7)
  }

  @Test func nodePortOutOfRange() throws {
    for nodePort in ["70000", "-1"] {
      let error = try #require(
        decodingError(
          "apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec:\n  type: NodePort\n  ports:\n  - port: 80\n"
            + "    nodePort: \(nodePort)\n"))
      #expect(error.code == .invalidValue)
      #expect(
        error.description
          == "clusters/cluster1/objects.yaml:8: Service a: spec.ports[0].nodePort: port \(nodePort) is not between 1 "
          + "and 65535")
    }
    // 0 is the API's "none allocated" (the field is omitted then); a real one is kept.
    let file = try ObjectDecoder().decode(
      "apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec:\n  ports:\n  - {port: 80, nodePort: 0}\n"
        + "  - {port: 81, nodePort: 30081}\n",
      path: "svc.yaml")
    guard case .service(let service)? = file.objects.first else {
      Issue.record("no Service in \(file.objects)")
      return
    }
    #expect(service.spec.ports?.map(\.nodePort) == [0, 30081])
  }

  @Test func endpointSliceEndpointsNeedAddresses() throws {
    let empty = try #require(
      decodingError(
        """
        apiVersion: discovery.k8s.io/v1
        kind: EndpointSlice
        metadata: {name: s, namespace: sample}
        addressType: IPv4
        endpoints:
        - addresses: [10.0.0.1]
        - addresses: []
          conditions: {ready: true}
        """))
    #expect(empty.code == .invalidValue)
    #expect(
      empty.description
        == "clusters/cluster1/objects.yaml:7: EndpointSlice sample/s: endpoints[1].addresses: must contain at least one address"
    )

    let missing = try #require(
      decodingError(
        """
        apiVersion: discovery.k8s.io/v1
        kind: EndpointSlice
        metadata: {name: s, namespace: sample}
        endpoints:
        - conditions: {ready: true}
        """))
    #expect(missing.code == .missingField)
    #expect(missing.field == "endpoints[0].addresses")
    #expect(missing.line == 5)
  }

  @Test func endpointsPortsAreChecked() throws {
    let error = try #require(
      decodingError(
        """
        {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "e"},
         "subsets": [{"addresses": [{"ip": "10.0.0.1"}], "ports": [{"port": -1}]}]}
        """, path: "ep.json"))
    #expect(error.field == "subsets[0].ports[0].port")
    #expect(error.code == .invalidValue)
  }

  @Test func labelsMustBeStrings() throws {
    let error = try #require(
      decodingError("apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  labels:\n    version: 1.10\n"))
    #expect(error.field == "metadata.labels.version")
    #expect(error.message == "expected a string, found number 1.10")
    #expect(error.line == 6)

    let dotted = try #require(
      decodingError("apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  labels:\n    app.kubernetes.io/name: true\n"))
    #expect(dotted.field == "metadata.labels[\"app.kubernetes.io/name\"]")
  }

  @Test func hugeNumbersAreErrorsNotCrashes() throws {
    let yaml = try #require(
      decodingError(
        "apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec:\n  ports:\n  - port: 99999999999999999999999999999\n"
      ))
    #expect(yaml.code == .invalidValue)
    #expect(yaml.message == "number 99999999999999999999999999999 is out of range")

    let json = try #require(
      decodingError(
        "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"a\"},\"spec\":{\"ports\":[{\"port\":1e400}]}}",
        path: "a.json"))
    #expect(json.field == "spec.ports[0].port")

    let hex = try #require(
      decodingError(
        "apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec:\n  ports:\n  - port: 0xffffffffffffffffffffff\n"))
    #expect(hex.code == .invalidValue)

    let fraction = try #require(
      decodingError("apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec:\n  ports:\n  - port: 80.5\n"))
    #expect(fraction.message == "expected an integer, found number 80.5")

    let infinity = try #require(
      decodingError("apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec:\n  ports:\n  - port: .inf\n"))
    #expect(infinity.message == "expected an integer, found number .inf")
  }

  @Test func binaryJunkIsAnEncodingError() throws {
    var bytes = Array("apiVersion: v1\nkind: Pod\n".utf8)
    bytes += [0xFF, 0xFE, 0x00, 0x9C, 0x80, 0x01]
    do {
      _ = try ObjectDecoder().decode(bytes, path: "junk.yaml")
      Issue.record("binary junk decoded")
    } catch {
      #expect(error.code == .invalidEncoding)
      #expect(error.line == 3)
    }

    // Valid UTF-8 with control characters: libyaml refuses them.
    let control = try #require(decodingError("apiVersion: v1\nkind: Pod\u{0}\u{1}\u{2}\n"))
    #expect(control.code == .syntax)
    #expect(control.line == 2)

    // Random bytes, deterministic: must never crash, only fail or (by luck) decode nothing.
    var generator = SplitMix64(seed: 42)
    for _ in 0..<50 {
      let junk = (0..<256).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
      for path in ["junk.yaml", "junk.json"] {
        if let file = try? ObjectDecoder().decode(junk, path: path) {
          #expect(file.objects.isEmpty)
        }
      }
    }
  }

  @Test func deepNestingIsAnErrorNotAStackOverflow() throws {
    let depth = 5_000
    let json = String(repeating: "[", count: depth) + String(repeating: "]", count: depth)
    let jsonError = try #require(decodingError(json, path: "deep.json"))
    #expect(jsonError.code == .syntax)
    #expect(jsonError.message == "nesting deeper than 128 levels")

    let yaml = String(repeating: "[", count: 990) + String(repeating: "]", count: 990)
    let yamlError = try #require(decodingError(yaml, path: "deep.yaml"))
    #expect(yamlError.code == .syntax)

    let tooDeepForLibYAML = String(repeating: "[", count: depth) + String(repeating: "]", count: depth)
    #expect(decodingError(tooDeepForLibYAML, path: "deeper.yaml")?.message == "nesting deeper than 128 levels")
  }

  @Test func deepInputIsSafeOnASmallStack() throws {
    // Swift's cooperative threads have 512 KiB stacks on macOS: decoding must not need more, whatever the input.
    let inputs: [(text: String, path: String)] = [
      (String(repeating: "[", count: 999) + String(repeating: "]", count: 999), "flow.yaml"),
      ((0..<999).map { String(repeating: " ", count: $0) + "a:" }.joined(separator: "\n") + " 1\n", "block.yaml"),
      (String(repeating: "- ", count: 999) + "x\n", "dashes.yaml"),
      (String(repeating: "{\"a\":", count: 5000) + "1" + String(repeating: "}", count: 5000), "deep.json"),
      (String(repeating: "[", count: 127) + String(repeating: "]", count: 127), "under-the-limit.yaml"),
    ]
    let codes = Mutex<[ObjectDecodingError.Code?]>([])
    let done = DispatchSemaphore(value: 0)
    let thread = Thread {
      for input in inputs {
        let code: ObjectDecodingError.Code?
        do throws(ObjectDecodingError) {
          _ = try ObjectDecoder().decode(input.text, path: input.path)
          code = nil
        } catch {
          code = error.code
        }
        codes.withLock { $0.append(code) }
      }
      done.signal()
    }
    thread.stackSize = 256 << 10
    thread.start()
    done.wait()
    #expect(codes.withLock { $0 } == [.syntax, .syntax, .syntax, .syntax, .notAnObject])
  }

  @Test func aliasBombIsStopped() throws {
    var yaml = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
    for level in 1..<12 {
      let previous = "*a\(level - 1)"
      yaml += "a\(level): &a\(level) [\(Array(repeating: previous, count: 10).joined(separator: ", "))]\n"
    }
    yaml += "apiVersion: v1\nkind: Namespace\nmetadata: {name: bomb}\n"
    let error = try #require(decodingError(yaml))
    #expect(error.code == .syntax)
    #expect(error.message.contains("too many values"))
  }

  /// Twelve levels of ten: as a value the budget stops it, but Yams hashes a mapping key in full.
  static func aliasBombKey(_ key: String) -> String {
    var yaml = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
    for level in 1..<12 {
      yaml += "a\(level): &a\(level) [\(Array(repeating: "*a\(level - 1)", count: 10).joined(separator: ", "))]\n"
    }
    return yaml + key
  }

  @Test func aliasBombAsKeyIsRefusedBeforeHashing() throws {
    let error = try #require(decodingError(Self.aliasBombKey("*a11 : boom\napiVersion: v1\n")))
    #expect(error.code == .syntax)
    #expect(error.message == "a mapping key may not be an alias (*a11)")
    #expect(error.line == 13)
    #expect(error.column == 1)
  }

  @Test func collectionKeysAreRefused() throws {
    let flow = try #require(decodingError("apiVersion: v1\n[a, b]: c\n"))
    #expect(flow.message == "a mapping key may not be a list or mapping")
    #expect(flow.line == 2)
    let explicit = try #require(decodingError("apiVersion: v1\n? {a: b}\n: c\n"))
    #expect(explicit.message == "a mapping key may not be a list or mapping")
    #expect(explicit.line == 2)
    #expect(explicit.column == 3)
    let nested = try #require(decodingError("apiVersion: v1\nmetadata: {labels: {*x : y}}\n"))
    #expect(nested.message == "a mapping key may not be an alias (*x)")
  }

  @Test func aliasesAsValuesStillDecode() throws {
    let yaml = """
      apiVersion: v1
      kind: Namespace
      metadata:
        name: aliased
        labels: &labels {a: b, "[k]": v}
        annotations: *labels
      """
    let file = try ObjectDecoder().decode(yaml, path: "ns.yaml")
    #expect(file.objects.count == 1)
  }
}

/// A small deterministic generator for junk input.
struct SplitMix64: RandomNumberGenerator {
  var state: UInt64

  init(seed: UInt64) { state = seed }

  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
}
