import Foundation
import Logging
import SextantKube
import SextantTestSupport
import Testing

@testable import SextantSources

@Suite("FileClusterSource")
struct FileClusterSourceTests {
  static func namespace(_ name: String, label: String = "a") -> String {
    "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: \(name)\n  labels: {tag: \(label)}\n"
  }

  static func service(_ name: String, port: Int = 80) -> String {
    "apiVersion: v1\nkind: Service\nmetadata:\n  name: \(name)\n  namespace: sample\nspec:\n  ports:\n  - port: \(port)\n"
  }

  /// The `.state` objects reported for `cluster`, if any.
  static func state(of cluster: String, in updates: [ClusterSourceUpdate]) -> ClusterObjects? {
    for update in updates where update.clusterID == cluster {
      if case .state(let objects) = update.event { return objects }
    }
    return nil
  }

  @Test func firstScanReportsStateThenSyncedForEveryCluster() throws {
    let root = try TemporaryDirectory()
    try root.write("cluster1/namespaces.yaml", Self.namespace("sample"))
    try root.write("cluster1/services/helloworld.yml", Self.service("helloworld"))
    try root.write(
      "cluster1/deep/er/slice.json", String(decoding: try Fixture.bytes("endpointslice-v1.json"), as: UTF8.self))
    try root.write("cluster1/README.md", "not objects")
    try root.write("cluster1/.hidden.yaml", Self.namespace("hidden"))
    try root.write("cluster1/.git/config.yaml", Self.namespace("in-dot-directory"))
    try root.write("loose.yaml", Self.namespace("not-in-a-cluster"))
    try root.makeDirectory("cluster2")
    let logs = LogRecorder()
    let source = FileClusterSource(directory: root.path, logger: logs.logger)

    let updates = try source.scan()

    let cluster1 = try #require(Self.state(of: "cluster1", in: updates))
    #expect(
      updates.map(\.description) == [
        "cluster1: state (3 objects)", "cluster1: synced", "cluster2: state (0 objects)", "cluster2: synced",
      ])
    #expect(Set(cluster1.namespaces.keys) == ["sample"])
    #expect(cluster1.services[NamespacedName(namespace: "sample", name: "helloworld")]?.spec.ports?.first?.port == 80)
    #expect(cluster1.endpointSlices[NamespacedName(namespace: "sample", name: "helloworld-7xk2p")] != nil)
    #expect(source.clusters == ["cluster1": cluster1, "cluster2": ClusterObjects()])
    #expect(source.errors.isEmpty)
    #expect(logs.entries(at: .error).isEmpty)

