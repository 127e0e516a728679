import SextantKube
import SextantKubeClient
import SextantRegistry
import SextantTestSupport
import Testing

@testable import SextantSources

/// The remote-secret coordinator's decisions, driven the way the controller and the runners call it.
@Suite("RemoteClusterCoordinator")
struct RemoteClusterCoordinatorTests {
  typealias H = RemoteClusterHarness

  @Test func newKeyAddsTheClusterAsSyncingUntilItsInitialLoad() async throws {
    let h = H()
    let secrets = H.secret("cluster2", server: "https://cluster2.example:6443")
    let runner = try await h.start(secrets)
    #expect(runner.clusterID == "cluster2")
    #expect(runner.secret == "istio-system/remote-cluster2")
    #expect(runner.kubeconfigHash == Kubeconfig.hash(of: H.kubeconfig("https://cluster2.example:6443")))
    #expect(h.info("cluster2")?.state == .syncing)
    #expect(!h.registry.allSynced)
    #expect(h.owners.owner(of: "cluster2") == RemoteClusterCoordinator.owner)
    #expect(
      await h.coordinator.status() == [
        RemoteClusterStatus(
          clusterID: "cluster2", secret: "istio-system/remote-cluster2", kubeconfigHash: runner.kubeconfigHash,
          replacementPending: false)
      ])

    // A connection that is up before the initial load is still syncing.
    await h.coordinator.connection(runner, .synced)
    #expect(h.info("cluster2")?.state == .syncing)

    await h.coordinator.deliver(runner, H.initialLoad("cluster2", network: "net2"))
    #expect(h.info("cluster2")?.state == .synced)
    #expect(h.info("cluster2")?.network == "net2")
    #expect(h.registry.allSynced)

