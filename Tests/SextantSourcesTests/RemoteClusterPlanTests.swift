import SextantKube
import SextantKubeClient
import SextantRegistry
import SextantTestSupport
import Testing

@testable import SextantSources

/// The coordinator's pure decision step: which actions each call produces, in which order.
@Suite("RemoteClusterPlan")
struct RemoteClusterPlanTests {
  typealias H = RemoteClusterHarness

  private static func plan() -> (RemoteClusterPlan, ClusterOwners) {
    let owners = ClusterOwners()
    _ = owners.claim(H.primary, owner: "the primary cluster")
    return (RemoteClusterPlan(primaryClusterID: H.primary, owners: owners, logger: LogRecorder().logger), owners)
  }

  private static func started(_ actions: [RemoteClusterAction]) -> [RemoteClusterSpec] {
    actions.compactMap { if case .start(let spec) = $0 { spec } else { nil } }
  }

  @Test func addStartsARunnerReportsSyncingAndExpectsTheCluster() throws {
    var (plan, owners) = Self.plan()
    let actions = plan.reconcile(H.secret("cluster2", server: "https://a"))
    let text = H.kubeconfig("https://a")
    let spec = RemoteClusterSpec(
      clusterID: "cluster2", generation: 1, kubeconfig: text, kubeconfigHash: Kubeconfig.hash(of: text),
      secret: "istio-system/remote-cluster2")
    #expect(actions == [.start(spec), .report("cluster2", .syncing), .expectKnownClusters])
    #expect(plan.serving("cluster2") == spec)
    #expect(owners.owner(of: "cluster2") == RemoteClusterPlan.owner)
    #expect(plan.reconcile(H.secret("cluster2", server: "https://a")).isEmpty)
  }

  @Test func servingRunnersUpdatesPassThroughAndReplacementsAreBuffered() throws {
    var (plan, _) = Self.plan()
    let old = try #require(Self.started(plan.reconcile(H.secret("cluster2", server: "https://old"))).first)
    let load = H.initialLoad("cluster2", network: "old")
    #expect(plan.deliver(old, load) == [.apply(load)])
    let new = try #require(Self.started(plan.reconcile(H.secret("cluster2", server: "https://new"))).first)
    #expect(new.generation == old.generation + 1)

    #expect(plan.deliver(new, H.change("cluster2", network: "new")).isEmpty)
    #expect(plan.connection(new, .synced).isEmpty)
    #expect(plan.connection(old, .error("x")) == [.report("cluster2", .error, reason: "x")])
    // The swap: the buffered objects, synced, the state, then the old runner stops.
    #expect(
      plan.deliver(new, [ClusterSourceUpdate(clusterID: "cluster2", event: .synced)]) == [
        .apply(H.initialLoad("cluster2", network: "new")),
        .report("cluster2", .synced),
        .stop(generation: old.generation),
      ])
    #expect(plan.serving("cluster2") == new)
    #expect(plan.deliver(old, load).isEmpty)
  }

  @Test func removalStopsRemovesThenReleases() throws {
    var (plan, owners) = Self.plan()
    let old = try #require(Self.started(plan.reconcile(H.secret("cluster2", server: "https://old"))).first)
    let new = try #require(Self.started(plan.reconcile(H.secret("cluster2", server: "https://new"))).first)
    #expect(
      plan.reconcile([:]) == [
        .stop(generation: old.generation), .stop(generation: new.generation), .remove("cluster2"), .release("cluster2"),
      ])
    // The claim stays until the coordinator performs the release.
    #expect(owners.owner(of: "cluster2") == RemoteClusterPlan.owner)
    #expect(plan.serving("cluster2") == nil)
    #expect(plan.status().isEmpty)
  }

  @Test func failureAndTimeoutConcernOnlyTheServingRunnerBeforeItSynced() throws {
    var (plan, _) = Self.plan()
    let runner = try #require(Self.started(plan.reconcile(H.secret("cluster2", server: "https://a"))).first)
    #expect(plan.syncTimedOut(runner) == [.expireInitialWait("cluster2")])
    #expect(
      plan.failed(runner, reason: "bad") == [
        .report("cluster2", .error, reason: "bad"), .expireInitialWait("cluster2"),
      ])
    _ = plan.deliver(runner, H.initialLoad("cluster2", network: "a"))
    #expect(plan.syncTimedOut(runner).isEmpty)
    let replacement = try #require(Self.started(plan.reconcile(H.secret("cluster2", server: "https://b"))).first)
    #expect(plan.syncTimedOut(replacement).isEmpty)
    #expect(plan.failed(replacement, reason: "bad").isEmpty)
  }

  @Test func stopAllClosesServedClustersAndEndsTheDecisions() throws {
    var (plan, _) = Self.plan()
    let runner = try #require(Self.started(plan.reconcile(H.secret("cluster2", server: "https://a"))).first)
    let replacement = try #require(Self.started(plan.reconcile(H.secret("cluster2", server: "https://b"))).first)
    #expect(
      plan.stopAll() == [
        .stop(generation: runner.generation), .report("cluster2", .closed), .stop(generation: replacement.generation),
      ])
    #expect(plan.stopAll().isEmpty)
    #expect(plan.reconcile([:]).isEmpty)
    #expect(plan.connection(runner, .synced).isEmpty)
    #expect(plan.deliver(runner, H.initialLoad("cluster2", network: "a")).isEmpty)
    #expect(plan.status().map(\.clusterID) == ["cluster2"])
  }
}
