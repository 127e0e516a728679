import Foundation
import Synchronization

/// Runs work that recurses as deep as its input on a thread with a large stack.
///
/// Yams (libyaml) composes documents recursively, up to libyaml's limit of 1,000 nested collections; that needs more
/// than the 512 KiB stacks of Swift's cooperative threads on macOS. Input that could nest that deep is parsed on a
/// dedicated thread with a 16 MiB stack instead; the caller blocks until it finishes, as it would have running the
/// work itself. Ordinary files never pay for the thread (see `mightNestDeeply`).
enum LargeStack {
  static let stackSize = 16 << 20

  /// Runs `work` on a new thread with a `stackSize` stack and returns its result.
  static func run<Value: Sendable>(_ work: @escaping @Sendable () -> Value) -> Value {
    let outcome = Mutex<Value?>(nil)
    let done = DispatchSemaphore(value: 0)
    let thread = Thread {
      let value = work()
      outcome.withLock { $0 = value }
      done.signal()
    }
    thread.stackSize = stackSize
    thread.start()
    done.wait()
    let value: Value? = outcome.withLock { stored in
      defer { stored = nil }
      return stored
    }
    guard let value else { preconditionFailure("the worker thread ended without a result") }
    return value
  }

  /// Whether YAML `text` could nest more than a few dozen levels, by a cheap over-estimate: the deepest bracket
  /// nesting (quotes ignored) or the deepest indentation (counting `- ` as indentation). Real Kubernetes files stay
  /// far below both thresholds.
  static func mightNestDeeply(_ text: String) -> Bool {
    var brackets = 0
    var indentation = 0
    var atLineStart = true
    for byte in text.utf8 {
      switch byte {
      case UInt8(ascii: "["), UInt8(ascii: "{"):
        brackets += 1
        if brackets > 48 { return true }
      case UInt8(ascii: "]"), UInt8(ascii: "}"):
        brackets = max(0, brackets - 1)
      case UInt8(ascii: "\n"):
        atLineStart = true
        indentation = 0
        continue
      default:
        break
      }
      if atLineStart {
        if byte == UInt8(ascii: " ") || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "\t") {
          indentation += 1
          if indentation > 96 { return true }
        } else {
          atLineStart = false
        }
      }
    }
    return false
  }
}
