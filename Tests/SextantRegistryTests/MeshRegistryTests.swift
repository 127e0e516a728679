import SextantKube
import Testing

@testable import SextantRegistry

@Suite("MeshRegistry")
struct MeshRegistryTests {
  let reviews = "reviews.default.svc.cluster.local"
  let ratings = "ratings.default.svc.cluster.local"

  /// The identity of an array's storage, to check that a shard was reused rather than rebuilt.
  func storage(_ array: [MeshEndpoint]) -> UnsafeRawPointer? {
    array.withUnsafeBufferPointer { $0.baseAddress.map(UnsafeRawPointer.init) }
  }

  @Test func sameHostnameInTwoClustersIsOneService() async {
    let registry = MeshRegistry()
    await registry.apply(
      cluster: "c2",
      objects: Fx.objects(
        Fx.simpleService(
          clusterIP: "10.2.0.1", addresses: ["10.20.0.1"],
          ports: [KubeService.Port(name: "tcp-x", port: 9080), KubeService.Port(name: "grpc", port: 7070)],
          slicePorts: [EndpointSlice.Port(name: "tcp-x", port: 9080), EndpointSlice.Port(name: "grpc", port: 7070)]
        )
      )
    )
    await registry.apply(
      cluster: "c1", objects: Fx.objects(Fx.simpleService(clusterIP: "10.1.0.1", addresses: ["10.10.0.1"])))
    let snapshot = registry.current
    #expect(snapshot.services.count == 1)
    #expect(snapshot.sortedHostnames == [reviews])
    let service = snapshot.services[reviews]!
    #expect(service.clusters == ["c1", "c2"])
    #expect(service.addresses == ["c1": ["10.1.0.1"], "c2": ["10.2.0.1"]])
    #expect(service.allAddresses == ["10.1.0.1", "10.2.0.1"])
    // Port 9080 is defined by both: c1 (first in sorted order) wins; 7070 only exists in c2.
    #expect(
      service.ports == [
        MeshPort(name: "grpc", port: 7070, protocol: .grpc), MeshPort(name: "http", port: 9080, protocol: .http),
      ])
    let shards = snapshot.endpoints[reviews]!
    #expect(Set(shards.shards.keys) == ["c1", "c2"])
    #expect(
      shards.endpoints(servicePort: 9080).map { "\($0.cluster)/\($0.address)" } == ["c1/10.10.0.1", "c2/10.20.0.1"])
    #expect(snapshot.endpoints(hostname: reviews, servicePort: 7070).map(\.address) == ["10.20.0.1"])
  }

  @Test func changeInOneClusterKeepsOtherShardIdentical() async {
    let registry = MeshRegistry()
    await registry.apply(cluster: "c1", objects: Fx.objects(Fx.simpleService(addresses: ["10.10.0.1", "10.10.0.2"])))
    await registry.apply(cluster: "c2", objects: Fx.objects(Fx.simpleService(addresses: ["10.20.0.1"])))
    let before = registry.current
    let c1Before = before.endpoints[reviews]!.shards["c1"]!

    let change = await registry.apply(
      cluster: "c2", objects: Fx.objects(Fx.simpleService(addresses: ["10.20.0.1", "10.20.0.2"]))
    )
    let after = registry.current
    let c1After = after.endpoints[reviews]!.shards["c1"]!
    #expect(c1After == c1Before)
    #expect(storage(c1After) == storage(c1Before))
    #expect(after.endpoints[reviews]!.shards["c2"]!.map(\.address) == ["10.20.0.1", "10.20.0.2"])
    #expect(change == SnapshotChange(services: false, endpointHostnames: [reviews]))
    #expect(await registry.view(of: "c1")?.endpoints[reviews] == c1Before)
  }

  @Test func endpointOnlyChangeVersusServiceChange() async {
    let registry = MeshRegistry()
    let first = await registry.apply(
      cluster: "c1",
      objects: Fx.objects(Fx.simpleService(addresses: ["10.1.0.1"]), Fx.simpleService(name: "ratings", addresses: []))
    )
    #expect(first.services)
    #expect(first.endpointHostnames == [reviews, ratings])

    // A new endpoint of reviews: endpoint-only.
    let endpointsOnly = await registry.apply(
      cluster: "c1",
      objects: Fx.objects(
        Fx.simpleService(addresses: ["10.1.0.1", "10.1.0.2"]), Fx.simpleService(name: "ratings", addresses: []))
    )
    #expect(endpointsOnly == SnapshotChange(services: false, endpointHostnames: [reviews]))
    #expect(endpointsOnly.isEndpointOnly)

    // A changed VIP: a service change, no endpoint change.
    let vip = await registry.apply(
      cluster: "c1",
      objects: Fx.objects(
        Fx.simpleService(addresses: ["10.1.0.1", "10.1.0.2"]),
        Fx.simpleService(name: "ratings", clusterIP: "10.0.0.9", addresses: [])
      )
    )
    #expect(vip == SnapshotChange(services: true, endpointHostnames: []))

    // A changed port: a service change (and the endpoints' servicePort changed too).
    let port = await registry.apply(
      cluster: "c1",
      objects: Fx.objects(
        Fx.simpleService(
          addresses: ["10.1.0.1", "10.1.0.2"],
          ports: [KubeService.Port(name: "http", port: 9081, targetPort: .int(9080))]),
        Fx.simpleService(name: "ratings", clusterIP: "10.0.0.9", addresses: [])
      )
    )
    #expect(port.services)
    #expect(port.endpointHostnames == [reviews])

    // Same objects again: nothing changes and nothing is published.
    let version = registry.current.version
    let same = await registry.apply(
      cluster: "c1",
      objects: Fx.objects(
        Fx.simpleService(
          addresses: ["10.1.0.1", "10.1.0.2"],
          ports: [KubeService.Port(name: "http", port: 9081, targetPort: .int(9080))]),
        Fx.simpleService(name: "ratings", clusterIP: "10.0.0.9", addresses: [])
      )
    )
    #expect(same.isEmpty)
    #expect(registry.current.version == version)

    // A pod that backs no service changes only the object count: a new snapshot, an empty change.
    let unrelated = await registry.apply(
      cluster: "c1",
      objects: Fx.objects(
        Fx.simpleService(
          addresses: ["10.1.0.1", "10.1.0.2"],
          ports: [KubeService.Port(name: "http", port: 9081, targetPort: .int(9080))]),
        Fx.simpleService(name: "ratings", clusterIP: "10.0.0.9", addresses: []),
        [Fx.pod("lonely", ip: "10.9.9.9")]
      )
    )
    #expect(unrelated.isEmpty)
    #expect(registry.current.version == version + 1)
    #expect(registry.current.clusters["c1"]?.objectCounts[.pod] == 1)
  }

  @Test func conflictingDefinitionInLaterClusterIsNotAServiceChange() async {
    let registry = MeshRegistry()
    await registry.apply(cluster: "a", objects: Fx.objects(Fx.simpleService(addresses: ["10.1.0.1"])))
    await registry.apply(cluster: "b", objects: Fx.objects(Fx.simpleService(clusterIP: "10.0.0.2", addresses: [])))
    // b renames its port 9080: a's definition wins, so the merged service is unchanged.
    let change = await registry.apply(
      cluster: "b",
      objects: Fx.objects(
        Fx.simpleService(clusterIP: "10.0.0.2", addresses: [], ports: [KubeService.Port(name: "tcp", port: 9080)]))
    )
    #expect(change.isEmpty)
    #expect(registry.current.services[reviews]!.ports == [MeshPort(name: "http", port: 9080, protocol: .http)])
  }

  @Test func versionsBump() async {
    let registry = MeshRegistry()
    #expect(registry.current.version == 0)
    await registry.apply(
      cluster: "c1",
      objects: Fx.objects(
        Fx.simpleService(addresses: ["10.1.0.1"]), Fx.simpleService(name: "ratings", addresses: ["10.3.0.1"]))
    )
    let s1 = registry.current
    #expect(s1.version == 1)
    #expect(s1.servicesVersion == 1)
    #expect(s1.endpointVersions == [reviews: 1, ratings: 1])

    await registry.apply(
      cluster: "c1",
      objects: Fx.objects(
        Fx.simpleService(addresses: ["10.1.0.2"]), Fx.simpleService(name: "ratings", addresses: ["10.3.0.1"]))
    )
    let s2 = registry.current
    #expect(s2.version == 2)
    #expect(s2.servicesVersion == 1)
    #expect(s2.endpointVersions == [reviews: 2, ratings: 1])

    await registry.markSynced(cluster: "c1")
    let s3 = registry.current
    #expect(s3.version == 3)
    #expect(s3.servicesVersion == 1)
    #expect(s3.endpointVersions == [reviews: 2, ratings: 1])
    #expect(s3.clusters["c1"]?.state == .synced)

    await registry.apply(cluster: "c1", objects: Fx.objects(Fx.simpleService(addresses: ["10.1.0.2"])))
    let s4 = registry.current
    #expect(s4.version == 4)
    #expect(s4.servicesVersion == 4)
    #expect(s4.endpointVersions == [reviews: 2])
    #expect(s4.sortedHostnames == [reviews])
    // Synced state survives later applies.
    #expect(s4.clusters["c1"]?.state == .synced)

    // Re-adding ratings gives it a version it never had before.
    await registry.apply(
      cluster: "c1",
      objects: Fx.objects(
        Fx.simpleService(addresses: ["10.1.0.2"]), Fx.simpleService(name: "ratings", addresses: ["10.3.0.1"]))
    )
    #expect(registry.current.endpointVersions[ratings] == 5)
    #expect(registry.current.sortedHostnames == [ratings, reviews])
  }

  @Test func removingAClusterDropsItsServicesAndShards() async {
    let registry = MeshRegistry()
    await registry.apply(
      cluster: "c1", objects: Fx.objects(Fx.simpleService(clusterIP: "10.0.0.1", addresses: ["10.1.0.1"])))
    await registry.apply(
      cluster: "c2",
      objects: Fx.objects(
        Fx.simpleService(clusterIP: "10.0.0.2", addresses: ["10.2.0.1"]),
        Fx.simpleService(name: "ratings", addresses: ["10.2.0.5"])
      )
    )
    let before = registry.current
    let c1Shard = before.endpoints[reviews]!.shards["c1"]!

    let change = await registry.remove(cluster: "c2")
    #expect(change == SnapshotChange(services: true, endpointHostnames: [reviews, ratings]))
    let after = registry.current
    #expect(after.sortedHostnames == [reviews])
    #expect(after.services[reviews]!.clusters == ["c1"])
    #expect(after.services[reviews]!.addresses == ["c1": ["10.0.0.1"]])
    #expect(Array(after.endpoints[reviews]!.shards.keys) == ["c1"])
    #expect(storage(after.endpoints[reviews]!.shards["c1"]!) == storage(c1Shard))
    #expect(after.endpoints[ratings] == nil)
    #expect(after.endpointVersions[ratings] == nil)
    #expect(Array(after.clusters.keys) == ["c1"])
    #expect(await registry.view(of: "c2") == nil)

    #expect(await registry.remove(cluster: "c2").isEmpty)
    await registry.remove(cluster: "c1")
    #expect(
      registry.current.services.isEmpty && registry.current.endpoints.isEmpty && registry.current.clusters.isEmpty)
  }

  @Test func clusterInfoCarriesNetworkAndCounts() async {
    let registry = MeshRegistry()
    await registry.apply(
      cluster: "c1",
      objects: Fx.objects(
        [Fx.namespace("istio-system", labels: ["topology.istio.io/network": "net1"])],
        Fx.simpleService(addresses: ["10.1.0.1", "10.1.0.2"])
      )
    )
    let info = registry.current.clusters["c1"]!
    #expect(info.network == "net1")
    #expect(info.state == .syncing)
    #expect(info.serviceCount == 1 && info.endpointCount == 2)
    #expect(info.objectCount == 3)
    #expect(registry.current.endpoints[reviews]!.all.allSatisfy { $0.network == "net1" })
  }

  @Test func allSyncedRules() async {
    let registry = MeshRegistry()
    #expect(!registry.allSynced)
    registry.expect(clusters: ["c1", "c2"])
    #expect(!registry.allSynced)
    await registry.apply(cluster: "c1", objects: Fx.objects(Fx.simpleService(addresses: ["10.1.0.1"])))
    await registry.markSynced(cluster: "c1")
    #expect(!registry.allSynced)
    await registry.markSynced(cluster: "c2")
    #expect(registry.allSynced)
    await registry.apply(cluster: "c3", objects: ClusterObjects())
    #expect(!registry.allSynced)
    await registry.remove(cluster: "c3")
    #expect(registry.allSynced)

    let empty = MeshRegistry()
    empty.expect(clusters: [])
    #expect(empty.allSynced)

    let undeclared = MeshRegistry()
    await undeclared.markSynced(cluster: "only")
    #expect(undeclared.allSynced)

    let removedExpected = MeshRegistry()
    removedExpected.expect(clusters: ["a", "b"])
    await removedExpected.markSynced(cluster: "a")
    await removedExpected.remove(cluster: "b")
    #expect(removedExpected.allSynced)
  }

  @Test func errorKeepsObjectsAndReadinessAfterTheFirstSync() async {
    let registry = MeshRegistry()
    await registry.apply(cluster: "c1", objects: Fx.objects(Fx.simpleService(addresses: ["10.1.0.1"])))
    await registry.markSynced(cluster: "c1")
    let before = registry.current
    let change = await registry.report(cluster: "c1", state: .error, reason: "connection refused")
    #expect(change.isEmpty)
    let info = registry.current.clusters["c1"]
    #expect(info?.state == .error)
    #expect(info?.reason == "connection refused")
    #expect(info?.hasSynced == true)
    #expect(registry.current.endpoints == before.endpoints)
    #expect(registry.allSynced)
    await registry.report(cluster: "c1", state: .synced)
    #expect(registry.current.clusters["c1"]?.state == .synced)
    #expect(registry.current.clusters["c1"]?.reason == "")
  }

  @Test func connectionUpBeforeTheInitialLoadIsStillSyncing() async {
    let registry = MeshRegistry()
    await registry.report(cluster: "remote", state: .synced)
    #expect(registry.current.clusters["remote"]?.state == .syncing)
    #expect(!registry.allSynced)
  }

  @Test func expiredWaitStopsBlockingReadiness() async {
    let registry = MeshRegistry()
    await registry.markSynced(cluster: "primary")
    await registry.report(cluster: "slow", state: .syncing)
    await registry.report(cluster: "broken", state: .error, reason: "exec plugins are refused")
    #expect(!registry.allSynced)
    await registry.expireInitialWait(cluster: "slow")
    #expect(registry.current.clusters["slow"]?.state == .timeout)
    #expect(!registry.allSynced)
    await registry.expireInitialWait(cluster: "broken")
    #expect(registry.current.clusters["broken"]?.state == .error)
    #expect(registry.current.clusters["broken"]?.reason == "exec plugins are refused")
    #expect(registry.allSynced)
    // A late sync still counts, and expiring a synced cluster changes nothing.
    await registry.markSynced(cluster: "slow")
    #expect(registry.current.clusters["slow"]?.state == .synced)
    let version = registry.current.version
    await registry.expireInitialWait(cluster: "slow")
    #expect(registry.current.version == version)
  }

  @Test func subscribersReceiveEveryChangeInOrder() async {
    let registry = MeshRegistry()
    let (start, first) = registry.subscribe()
    #expect(start.version == 0)
    let second = registry.updates()
    #expect(registry.subscriberCount == 2)

    await registry.apply(cluster: "c1", objects: Fx.objects(Fx.simpleService(addresses: ["10.1.0.1"])))
    await registry.apply(cluster: "c1", objects: Fx.objects(Fx.simpleService(addresses: ["10.1.0.2"])))
    await registry.apply(cluster: "c1", objects: Fx.objects(Fx.simpleService(addresses: ["10.1.0.2"])))  // no change
    await registry.markSynced(cluster: "c1")
    let (late, third) = registry.subscribe()
    #expect(late.version == 3)
    await registry.remove(cluster: "c1")

    for stream in [first, second] {
      var iterator = stream.makeAsyncIterator()
      var got: [(UInt64, SnapshotChange)] = []
      for _ in 0..<4 {
        guard let update = await iterator.next() else { break }
        got.append((update.0.version, update.1))
      }
      #expect(got.map(\.0) == [1, 2, 3, 4])
      #expect(
        got.map(\.1) == [
          SnapshotChange(services: true, endpointHostnames: [reviews]),
          SnapshotChange(services: false, endpointHostnames: [reviews]),
          SnapshotChange(),
          SnapshotChange(services: true, endpointHostnames: [reviews]),
        ])
    }
    var lateIterator = third.makeAsyncIterator()
    #expect(await lateIterator.next()?.0.version == 4)
  }

  @Test func cancelledSubscriberIsDropped() async {
    let registry = MeshRegistry()
    let stream = registry.updates()
    let task = Task {
      var count = 0
      for await _ in stream { count += 1 }
      return count
    }
    await registry.apply(cluster: "c1", objects: Fx.objects(Fx.simpleService(addresses: ["10.1.0.1"])))
    task.cancel()
    _ = await task.value
    #expect(registry.subscriberCount == 0)
    await registry.apply(cluster: "c1", objects: ClusterObjects())
  }

  @Test func streamEndsWhenRegistryGoesAway() async {
    var registry: MeshRegistry? = MeshRegistry()
    let stream = registry!.updates()
    registry = nil
    var iterator = stream.makeAsyncIterator()
    #expect(await iterator.next() == nil)
  }
}

@Suite("SnapshotChange")
struct SnapshotChangeTests {
  @Test func mergeAndEmptiness() {
    var change = SnapshotChange()
    #expect(change.isEmpty && !change.isEndpointOnly)
    change.merge(SnapshotChange(endpointHostnames: ["a"]))
    #expect(!change.isEmpty && change.isEndpointOnly)
    change.merge(SnapshotChange(endpointHostnames: ["b", "a"]))
    #expect(change == SnapshotChange(services: false, endpointHostnames: ["a", "b"]))
    let full = change.merging(SnapshotChange(services: true))
    #expect(full.services && full.endpointHostnames == ["a", "b"] && !full.isEndpointOnly)
    #expect(SnapshotChange(services: true).merging(.none).services)
    #expect(SnapshotChange.none.isEmpty)
  }
}
