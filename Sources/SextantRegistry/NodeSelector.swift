import Foundation
import SextantKube

/// The `traffic.istio.io/nodeSelector` annotation of a NodePort gateway Service: whose node addresses it offers.
///
/// The value is a JSON object of node label names to values, such as `{"topology.kubernetes.io/zone": "z1"}`; a node
/// is selected when its labels hold every pair, so `{}` selects every node. istiod reads the same annotation.
enum NodeSelector {
  static let annotation = "traffic.istio.io/nodeSelector"

  /// The selector `text` spells, or a message saying what is wrong with it.
  static func parse(_ text: String) -> Result<[String: String], Invalid> {
    let found = text.count > 80 ? "\(text.prefix(80))…" : text
    guard let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
      return .failure(Invalid(message: "expected a JSON object of node label names to values, found \"\(found)\""))
    }
    var selector: [String: String] = [:]
    for key in object.keys.sorted() {
      guard let value = object[key] as? String else {
        return .failure(Invalid(message: "the value of \"\(key)\" is not a string (in \"\(found)\")"))
      }
      selector[key] = value
    }
    return .success(selector)
  }

  /// Why an annotation value is not a selector.
  struct Invalid: Error, Hashable {
    var message: String
  }

  /// True when `node`'s labels hold every pair of `selector`.
  static func selects(_ selector: [String: String], _ node: Node) -> Bool {
    let labels = node.metadata.labels ?? [:]
    return selector.allSatisfy { labels[$0.key] == $0.value }
  }
}