    #expect(try source.scan().isEmpty)
  }

  @Test func picksUpAddedEditedTouchedAndDeletedFiles() throws {
    let root = try TemporaryDirectory()
    try root.write("cluster1/a.yaml", Self.namespace("alpha", label: "a"))
    let source = FileClusterSource(directory: root.path, logger: LogRecorder().logger)
    _ = try source.scan()

    // Added.
    try root.write("cluster1/nested/b.yaml", Self.namespace("beta"))
    var updates = try source.scan()
    #expect(updates.count == 1)
    #expect(Self.state(of: "cluster1", in: updates).map { Set($0.namespaces.keys) } == ["alpha", "beta"])

    // Edited to content of the same size: the hash catches it.
    try root.write("cluster1/a.yaml", Self.namespace("alpha", label: "b"))
    updates = try source.scan()
    #expect(Self.state(of: "cluster1", in: updates)?.namespaces["alpha"]?.metadata.labels == ["tag": "b"])

    // Rewritten with the same content: nothing to report.
    try root.write("cluster1/a.yaml", Self.namespace("alpha", label: "b"))
    #expect(try source.scan().isEmpty)

    // Edited without changing the objects (a comment): nothing to report either.
    try root.write("cluster1/a.yaml", "# a comment\n" + Self.namespace("alpha", label: "b"))
    #expect(try source.scan().isEmpty)

    // Deleted.
    try root.remove("cluster1/nested/b.yaml")
    updates = try source.scan()
    #expect(Self.state(of: "cluster1", in: updates).map { Set($0.namespaces.keys) } == ["alpha"])
    #expect(try source.scan().isEmpty)
  }

  @Test func filesWithOldTimestampsAreComparedByStatus() throws {
    let root = try TemporaryDirectory()
    let path = try root.write("cluster1/a.yaml", Self.namespace("alpha", label: "a"))
    let hourAgo = Date(timeIntervalSinceNow: -3600)
    try FileManager.default.setAttributes([.modificationDate: hourAgo], ofItemAtPath: path)
    let source = FileClusterSource(directory: root.path, logger: LogRecorder().logger)
    _ = try source.scan()
    #expect(try source.scan().isEmpty)

    // Same size, older-than-the-racy-window but different time: re-read, and the edit is found.
    try root.write("cluster1/a.yaml", Self.namespace("alpha", label: "b"))
    try FileManager.default.setAttributes([.modificationDate: hourAgo.addingTimeInterval(60)], ofItemAtPath: path)
    let updates = try source.scan()
    #expect(Self.state(of: "cluster1", in: updates)?.namespaces["alpha"]?.metadata.labels == ["tag": "b"])

    // Only the time changed: re-read, same hash, nothing to report.
    try FileManager.default.setAttributes([.modificationDate: hourAgo.addingTimeInterval(120)], ofItemAtPath: path)
    #expect(try source.scan().isEmpty)
  }

  @Test func clusterDirectoriesAppearAndDisappear() throws {
    let root = try TemporaryDirectory()
    try root.write("cluster1/a.yaml", Self.namespace("one"))
    let logs = LogRecorder()
    let source = FileClusterSource(directory: root.path + "/", logger: logs.logger)
    _ = try source.scan()

    try root.write("cluster2/a.yaml", Self.namespace("two"))
    var updates = try source.scan()
    #expect(updates.map(\.description) == ["cluster2: state (1 objects)", "cluster2: synced"])

    try root.remove("cluster1")
    updates = try source.scan()
    #expect(updates == [ClusterSourceUpdate(clusterID: "cluster1", event: .removed)])
    #expect(Set(source.clusters.keys) == ["cluster2"])

    try root.write("cluster1/b.yaml", Self.service("back"))
    updates = try source.scan()
    #expect(updates.map(\.description) == ["cluster1: state (1 objects)", "cluster1: synced"])

    let infos = logs.entries(at: .info).map(\.message)
    #expect(infos.filter { $0 == "Cluster directory added" }.count == 3)
    #expect(infos.filter { $0 == "Cluster directory removed" }.count == 1)
  }

  @Test func invalidFileKeepsItsObjectsIsReportedOnceAndRecovers() throws {
    let root = try TemporaryDirectory()
    let path = try root.write("cluster1/svc.yaml", Self.service("helloworld", port: 5000))
    try root.write("cluster1/other.yaml", Self.namespace("sample"))
    let logs = LogRecorder()
    let source = FileClusterSource(directory: root.path, logger: logs.logger)
    let initial = try #require(Self.state(of: "cluster1", in: try source.scan()))

    // Broken: the port is not a number. The previous Service stays, the error is logged once.
    try root.write(
      "cluster1/svc.yaml", Self.service("helloworld", port: 5000).replacingOccurrences(of: "5000", with: "http"))
    #expect(try source.scan().isEmpty)
    #expect(source.clusters["cluster1"] == initial)
    let errors = logs.errors(for: path)
    #expect(errors.count == 1)
    #expect(errors.first?.metadata["line"] == "8")
    #expect(
      errors.first?.message.hasPrefix("\(path):8: Service sample/helloworld: spec.ports[0].port: expected a number")
        == true)
    #expect(source.fileErrors[path]?.code == .typeMismatch)
    #expect(source.errors.keys.sorted() == [path])

    // Scanning again, even after a touch with the same content, does not report it again.
    #expect(try source.scan().isEmpty)
    try root.write(
      "cluster1/svc.yaml", Self.service("helloworld", port: 5000).replacingOccurrences(of: "5000", with: "http"))
    #expect(try source.scan().isEmpty)
    #expect(logs.errors(for: path).count == 1)

    // Other files are still watched meanwhile.
    try root.write("cluster1/other.yaml", Self.namespace("sample2"))
    #expect(Self.state(of: "cluster1", in: try source.scan())?.namespaces["sample2"] != nil)

    // Different broken content is a new report.
    try root.write("cluster1/svc.yaml", "apiVersion: v1\nkind: Service\nmetadata: {name: [\n")
    #expect(try source.scan().isEmpty)
    #expect(logs.errors(for: path).count == 2)
    #expect(source.fileErrors[path]?.code == .syntax)

    // Fixed: the new objects replace the old ones and the error is gone.
    try root.write("cluster1/svc.yaml", Self.service("helloworld", port: 9080))
    let fixed = try #require(Self.state(of: "cluster1", in: try source.scan()))
    #expect(fixed.services[NamespacedName(namespace: "sample", name: "helloworld")]?.spec.ports?.first?.port == 9080)
    #expect(source.fileErrors.isEmpty)
    #expect(logs.entries(at: .info).contains { $0.message == "File decodes again" && $0.metadata["path"] == path })
  }

  @Test func fileThatWasNeverValidContributesNothing() throws {
    let root = try TemporaryDirectory()
    try root.write("cluster1/good.yaml", Self.namespace("good"))
    let bad = try root.write("cluster1/bad.yaml", "apiVersion: v1\nkind: Namespace\nmetadata: {}\n")
    let logs = LogRecorder()
    let source = FileClusterSource(directory: root.path, logger: logs.logger)

    let updates = try source.scan()
    #expect(updates.map(\.description) == ["cluster1: state (1 objects)", "cluster1: synced"])
    #expect(logs.errors(for: bad).count == 1)
    #expect(source.fileErrors[bad]?.line == 3)

    // Deleting the bad file clears its error without a change to report.
    try root.remove("cluster1/bad.yaml")
    #expect(try source.scan().isEmpty)
    #expect(source.errors.isEmpty)
  }

  @Test func skippedKindsAreLoggedAtDebug() throws {
    let root = try TemporaryDirectory()
    let path = try root.write("cluster1/list.yaml", String(decoding: try Fixture.bytes("list.yaml"), as: UTF8.self))
    let logs = LogRecorder()
    let source = FileClusterSource(directory: root.path, logger: logs.logger)
    _ = try source.scan()
    let debug = logs.entries(at: .debug).filter { $0.metadata["path"] == path }
    #expect(debug.map { $0.metadata["object"] } == ["v1 ConfigMap bookinfo/istio-ca-root-cert at line 41"])
  }

  @Test func survivesSymlinkLoopsJunkAndOversizedFiles() throws {
    let root = try TemporaryDirectory()
    try root.write("cluster1/ns.yaml", Self.namespace("sample"))
    try root.symlink("cluster1/loop", to: root.path + "/cluster1")
    try root.symlink("cluster1/self.yaml", to: root.path + "/cluster1/self.yaml")
    try root.symlink("cluster1/dangling.yaml", to: root.path + "/nowhere.yaml")
    try root.symlink("cluster1/linked.yaml", to: root.path + "/shared/linked.yaml")
    try root.write("shared/linked.yaml", Self.namespace("linked"))
    let junk = try root.write("cluster1/junk.yaml", Data((0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 7919 >> 3) }))
    let big = try root.write("cluster1/big.json", String(repeating: " ", count: 5000) + "{}")
    let logs = LogRecorder()
    let source = FileClusterSource(directory: root.path, logger: logs.logger, maximumFileSize: 4096)

    let updates = try source.scan()
    #expect(Self.state(of: "cluster1", in: updates).map { Set($0.namespaces.keys) } == ["sample", "linked"])
    #expect(source.fileErrors[junk]?.code == .invalidEncoding)
    #expect(source.fileErrors[big]?.code == .tooLarge)
    #expect(Set(source.fileErrors.keys) == [junk, big])
    #expect(try source.scan().isEmpty)
    #expect(logs.entries(at: .error).count == 2)
  }

  @Test func missingClustersDirectoryIsAnError() throws {
    let root = try TemporaryDirectory()
    let missing = root.path + "/clusters"
    let logs = LogRecorder()
    let source = FileClusterSource(directory: missing, logger: logs.logger)
    do {
      _ = try source.scan()
      Issue.record("scanning a missing directory succeeded")
    } catch {
      #expect(error.code == .directoryUnreadable)
      #expect(error.description == "\(missing): cannot list the clusters directory: No such file or directory")
    }
    _ = try? source.scan()
    #expect(logs.errors(for: missing).count == 1)
    #expect(source.errors == [missing: "No such file or directory"])

    // Created later: picked up, and the error is cleared.
    try root.write("clusters/cluster1/ns.yaml", Self.namespace("late"))
    #expect(try source.scan().map(\.description) == ["cluster1: state (1 objects)", "cluster1: synced"])
    #expect(source.errors.isEmpty)
  }

  @Test func clustersDirectoryThatVanishesKeepsTheClusters() throws {
    let root = try TemporaryDirectory()
    try root.write("clusters/cluster1/ns.yaml", Self.namespace("kept"))
    let source = FileClusterSource(directory: root.path + "/clusters", logger: LogRecorder().logger)
    _ = try source.scan()
    try root.remove("clusters")
    #expect(throws: FileClusterSourceError.self) { try source.scan() }
    #expect(source.clusters["cluster1"]?.namespaces["kept"] != nil)
  }

  /// `run` over `root` on a manual clock (5 s polls), its reports in a stream.
  static func running(_ root: TemporaryDirectory, everyScan: Bool = false) -> (
    clock: ManualClock, task: Task<Void, any Error>, reports: AsyncStream<[ClusterSourceUpdate]>
  ) {
    let clock = ManualClock()
    let source = FileClusterSource(
      directory: root.path, logger: LogRecorder().logger, pollInterval: .seconds(5), clock: clock)
    let (stream, continuation) = AsyncStream.makeStream(of: [ClusterSourceUpdate].self)
    let task = Task {
      try await source.run(everyScan: everyScan) { updates in continuation.yield(updates) }
      continuation.finish()
    }
    return (clock, task, stream)
  }

  @Test func runWithEveryScanReportsEmptyScansToo() async throws {
    let root = try TemporaryDirectory()
    try root.write("cluster1/ns.yaml", Self.namespace("first"))
    let (clock, task, reports) = Self.running(root, everyScan: true)
    var iterator = reports.makeAsyncIterator()
    #expect(await iterator.next()?.count == 2)
    // Nothing changed: the scan is reported anyway, empty.
    clock.tick()
    #expect(await iterator.next() == [])
    task.cancel()
    try await task.value
  }

  @Test func runReportsInitialStateThenChangesUntilCancelled() async throws {
    let root = try TemporaryDirectory()
    try root.write("cluster1/ns.yaml", Self.namespace("first"))
    let (clock, task, reports) = Self.running(root)
    var iterator = reports.makeAsyncIterator()

    let initial = await iterator.next()
    #expect(initial?.map(\.description) == ["cluster1: state (1 objects)", "cluster1: synced"])

    // A poll with nothing changed reports nothing; the next one reports the new file.
    clock.tick()
    try root.write("cluster1/more.yaml", Self.namespace("second"))
    clock.tick()
    let next = await iterator.next()
    #expect(next.flatMap { Self.state(of: "cluster1", in: $0) }.map { Set($0.namespaces.keys) } == ["first", "second"])

    task.cancel()
    try await task.value
    #expect(await iterator.next() == nil)
  }
}
