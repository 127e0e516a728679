import SextantKube
import SextantRegistry
import Testing

@testable import SextantSources

/// Calls from the controller and from runners arriving at once: whatever their order, each takes effect whole, and
/// the end state is one of the orders' end states. Every case runs in many rounds (in parallel), so both orders occur.
@Suite("Remote cluster interleavings")
struct RemoteClusterInterleavingTests {
  typealias H = RemoteClusterHarness

  @Test(arguments: 0..<40)
  func secretUpdateWhileTheRunnerReportsSynced(_ round: Int) async throws {
    let h = H()
    let runner = try await h.start(H.secret("cluster2", server: "https://old"))
    async let started = h.coordinator.reconcile(H.secret("cluster2", server: "https://new"))
    async let loaded: Void = h.coordinator.deliver(runner, H.initialLoad("cluster2", network: "old"))
    async let up: Void = h.coordinator.connection(runner, .synced)
    let replacements = await started
    _ = await (loaded, up)

    // The first runner serves, synced, with its objects; the new kubeconfig syncs beside it.
    let replacement = try #require(replacements.first)
    #expect(replacements.count == 1)
    #expect(h.info("cluster2")?.state == .synced)
    #expect(h.info("cluster2")?.network == "old")
    #expect(!runner.isStopped)
    #expect(await h.coordinator.status().map(\.replacementPending) == [true])
    #expect(h.registry.allSynced)

    await h.coordinator.deliver(replacement, H.initialLoad("cluster2", network: "new"))
    #expect(h.info("cluster2")?.network == "new")
    #expect(runner.isStopped)
    #expect(await h.coordinator.status().map(\.kubeconfigHash) == [replacement.kubeconfigHash])
  }

  @Test(arguments: 0..<40)
  func removalDuringASwap(_ round: Int) async throws {
    let h = H()
    let old = try await h.addSynced("cluster2", server: "https://old", network: "old")
    let replacement = try await h.start(H.secret("cluster2", server: "https://new"))
    async let swapped: Void = h.coordinator.deliver(replacement, H.initialLoad("cluster2", network: "new"))
    async let removed = h.coordinator.reconcile([:])
    _ = await (swapped, removed)

    // Removed, whether the swap came first or not: nothing left behind, nothing brought back.
    #expect(h.registry.current.clusters.isEmpty)
    #expect(old.isStopped && replacement.isStopped)
    #expect(h.owners.owner(of: "cluster2") == nil)
    #expect(await h.coordinator.status().isEmpty)
    #expect(await h.coordinator.client(for: "cluster2") == nil)
  }

  @Test(arguments: 0..<40)
  func removalWhileTheServingRunnerReports(_ round: Int) async throws {
    let h = H()
    let runner = try await h.start(H.secret("cluster2", server: "https://a"))
    async let removed = h.coordinator.reconcile([:])
    async let loaded: Void = h.coordinator.deliver(runner, H.initialLoad("cluster2", network: "a"))
    async let down: Void = h.coordinator.connection(runner, .error("connection reset"))
    async let unusable: Void = h.coordinator.failed(runner, reason: "bad")
    async let late: Void = h.coordinator.syncTimedOut(runner)
    _ = await (removed, loaded, down, unusable, late)

    #expect(h.registry.current.clusters.isEmpty)
    #expect(runner.isStopped)
    #expect(h.owners.owner(of: "cluster2") == nil)
  }

  @Test(arguments: 0..<40)
  func kubeconfigChangeDuringASwap(_ round: Int) async throws {
    let h = H()
    let old = try await h.addSynced("cluster2", server: "https://old", network: "old")
    let first = try await h.start(H.secret("cluster2", server: "https://first"))
    async let swapped: Void = h.coordinator.deliver(first, H.initialLoad("cluster2", network: "first"))
    async let started = h.coordinator.reconcile(H.secret("cluster2", server: "https://second"))
    let second = try #require(await started.first)
    await swapped

    // Either the first replacement swapped in and the second now replaces it, or the second replaced the first
    // before it synced; in both the second is pending and the objects are those of the runner that serves.
    let status = try #require(await h.coordinator.status().first)
    #expect(status.replacementPending)
    #expect(!second.isStopped)
    if status.kubeconfigHash == first.kubeconfigHash {
      #expect(old.isStopped && !first.isStopped)
      #expect(h.info("cluster2")?.network == "first")
    } else {
      #expect(status.kubeconfigHash == old.kubeconfigHash)
      #expect(!old.isStopped && first.isStopped)
      #expect(h.info("cluster2")?.network == "old")
    }
    #expect(h.info("cluster2")?.state == .synced)

    await h.coordinator.deliver(second, H.initialLoad("cluster2", network: "second"))
    #expect(h.info("cluster2")?.network == "second")
    #expect(old.isStopped && first.isStopped && !second.isStopped)
  }
}