    // The same secrets again change nothing.
    let version = h.registry.current.version
    #expect(await h.coordinator.reconcile(secrets).isEmpty)
    #expect(h.registry.current.version == version)
    #expect(!runner.isStopped)
  }

  @Test func servingRunnersStatesAreTheClustersState() async throws {
    let h = H()
    let runner = try await h.addSynced("cluster2", server: "https://a", network: "net-a")
    await h.coordinator.connection(runner, .error("connection refused"))
    #expect(h.info("cluster2")?.state == .error)
    #expect(h.info("cluster2")?.reason == "connection refused")
    #expect(h.info("cluster2")?.hasSynced == true)
    #expect(h.info("cluster2")?.network == "net-a")
    #expect(h.registry.allSynced)
    await h.coordinator.connection(runner, .synced)
    #expect(h.info("cluster2")?.state == .synced)
    #expect(h.info("cluster2")?.reason == "")
  }

  @Test func changedKubeconfigIsMakeBeforeBreak() async throws {
    let h = H()
    let old = try await h.addSynced("cluster2", server: "https://old", network: "old")

    let replacement = try await h.start(H.secret("cluster2", server: "https://new"))
    #expect(replacement.clusterID == "cluster2")
    #expect(replacement.kubeconfigHash != old.kubeconfigHash)
    #expect(!old.isStopped)
    #expect(await h.coordinator.status().map(\.replacementPending) == [true])
    #expect(await h.coordinator.status().map(\.kubeconfigHash) == [old.kubeconfigHash])

    // Until the replacement has synced, the old runner serves: its changes apply, the replacement's wait.
    await h.coordinator.connection(replacement, .error("TLS handshake failed"))
    await h.coordinator.deliver(replacement, H.change("cluster2", network: "new"))
    await h.coordinator.deliver(old, H.change("cluster2", network: "old-changed"))
    #expect(h.info("cluster2")?.state == .synced)
    #expect(h.info("cluster2")?.network == "old-changed")
    #expect(h.logged("replacement kubeconfig cannot sync").count == 1)

    // Its synced swaps it in with the objects it buffered, and stops the old runner.
    await h.coordinator.deliver(replacement, [ClusterSourceUpdate(clusterID: "cluster2", event: .synced)])
    #expect(h.info("cluster2")?.network == "new")
    #expect(h.info("cluster2")?.state == .synced)
    #expect(old.isStopped)
    #expect(!replacement.isStopped)
    #expect(
      await h.coordinator.status() == [
        RemoteClusterStatus(
          clusterID: "cluster2", secret: "istio-system/remote-cluster2", kubeconfigHash: replacement.kubeconfigHash,
          replacementPending: false)
      ])

    // The old runner's last words are ignored.
    await h.coordinator.deliver(old, H.change("cluster2", network: "stale"))
    await h.coordinator.connection(old, .error("cancelled"))
    #expect(h.info("cluster2")?.network == "new")
    #expect(h.info("cluster2")?.state == .synced)
  }

  @Test func replacementThatNeverSyncsLeavesTheOldOneServing() async throws {
    let h = H()
    let old = try await h.addSynced("cluster2", server: "https://old", network: "old")
    let first = try await h.start(H.secret("cluster2", server: "https://new1"))
    // A second change replaces the replacement.
    let second = try await h.start(H.secret("cluster2", server: "https://new2"))
    #expect(first.isStopped && !second.isStopped && !old.isStopped)
    await h.coordinator.deliver(first, H.initialLoad("cluster2", network: "first"))
    #expect(h.info("cluster2")?.network == "old")

    // Back to the kubeconfig in use: the replacement is no longer wanted, and no runner starts.
    #expect(await h.coordinator.reconcile(H.secret("cluster2", server: "https://old")).isEmpty)
    #expect(second.isStopped && !old.isStopped)
    #expect(await h.coordinator.status().map(\.replacementPending) == [false])
    await h.coordinator.deliver(second, H.initialLoad("cluster2", network: "second"))
    #expect(h.info("cluster2")?.network == "old")
  }

  @Test func removedKeyStopsItsRunnersAndDropsTheCluster() async throws {
    let h = H()
    let old = try await h.addSynced("cluster2", server: "https://old", network: "old")
    let replacement = try await h.start(H.secret("cluster2", server: "https://new"))
    let both = H.secret("cluster2", server: "https://new").merging(H.secret("cluster3", server: "https://three")) { $1 }
    let other = try await h.start(both)
    await h.coordinator.deliver(other, H.initialLoad("cluster3", network: "three"))

    #expect(await h.coordinator.reconcile(H.secret("cluster3", server: "https://three")).isEmpty)
    #expect(old.isStopped && replacement.isStopped && !other.isStopped)
    #expect(h.info("cluster2") == nil)
    #expect(h.info("cluster3")?.state == .synced)
    #expect(h.owners.owner(of: "cluster2") == nil)
    #expect(await h.coordinator.status().map(\.clusterID) == ["cluster3"])
    #expect(await h.coordinator.client(for: "cluster2") == nil)
    #expect(h.registry.allSynced)

    // Late reports of the stopped runners do not bring the cluster back.
    await h.coordinator.deliver(old, H.change("cluster2", network: "old"))
    await h.coordinator.deliver(replacement, H.initialLoad("cluster2", network: "new"))
    await h.coordinator.connection(old, .synced)
    await h.coordinator.failed(replacement, reason: "cancelled")
    await h.coordinator.syncTimedOut(old)
    #expect(h.info("cluster2") == nil)

    // Removing the last secret removes the last cluster.
    #expect(await h.coordinator.reconcile([:]).isEmpty)
    #expect(other.isStopped)
    #expect(h.registry.current.clusters.isEmpty)
    #expect(h.owners.owner(of: "cluster3") == nil)
  }

  @Test func keyNamingThePrimaryClusterIsIgnored() async throws {
    let h = H()
    let secrets = H.secrets([
      "remote-mixed": ["primary": H.kubeconfig("https://primary"), "cluster2": H.kubeconfig("https://two")]
    ])
    let runner = try await h.start(secrets)
    #expect(runner.clusterID == "cluster2")
    #expect(await h.coordinator.reconcile(secrets).isEmpty)
    #expect(h.info("primary") == nil)
    #expect(h.owners.owner(of: "primary") == "the primary cluster")
    let warnings = h.logged("remote secret names the primary cluster; ignored")
    #expect(warnings.count == 1)
    #expect(warnings.first?.metadata["secret"] == "istio-system/remote-mixed")
  }

  @Test func keyNamingAClusterAnotherSourceFeedsIsIgnoredUntilReleased() async throws {
    let h = H()
    let directory = "clusters directory /etc/clusters"
    _ = h.owners.claim("cluster3", owner: directory)
    let secrets = H.secret("cluster3", server: "https://three")
    #expect(await h.coordinator.reconcile(secrets).isEmpty)
    #expect(await h.coordinator.reconcile(secrets).isEmpty)
    #expect(h.info("cluster3") == nil)
    #expect(await h.coordinator.status().isEmpty)
    let warnings = h.logged("remote secret names a cluster another source feeds; ignored")
    #expect(warnings.count == 1)
    #expect(warnings.first?.metadata["owner"] == directory)
    #expect(warnings.first?.metadata["cluster"] == "cluster3")

    // Once the other source gives the ID up, the next reconcile takes it.
    h.owners.release("cluster3", owner: directory)
    let runner = try await h.start(secrets)
    #expect(runner.clusterID == "cluster3")
    #expect(h.owners.owner(of: "cluster3") == RemoteClusterCoordinator.owner)
    #expect(h.info("cluster3")?.state == .syncing)
  }

  @Test func clusterNamedByTwoSecretsIsTakenFromTheFirstByName() async throws {
    let h = H()
    let runner = try await h.start(
      H.secrets([
        "b-secret": ["cluster2": H.kubeconfig("https://b")],
        "a-secret": ["cluster2": H.kubeconfig("https://a")],
      ]))
    #expect(runner.secret == "istio-system/a-secret")
    #expect(runner.kubeconfigHash == Kubeconfig.hash(of: H.kubeconfig("https://a")))
    #expect(h.logged("cluster named by two remote secrets").first?.metadata["ignored"] == "istio-system/b-secret")
  }

  @Test func secretThatStopsDecodingKeepsItsClusters() async throws {
    let h = H()
    let runner = try await h.addSynced("cluster2", server: "https://a", network: "a")
    var broken = H.secret("cluster2", server: "https://a")
    let key = NamespacedName(namespace: H.namespace, name: "remote-cluster2")
    broken[key]!.data["cluster2"] = "not base64 !"
    #expect(await h.coordinator.reconcile(broken).isEmpty)
    #expect(!runner.isStopped)
    #expect(h.info("cluster2")?.state == .synced)
    #expect(h.logged("remote secret does not decode").count == 1)
  }

  @Test func unusableKubeconfigIsAnErrorReadinessDoesNotWaitFor() async throws {
    let h = H()
    let runner = try await h.start(H.secret("cluster2", server: "https://a"))
    #expect(!h.registry.allSynced)
    await h.coordinator.failed(runner, reason: "users[0].user.exec: exec plugins are refused")
    #expect(h.info("cluster2")?.state == .error)
    #expect(h.info("cluster2")?.reason == "users[0].user.exec: exec plugins are refused")
    #expect(h.info("cluster2")?.hasSynced == false)
    #expect(h.registry.allSynced)
    #expect(h.logged("remote cluster unusable", atLeast: .error).count == 1)

    // A replacement that is unusable leaves the serving runner alone.
    let good = try await h.addSynced("cluster3", server: "https://three", network: "three")
    let bad = try await h.start(H.secret("cluster3", server: "https://bad"))
    await h.coordinator.failed(bad, reason: "bad")
    #expect(h.info("cluster3")?.state == .synced)
    #expect(!good.isStopped)
  }

  @Test func stopAllClosesTheServedClustersAndIgnoresLaterReports() async throws {
    let h = H()
    let serving = try await h.addSynced("cluster2", server: "https://a", network: "a")
    let replacement = try await h.start(H.secret("cluster2", server: "https://b"))
    let syncing = try await h.start(
      H.secrets([
        "remote-cluster2": ["cluster2": H.kubeconfig("https://b")],
        "remote-cluster3": ["cluster3": H.kubeconfig("https://c")],
      ]))
    #expect(syncing.clusterID == "cluster3")

    await h.coordinator.stopAll()
    #expect(serving.isStopped && replacement.isStopped && syncing.isStopped)
    #expect(h.info("cluster2")?.state == .closed)
    #expect(h.info("cluster2")?.network == "a")
    #expect(h.info("cluster3")?.state == .closed)
    #expect(await h.coordinator.client(for: "cluster2") == nil)

    await h.coordinator.connection(serving, .synced)
    await h.coordinator.deliver(replacement, H.initialLoad("cluster2", network: "b"))
    #expect(h.info("cluster2")?.state == .closed)
    #expect(h.info("cluster2")?.network == "a")
    #expect(await h.coordinator.reconcile([:]).isEmpty)
    #expect(h.info("cluster2") != nil)
  }
}
