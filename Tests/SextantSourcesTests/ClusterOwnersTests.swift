import SextantKube
import Testing

@testable import SextantRegistry
@testable import SextantSources

/// One source per cluster ID: the first claimant keeps it until it gives it up.
@Suite("ClusterOwners")
struct ClusterOwnersTests {
  @Test func firstClaimWinsUntilReleased() {
    let owners = ClusterOwners()
    #expect(owners.claim("cluster1", owner: "the primary cluster") == nil)
    #expect(owners.claim("cluster1", owner: "the primary cluster") == nil)
    #expect(owners.claim("cluster1", owner: "a remote secret") == "the primary cluster")
    owners.release("cluster1", owner: "a remote secret")
    #expect(owners.owner(of: "cluster1") == "the primary cluster")
    owners.release("cluster1", owner: "the primary cluster")
    #expect(owners.claim("cluster1", owner: "a remote secret") == nil)
  }

  @Test func aSourcesBatchLeavesOutTheClustersOthersFeed() {
    let owners = ClusterOwners()
    _ = owners.claim("cluster1", owner: "the primary cluster")
    let files = "clusters directory /etc/clusters"
    let batch = [
      ClusterSourceUpdate(clusterID: "cluster1", event: .state(ClusterObjects())),
      ClusterSourceUpdate(clusterID: "cluster1", event: .synced),
      ClusterSourceUpdate(clusterID: "cluster9", event: .state(ClusterObjects())),
      ClusterSourceUpdate(clusterID: "cluster9", event: .synced),
    ]
    let (admitted, refused) = owners.admit(batch, owner: files)
    #expect(admitted == Array(batch[2...]))
    #expect(refused.map(\.cluster) == ["cluster1"])
    #expect(refused.map(\.owner) == ["the primary cluster"])
    #expect(owners.owner(of: "cluster9") == files)

    // A directory removed: only the source that owns the cluster removes it, and the ID stays claimed until the
    // source releases it (after the registry dropped its objects).
    let removed = owners.admit(
      [
        ClusterSourceUpdate(clusterID: "cluster1", event: .removed),
        ClusterSourceUpdate(clusterID: "cluster9", event: .removed),
      ], owner: files)
    #expect(removed.admitted == [ClusterSourceUpdate(clusterID: "cluster9", event: .removed)])
    #expect(removed.refused.isEmpty)
    #expect(owners.owner(of: "cluster9") == files)
    owners.release("cluster9", owner: files)
    #expect(owners.owner(of: "cluster9") == nil)
    #expect(owners.owner(of: "cluster1") == "the primary cluster")
  }

  @Test func releasesAreAnnounced() async {
    let owners = ClusterOwners()
    var releases = owners.releases.makeAsyncIterator()
    _ = owners.claim("cluster2", owner: "a remote secret")
    // Not the owner: nothing is released, nothing announced.
    owners.release("cluster2", owner: "clusters directory /d")
    owners.release("cluster2", owner: "a remote secret")
    #expect(await releases.next() != nil)
    #expect(owners.claim("cluster2", owner: "clusters directory /d") == nil)
  }
}
