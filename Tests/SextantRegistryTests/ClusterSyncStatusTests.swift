import Testing

@testable import SextantRegistry

/// The cluster sync status's transitions and what readiness and /debug/clusterz read from it (no registry, no I/O).
@Suite("ClusterSyncStatus")
struct ClusterSyncStatusTests {
  typealias Status = ClusterSyncStatus

  /// What a reader sees: the state's name, the reason, hasSynced and isSettled.
  private static func shown(_ status: Status) -> String {
    "\(status.state.rawValue) '\(status.reason)' synced=\(status.hasSynced) settled=\(status.isSettled)"
  }

  @Test func aNewClusterIsSyncingAndWaitedFor() {
    #expect(Status.initial == .syncing(.pending))
    #expect(Self.shown(.initial) == "syncing '' synced=false settled=false")
    #expect(ClusterInfo(id: "c1").syncStatus == .initial)
  }

  @Test func onlyMarkSyncedFinishesTheInitialLoad() {
    #expect(Status.initial.reported(.synced) == .syncing(.pending))
    #expect(Status.initial.markedSynced() == .synced)
    #expect(Self.shown(.synced) == "synced '' synced=true settled=true")
    #expect(Status.timedOut(.abandoned).markedSynced() == .synced)
    #expect(Status.error(reason: "x", .pending).markedSynced() == .synced)
  }

  @Test func reportsKeepTheInitialLoadsProgress() {
    let synced = Status.synced
    #expect(synced.reported(.error, reason: "connection refused") == .error(reason: "connection refused", .done))
    #expect(Self.shown(synced.reported(.error, reason: "refused")) == "error 'refused' synced=true settled=true")
    #expect(synced.reported(.error, reason: "r").reported(.synced) == .synced)
    #expect(synced.reported(.syncing) == .syncing(.done))
    #expect(synced.reported(.closed) == .closed(.done))
    #expect(synced.reported(.timeout) == .timedOut(.done))

    let pending = Status.initial
    #expect(pending.reported(.error, reason: "r") == .error(reason: "r", .pending))
    #expect(Self.shown(pending.reported(.error, reason: "r")) == "error 'r' synced=false settled=false")
    #expect(pending.reported(.closed) == .closed(.pending))
    #expect(pending.reported(.timeout) == .timedOut(.pending))

    let abandoned = Status.timedOut(.abandoned)
    #expect(abandoned.reported(.syncing) == .syncing(.abandoned))
    #expect(Self.shown(.syncing(.abandoned)) == "syncing '' synced=false settled=true")
    #expect(abandoned.reported(.synced) == .syncing(.abandoned))
    #expect(abandoned.reported(.error, reason: "r") == .error(reason: "r", .abandoned))
  }

  @Test func aReasonIsKeptOnlyInError() {
    #expect(Status.initial.reported(.syncing, reason: "ignored").reason == "")
    #expect(Status.initial.reported(.closed, reason: "ignored").reason == "")
    #expect(Status.error(reason: "r", .done).reported(.syncing).reason == "")
  }

  @Test func expiringTheWaitSettlesAClusterThatHasNotSynced() {
    #expect(Status.initial.expiringInitialWait() == .timedOut(.abandoned))
    #expect(Self.shown(.timedOut(.abandoned)) == "timeout '' synced=false settled=true")
    #expect(Status.error(reason: "exec", .pending).expiringInitialWait() == .error(reason: "exec", .abandoned))
    #expect(Status.closed(.pending).expiringInitialWait() == .closed(.abandoned))
    #expect(Status.timedOut(.pending).expiringInitialWait() == .timedOut(.abandoned))
  }

  @Test func expiringTheWaitAgainOrAfterTheInitialLoadChangesNothing() {
    let unchanged: [Status] = [
      .synced, .syncing(.done), .error(reason: "r", .done), .closed(.done), .timedOut(.done),
      .syncing(.abandoned), .timedOut(.abandoned), .error(reason: "r", .abandoned), .closed(.abandoned),
    ]
    for status in unchanged { #expect(status.expiringInitialWait() == nil, "\(status)") }
  }

  @Test func clusterInfoReadsTheStatus() {
    let info = ClusterInfo(id: "c1", syncStatus: .error(reason: "refused", .abandoned))
    #expect(info.state == .error)
    #expect(info.reason == "refused")
    #expect(!info.hasSynced)
    #expect(info.isSettled)
  }
}
