import SextantKube

extension Locality {
  /// The locality a pod's `topology.istio.io/locality` or `istio-locality` label gives, as istiod reads it.
  ///
  /// The value is `region.zone.subzone` (Kubernetes label values cannot hold `/`); a value already containing `/` is
  /// taken as `region/zone/subzone`. Missing parts are empty; parts past the third are ignored.
  package init(istioLabel value: String) {
    let separator: Character = value.contains("/") ? "/" : "."
    let parts = value.split(separator: separator, omittingEmptySubsequences: false).map(String.init)
    self.init(
      region: parts.first ?? "",
      zone: parts.count > 1 ? parts[1] : "",
      subzone: parts.count > 2 ? parts[2] : ""
    )
  }

  /// The locality of a Node from its topology labels (GA names first, then the `failure-domain.beta` ones); nil
  /// when the node has none of them.
  package init?(node: Node) {
    let labels = node.metadata.labels ?? [:]
    func value(_ names: String...) -> String {
      for name in names { if let v = labels[name], !v.isEmpty { return v } }
      return ""
    }
    let region = value(WellKnownLabels.region, WellKnownLabels.legacyRegion)
    let zone = value(WellKnownLabels.zone, WellKnownLabels.legacyZone)
    let subzone = value(WellKnownLabels.subzone)
    if region.isEmpty && zone.isEmpty && subzone.isEmpty { return nil }
    self.init(region: region, zone: zone, subzone: subzone)
  }

  /// True when region, zone and subzone are all empty.
  package var isEmpty: Bool { region.isEmpty && zone.isEmpty && subzone.isEmpty }
}
