import SextantRegistry
import SextantTestSupport
import Testing

@testable import SextantGeneration
@testable import SextantXDS

@Suite struct DebounceTests {
  func at(_ ms: Int) -> TestInstant { TestInstant(offset: .milliseconds(ms)) }
  func request(services: Bool = false, hosts: Set<String> = []) -> PushRequest {
    PushRequest(snapshot: .empty, change: SnapshotChange(services: services, endpointHostnames: hosts))
  }

  @Test func waitsForAQuietPeriodAndMergesChanges() {
    var machine = DebounceStateMachine<TestInstant>(
      config: DebounceConfig(after: .milliseconds(100), max: .seconds(10)))
    #expect(machine.deadline == nil)
    #expect(machine.receive(request(hosts: ["a"]), at: at(0)) == nil)
    #expect(machine.deadline == at(100))
    #expect(machine.receive(request(hosts: ["b"]), at: at(60)) == nil)
    #expect(machine.deadline == at(160))
    #expect(machine.fire(at: at(150)) == nil)
    let fired = machine.fire(at: at(160))
    #expect(fired?.change == SnapshotChange(services: false, endpointHostnames: ["a", "b"]))
    #expect(machine.deadline == nil)
  }

  @Test func maximumDelayBoundsAStreamOfChanges() {
    var machine = DebounceStateMachine<TestInstant>(
      config: DebounceConfig(after: .milliseconds(100), max: .milliseconds(250)))
    _ = machine.receive(request(hosts: ["a"]), at: at(0))
    _ = machine.receive(request(services: true), at: at(90))
    _ = machine.receive(request(hosts: ["c"]), at: at(180))
    #expect(machine.deadline == at(250))
    let fired = machine.fire(at: at(250))
    #expect(fired?.change.services == true)
    #expect(fired?.change.endpointHostnames == ["a", "c"])
  }

  @Test func endpointChangesBypassDebounceWhenDisabled() {
    var machine = DebounceStateMachine<TestInstant>(
      config: DebounceConfig(after: .milliseconds(100), max: .seconds(10), debounceEndpoints: false)
    )
    #expect(machine.receive(request(hosts: ["a"]), at: at(0))?.change.endpointHostnames == ["a"])
    #expect(machine.deadline == nil)
    #expect(machine.receive(request(services: true), at: at(5)) == nil)
    #expect(machine.deadline == at(105))
  }

  @Test func mergingNeverGoesBackToAnOlderSnapshot() {
    let older = MeshSnapshot.empty.replacing(networks: .empty, version: 5)
    let newer = MeshSnapshot.empty.replacing(networks: .empty, version: 6)
    var request = PushRequest(snapshot: newer, change: SnapshotChange(services: false, endpointHostnames: ["a"]))
    request.merge(PushRequest(snapshot: older, change: SnapshotChange(services: true, endpointHostnames: ["b"])))
    #expect(request.snapshot.version == 6)
    #expect(request.change == SnapshotChange(services: true, endpointHostnames: ["a", "b"]))
    request.merge(PushRequest(snapshot: MeshSnapshot.empty.replacing(networks: .empty, version: 7), change: .init()))
    #expect(request.snapshot.version == 7)

    let pushed = PushedSnapshot(newer)
    pushed.set(older)
    #expect(pushed.snapshot.version == 6)
  }
}

extension PushRequest: Equatable {
  public static func == (lhs: PushRequest, rhs: PushRequest) -> Bool {
    lhs.change == rhs.change && lhs.snapshot.version == rhs.snapshot.version
  }
}
