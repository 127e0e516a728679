import Testing

@testable import SextantGeneration
@testable import SextantXDS

@Suite struct WatchStateTests {
  @Test func envoyStyleSequenceForEndpoints() {
    var watch = WatchState(type: .endpoint)
    let first = watch.receive(versionInfo: "", nonce: "", resourceNames: ["a", "b"], errorMessage: nil)
    #expect(first == .initial)
    #expect(WatchState.needsResponse(first))
    #expect(watch.syncStatus == .notSent)

    watch.sent(version: "1", nonce: "n1")
    #expect(watch.syncStatus == .stale)

    let ack = watch.receive(versionInfo: "1", nonce: "n1", resourceNames: ["a", "b"], errorMessage: nil)
    #expect(ack == .ack)
    #expect(!WatchState.needsResponse(ack))
    #expect(watch.syncStatus == .synced)
    #expect(watch.ackedVersion == "1")

    let grew = watch.receive(versionInfo: "1", nonce: "n1", resourceNames: ["a", "b", "c"], errorMessage: nil)
    #expect(grew == .subscriptionGrew(added: ["c"]))
    #expect(WatchState.needsResponse(grew))
    #expect(watch.requestedNames == ["a", "b", "c"])

    let shrank = watch.receive(versionInfo: "1", nonce: "n1", resourceNames: ["a"], errorMessage: nil)
    #expect(shrank == .subscriptionShrank(removed: ["b", "c"]))
    #expect(!WatchState.needsResponse(shrank))
  }

  @Test func nackIsRecordedAndNotAnswered() {
    var watch = WatchState(type: .cluster)
    _ = watch.receive(versionInfo: "", nonce: "", resourceNames: [], errorMessage: nil)
    watch.sent(version: "1", nonce: "n1")
    _ = watch.receive(versionInfo: "1", nonce: "n1", resourceNames: [], errorMessage: nil)
    watch.sent(version: "2", nonce: "n2")
    let nack = watch.receive(versionInfo: "1", nonce: "n2", resourceNames: [], errorMessage: "bad cluster")
    #expect(nack == .nack(reason: "bad cluster"))
    #expect(!WatchState.needsResponse(nack))
    #expect(watch.syncStatus == .error)
    #expect(watch.lastNack == "bad cluster")
    #expect(watch.ackedVersion == "1")

    watch.sent(version: "3", nonce: "n3")
    #expect(watch.receive(versionInfo: "3", nonce: "n3", resourceNames: [], errorMessage: nil) == .ack)
    #expect(watch.syncStatus == .synced)
    #expect(watch.lastNack == nil)
  }

  @Test func namesAddedInANackAreAnsweredAndTheRestAreNot() {
    var watch = WatchState(type: .endpoint)
    _ = watch.receive(versionInfo: "", nonce: "", resourceNames: ["a"], errorMessage: nil)
    watch.sent(version: "1", nonce: "n1")
    let nack = watch.receive(versionInfo: "", nonce: "n1", resourceNames: ["a", "b"], errorMessage: "bad a")
    #expect(nack == .nackAndGrew(reason: "bad a", added: ["b"]))
    #expect(WatchState.needsResponse(nack))
    #expect(watch.requestedNames == ["a", "b"])
    #expect(watch.syncStatus == .error)

    // The answer to the added name is accepted: the NACK is over; the same names again are a plain ACK.
    watch.sent(version: "1", nonce: "n2")
    #expect(watch.receive(versionInfo: "1", nonce: "n2", resourceNames: ["a", "b"], errorMessage: nil) == .ack)
    #expect(watch.syncStatus == .synced)

    // A NACK that drops names, or keeps them, is not answered; the subscription follows the request.
    watch.sent(version: "2", nonce: "n3")
    #expect(
      watch.receive(versionInfo: "1", nonce: "n3", resourceNames: ["b"], errorMessage: "bad") == .nack(reason: "bad"))
    #expect(watch.requestedNames == ["b"])
  }

  @Test func wildcardNacksNeverCountAsGrowth() {
    var watch = WatchState(type: .cluster)
    _ = watch.receive(versionInfo: "", nonce: "", resourceNames: [], errorMessage: nil)
    watch.sent(version: "1", nonce: "n1")
    #expect(
      watch.receive(versionInfo: "", nonce: "n1", resourceNames: ["x"], errorMessage: "no") == .nack(reason: "no"))
  }

  @Test func staleNonceIsIgnoredEvenWithAnError() {
    var watch = WatchState(type: .route)
    _ = watch.receive(versionInfo: "", nonce: "", resourceNames: ["80"], errorMessage: nil)
    watch.sent(version: "1", nonce: "n1")
    watch.sent(version: "2", nonce: "n2")
    #expect(
      watch.receive(versionInfo: "1", nonce: "n1", resourceNames: ["80", "90"], errorMessage: nil)
        == .stale(nonce: "n1"))
    #expect(
      watch.receive(versionInfo: "", nonce: "n1", resourceNames: ["80"], errorMessage: "old") == .stale(nonce: "n1"))
    #expect(watch.requestedNames == ["80"])
    #expect(watch.lastNack == nil)
  }

  @Test func wildcardTypesIgnoreNamesOnAck() {
    var watch = WatchState(type: .listener)
    _ = watch.receive(versionInfo: "", nonce: "", resourceNames: [], errorMessage: nil)
    watch.sent(version: "1", nonce: "n1")
    #expect(watch.receive(versionInfo: "1", nonce: "n1", resourceNames: ["x"], errorMessage: nil) == .ack)
  }

  @Test func reconnectWithEmptyNonceIsInitial() {
    var watch = WatchState(type: .endpoint)
    _ = watch.receive(versionInfo: "", nonce: "", resourceNames: ["a"], errorMessage: nil)
    watch.sent(version: "1", nonce: "n1")
    #expect(watch.receive(versionInfo: "1", nonce: "", resourceNames: ["a", "z"], errorMessage: nil) == .initial)
    #expect(watch.requestedNames == ["a", "z"])
  }
}
