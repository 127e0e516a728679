import Foundation
import Testing

@testable import SextantGeneration
@testable import SextantXDS

/// The delta state machine without I/O: subscriptions, held versions, ACK/NACK per nonce, what a response carries.
@Suite struct DeltaWatchStateTests {
  typealias Request = DeltaWatchState.Request

  static func resources(_ pairs: [(String, String)]) -> [(name: String, version: String)] {
    pairs.map { (name: $0.0, version: $0.1) }
  }

  @Test func firstEmptyOrStarRequestIsWildcardForCDSAndLDSOnly() {
    for subscribe in [[], ["*"]] {
      var cds = DeltaWatchState(type: .cluster)
      let classification = cds.receive(Request(subscribe: subscribe))
      #expect(classification.initial)
      #expect(classification.answer == .everything)
      #expect(cds.wildcard)
      #expect(cds.names.isEmpty)
      #expect(cds.isSubscribed("anything"))
    }
    var eds = DeltaWatchState(type: .endpoint)
    _ = eds.receive(Request(subscribe: []))
    #expect(!eds.wildcard)
    #expect(!eds.isSubscribed("outbound|80||a"))

    var named = DeltaWatchState(type: .listener)
    _ = named.receive(Request(subscribe: ["a"]))
    #expect(!named.wildcard)
    #expect(named.isSubscribed("a") && !named.isSubscribed("b"))
  }

  @Test func subscribeAndUnsubscribeOnALiveStream() {
    var eds = DeltaWatchState(type: .endpoint)
    _ = eds.receive(Request(subscribe: ["a"]))
    eds.sent(nonce: "1", systemVersion: "5", resources: ["a": "va"], removed: [])
    _ = eds.receive(Request(nonce: "1"))

    let grew = eds.receive(Request(subscribe: ["b"]))
    #expect(!grew.initial)
    #expect(grew.subscribed == ["b"])
    #expect(grew.answer == .names(["b"]))
    #expect(eds.requestedNames == ["a", "b"])

    let shrank = eds.receive(Request(unsubscribe: ["a"]))
    #expect(shrank.unsubscribed == ["a"])
    #expect(shrank.answer == nil)
    #expect(eds.requestedNames == ["b"])
    // The proxy dropped `a`: it is neither held nor removed later.
    #expect(eds.expectedVersion(of: "a") == nil)
    #expect(eds.changes(current: [], scope: .everything).remove.isEmpty)

    // Unsubscribing a name never subscribed changes nothing.
    #expect(eds.receive(Request(unsubscribe: ["zzz"])).unsubscribed.isEmpty)
  }

  @Test func initialVersionsAreHeldAndUnchangedResourcesAreNotResent() {
    var cds = DeltaWatchState(type: .cluster)
    let classification = cds.receive(Request(initialVersions: ["a": "v1", "b": "v1"]))
    #expect(classification.declaredVersions == 2)
    let changes = cds.changes(
      current: Self.resources([("a", "v1"), ("b", "v2"), ("c", "v1")]), scope: .everything)
    #expect(changes.send == ["b", "c"])
    #expect(changes.remove.isEmpty)

    // Initial versions of names outside an explicit subscription are not held.
    var eds = DeltaWatchState(type: .endpoint)
    _ = eds.receive(Request(subscribe: ["a"], initialVersions: ["a": "v1", "x": "v1"]))
    #expect(eds.expectedVersion(of: "a") == "v1")
    #expect(eds.expectedVersion(of: "x") == nil)
  }

  @Test func heldResourcesThatDisappearAreRemovedAndUnknownOnesAreNot() {
    var cds = DeltaWatchState(type: .cluster)
    _ = cds.receive(Request())
    cds.sent(nonce: "1", systemVersion: "1", resources: ["a": "v1", "b": "v1"], removed: [])
    let wildcard = cds.changes(current: Self.resources([("a", "v1")]), scope: .everything)
    #expect(wildcard.send.isEmpty)
    #expect(wildcard.remove == ["b"])

    var eds = DeltaWatchState(type: .endpoint)
    _ = eds.receive(Request(subscribe: ["a", "b", "never"]))
    eds.sent(nonce: "1", systemVersion: "1", resources: ["a": "v1", "b": "v1"], removed: [])
    // `never` does not exist and was never sent: nothing is said about it.
    let named = eds.changes(current: Self.resources([("a", "v1")]), scope: .everything)
    #expect(named.remove == ["b"])
    let touched = eds.changes(current: [], scope: .names(["a", "never"]))
    #expect(touched.remove == ["a"])
    #expect(touched.send.isEmpty)
  }

  @Test func ackMakesVersionsHeldAndNackKeepsThePreviousOnes() {
    var cds = DeltaWatchState(type: .cluster)
    _ = cds.receive(Request())
    cds.sent(nonce: "1", systemVersion: "1", resources: ["a": "v1"], removed: [])
    #expect(cds.syncStatus == .stale)
    #expect(cds.receive(Request(nonce: "1")).acknowledgement == .ack(nonce: "1"))
    #expect(cds.acked == ["a": "v1"])
    #expect(cds.syncStatus == .synced)

    cds.sent(nonce: "2", systemVersion: "2", resources: ["a": "v2"], removed: [])
    // While pending, the proxy is expected to hold v2: an unchanged v2 is not sent again.
    #expect(cds.expectedVersion(of: "a") == "v2")
    let nack = cds.receive(Request(nonce: "2", errorMessage: "bad cluster"))
    #expect(nack.acknowledgement == .nack(nonce: "2", reason: "bad cluster"))
    #expect(nack.answer == nil)
    #expect(cds.expectedVersion(of: "a") == "v1")
    #expect(cds.lastNack == "bad cluster")
    #expect(cds.syncStatus == .error)
    #expect(cds.changes(current: Self.resources([("a", "v2")]), scope: .everything).send == ["a"])

    cds.sent(nonce: "3", systemVersion: "3", resources: ["a": "v3"], removed: [])
    #expect(cds.receive(Request(nonce: "3")).acknowledgement == .ack(nonce: "3"))
    #expect(cds.lastNack == nil)
    #expect(cds.acked == ["a": "v3"])
    #expect(cds.syncView.ackedVersion == "3")
    #expect(cds.syncView.syncStatus == .synced)
  }

