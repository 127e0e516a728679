import Foundation
import SextantKube
import SextantTestSupport
import Testing

@testable import SextantKubeClient

@Suite("Secrets")
struct SecretTests {
  private func secret(_ name: String, _ data: [String: String], rv: String = "1") -> Secret {
    Secret(
      metadata: ObjectMeta(
        name: name, namespace: "istio-system", labels: ["istio/multiCluster": "true"], resourceVersion: rv),
      data: data, type: "Opaque")
  }

  @Test("decodes from the API's JSON, data absent or present, and decodes its values")
  func decoding() throws {
    let json = """
      {"metadata":{"name":"istio-remote-secret-cluster2","namespace":"istio-system",
        "annotations":{"networking.istio.io/cluster":"cluster2"},"labels":{"istio/multiCluster":"true"}},
       "type":"Opaque","data":{"cluster2":"YXBpVmVyc2lvbjogdjEK"}}
      """
    let secret = try JSONDecoder().decode(Secret.self, from: Data(json.utf8))
    #expect(secret.name == NamespacedName(namespace: "istio-system", name: "istio-remote-secret-cluster2"))
    #expect(try secret.decodedData() == ["cluster2": Array("apiVersion: v1\n".utf8)])
    #expect("\(secret)" == "Secret istio-system/istio-remote-secret-cluster2 (keys: cluster2)")
    let empty = try JSONDecoder().decode(Secret.self, from: Data(#"{"metadata":{"name":"x"}}"#.utf8))
    #expect(empty.data.isEmpty)
  }

  @Test("a value that is not base64 is an error naming the secret and the key")
  func badBase64() {
    let bad = secret("istio-remote-secret-cluster2", ["a": "YQ==", "cluster2": "%%%"])
    let error = #expect(throws: SecretDataError.self) { try bad.decodedData() }
    #expect(error?.key == "cluster2")
    #expect(error?.code == .invalidBase64)
    #expect(
      error?.description
        == "secret istio-system/istio-remote-secret-cluster2, key cluster2: not valid base64: invalid character \"%\" at offset 0"
    )
  }

  @Test("the watcher reports the whole matching set after the first list and after every change")
  func watcher() async {
    let one = secret("one", ["c1": "YQ=="], rv: "5")
    let two = secret("two", ["c2": "Yg=="], rv: "11")
    let oneChanged = secret("one", ["c1": "Yw=="], rv: "12")
    let source = ScriptedSource<Secret>([
      .list(.success(ObjectList(items: [one], resourceVersion: "10"))),
      .watch([[.added(two)], [.modified(oneChanged), .deleted(secret("two", [:], rv: "13"))]]),
    ])
    var options = KubeSourceOptions()
    options.sleep = SleepRecorder().sleep
    let watcher = SecretWatcher(
      clusterID: "primary", source: source, namespace: "istio-system", options: options, logger: LogRecorder().logger)
    let sets = Collector<[NamespacedName: Secret]>()
    let states = Collector<KubeConnectionState>()
    let task = Task { await watcher.run(onChange: { sets.append($0) }, onState: { states.append($0) }) }
    await source.finished.wait()
    task.cancel()
    await task.value
    func key(_ name: String) -> NamespacedName { NamespacedName(namespace: "istio-system", name: name) }
    func stored(_ secret: Secret) -> Secret {
      var secret = secret
      secret.metadata.resourceVersion = nil
      return secret
    }
    #expect(
      sets.values == [
        [key("one"): stored(one)],
        [key("one"): stored(one), key("two"): stored(two)],
        [key("one"): stored(oneChanged)],
      ])
    #expect(states.values == [.syncing, .synced])
  }
}
