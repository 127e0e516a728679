/// An instant that is only an offset from an arbitrary zero, for hand-driven clocks and deadline state machines.
///
/// It never reads real time: tests build instants with `TestInstant(offset:)` and compare or advance them; two
/// instants are equal when their offsets are.
public struct TestInstant: InstantProtocol {
  /// How far this instant is from zero.
  public var offset: Duration

  /// The instant `offset` from zero.
  public init(offset: Duration) { self.offset = offset }

  public func advanced(by duration: Duration) -> TestInstant { TestInstant(offset: offset + duration) }
  public func duration(to other: TestInstant) -> Duration { other.offset - offset }
  public static func < (lhs: TestInstant, rhs: TestInstant) -> Bool { lhs.offset < rhs.offset }
}