  @Test func staleNoncesAreIgnoredButTheirSubscriptionChangesApply() {
    var eds = DeltaWatchState(type: .endpoint)
    _ = eds.receive(Request(subscribe: ["a"]))
    eds.sent(nonce: "1", systemVersion: "1", resources: ["a": "v1"], removed: [])
    _ = eds.receive(Request(nonce: "1"))
    let stale = eds.receive(Request(subscribe: ["b"], nonce: "1", errorMessage: "late"))
    #expect(stale.acknowledgement == .stale(nonce: "1"))
    #expect(stale.answer == .names(["b"]))
    #expect(eds.lastNack == nil)
    #expect(eds.acked == ["a": "v1"])
  }

  @Test func anAckAcceptsEarlierPendingResponsesToo() {
    var eds = DeltaWatchState(type: .endpoint)
    _ = eds.receive(Request(subscribe: ["a", "b"]))
    eds.sent(nonce: "1", systemVersion: "1", resources: ["a": "v1"], removed: [])
    eds.sent(nonce: "2", systemVersion: "2", resources: ["b": "v1"], removed: [])
    _ = eds.receive(Request(nonce: "2"))
    #expect(eds.acked == ["a": "v1", "b": "v1"])
    #expect(eds.pending.isEmpty)
    #expect(eds.receive(Request(nonce: "1")).acknowledgement == .stale(nonce: "1"))
  }

  @Test func unansweredResponsesAreBounded() {
    var eds = DeltaWatchState(type: .endpoint)
    _ = eds.receive(Request(subscribe: ["a"]))
    for index in 0..<(DeltaWatchState.maximumPending + 5) {
      eds.sent(nonce: "\(index)", systemVersion: "\(index)", resources: ["a": "v\(index)"], removed: [])
    }
    #expect(eds.pending.count == DeltaWatchState.maximumPending)
    #expect(eds.receive(Request(nonce: "0")).acknowledgement == .stale(nonce: "0"))
    let last = "\(DeltaWatchState.maximumPending + 4)"
    #expect(eds.receive(Request(nonce: last)).acknowledgement == .ack(nonce: last))
    #expect(eds.acked == ["a": "v\(last)"])
  }

  @Test func subscribingAgainResendsAndRemovalsAreForgotten() {
    var eds = DeltaWatchState(type: .endpoint)
    _ = eds.receive(Request(subscribe: ["a"]))
    eds.sent(nonce: "1", systemVersion: "1", resources: ["a": "v1"], removed: [])
    _ = eds.receive(Request(nonce: "1"))
    _ = eds.receive(Request(subscribe: ["a"]))
    #expect(eds.changes(current: Self.resources([("a", "v1")]), scope: .names(["a"])).send == ["a"])

    eds.sent(nonce: "2", systemVersion: "2", resources: [:], removed: ["a"])
    _ = eds.receive(Request(nonce: "2"))
    #expect(eds.acked.isEmpty)
    #expect(eds.changes(current: [], scope: .everything).remove.isEmpty)
  }

  @Test func forcedNamesAreSentAtAnUnchangedVersion() {
    var eds = DeltaWatchState(type: .endpoint)
    _ = eds.receive(Request(subscribe: ["a", "b"], initialVersions: ["a": "v1", "b": "v1"]))
    let changes = eds.changes(current: Self.resources([("a", "v1"), ("b", "v1")]), scope: .everything, force: ["b"])
    #expect(changes.send == ["b"])
  }

  @Test func wildcardCanBeTurnedOffAndOn() {
    var cds = DeltaWatchState(type: .cluster)
    _ = cds.receive(Request(subscribe: ["*", "a"]))
    cds.sent(nonce: "1", systemVersion: "1", resources: ["a": "v1", "b": "v1"], removed: [])
    _ = cds.receive(Request(nonce: "1"))
    _ = cds.receive(Request(unsubscribe: ["*"]))
    #expect(!cds.wildcard)
    #expect(cds.expectedVersion(of: "b") == nil)
    #expect(cds.expectedVersion(of: "a") == "v1")
    let on = cds.receive(Request(subscribe: ["*"]))
    #expect(on.answer == .everything)
    #expect(cds.wildcard)

    // EDS has no wildcard: `*` is ignored.
    var eds = DeltaWatchState(type: .endpoint)
    _ = eds.receive(Request(subscribe: ["a"]))
    #expect(eds.receive(Request(subscribe: ["*"])).answer == nil)
    #expect(!eds.wildcard)
  }

  @Test func versionsComeFromTheSerializedBytes() throws {
    var one = SerializedResource(name: "x", resource: .init())
    #expect(one.version.count == 16)
    var any = one.resource
    any.typeURL = XDSType.cluster.rawValue
    any.value = Data([1, 2, 3])
    one = SerializedResource(name: "x", resource: any)
    let same = SerializedResource(name: "other name", resource: any)
    #expect(one.version == same.version)
    any.value = Data([1, 2, 4])
    #expect(SerializedResource(name: "x", resource: any).version != one.version)
    #expect(SerializedResource.version(of: .init()) == "cbf29ce484222325")
  }
}
