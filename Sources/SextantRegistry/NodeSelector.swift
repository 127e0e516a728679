import Foundation
import SextantKube

/// The `traffic.istio.io/nodeSelector` annotation of a NodePort gateway Service: whose node addresses it offers.
///
/// The value is a JSON object of node label names to values, such as `{"topology.kubernetes.io/zone": "z1"}`; a node
/// is selected when its labels hold every pair, so `{}` (or `null`) selects every node. istiod reads the same
/// annotation the same way: a value that is not an object selects every node; a pair whose value is not a string
/// stands for the empty string (Go's JSON decoding stores the zero value), so it selects only nodes whose label is
/// set to "" (usually none).
enum NodeSelector {
  static let annotation = "traffic.istio.io/nodeSelector"

  /// The selector `text` spells, and what was wrong with it, if anything (the selector is then what could be read).
  static func parse(_ text: String) -> (selector: [String: String], problem: String?) {
    let found = text.count > 80 ? "\(text.prefix(80))…" : text
    guard let parsed = try? JSONSerialization.jsonObject(with: Data(text.utf8), options: .fragmentsAllowed) else {
      return (
        [:], "expected a JSON object of node label names to values, found \"\(found)\"; every node's address is used"
      )
    }
    if parsed is NSNull { return ([:], nil) }
    guard let object = parsed as? [String: Any] else {
      return (
        [:], "expected a JSON object of node label names to values, found \"\(found)\"; every node's address is used"
      )
    }
    var selector: [String: String] = [:]
    var notStrings: [String] = []
    for key in object.keys.sorted() {
      if let value = object[key] as? String {
        selector[key] = value
      } else {
        selector[key] = ""
        notStrings.append("\"\(key)\"")
      }
    }
    guard !notStrings.isEmpty else { return (selector, nil) }
    let pairs =
      notStrings.count == 1
      ? "the value of \(notStrings[0]) is" : "the values of \(notStrings.joined(separator: ", ")) are"
    return (
      selector,
      "\(pairs) not a string (in \"\(found)\"); taken as \"\" as istiod does, selecting only nodes with that label empty"
    )
  }

  /// True when `node`'s labels hold every pair of `selector`.
  static func selects(_ selector: [String: String], _ node: Node) -> Bool {
    let labels = node.metadata.labels ?? [:]
    return selector.allSatisfy { labels[$0.key] == $0.value }
  }
}
