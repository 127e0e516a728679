import EnvoyAPI
import Foundation
import Logging
import SextantGeneration
import SextantKube
import SextantKubeClient
import SextantPKI
import SextantRegistry
import SextantXDS
import SwiftProtobuf

/// The inputs Sextant takes from peers it does not trust, one fuzz target each.
///
/// `run(_:)` feeds one input through the same code the daemon runs on it and throws nothing: every rejection is an
/// expected outcome. A crash, a trap or a hang is a finding.
enum FuzzTarget: String, CaseIterable, Sendable {
  /// Kubernetes objects from YAML or JSON (files, API servers): `ObjectDecoder`, then a cluster view.
  case yamlObjects = "yaml-objects"
  /// A remote secret's kubeconfig under the untrusted policy, turned into a client configuration.
  case kubeconfig
  /// A serialized DiscoveryRequest: node parsing (`Proxy`) and the request state machine (`WatchState`).
  case discoveryRequest = "discovery-request"
  /// Istio Gateway and VirtualService objects through `IstioConfigParser`.
  case istioConfig = "istio-config"
  /// `--mesh-config` and `--mesh-networks` files.
  case meshConfig = "mesh-config"
  /// PEM input: a workload CSR signed by the mesh CA, and plug-in CA material.
  case pemCSR = "pem-csr"

  /// Runs one input; never throws.
  func run(_ bytes: [UInt8]) {
    switch self {
    case .yamlObjects: Self.yamlObjects(bytes)
    case .kubeconfig: Self.kubeconfig(bytes)
    case .discoveryRequest: Self.discoveryRequest(bytes)
    case .istioConfig: Self.istioConfig(bytes)
    case .meshConfig: Self.meshConfig(bytes)
    case .pemCSR: Self.pemCSR(bytes)
    }
  }

  private static func objects(_ bytes: [UInt8]) -> [KubeObject] {
    let format: ObjectDecoder.Format = bytes.first(where: { $0 > 0x20 }) == UInt8(ascii: "{") ? .json : .yaml
    return (try? ObjectDecoder().decode(bytes, path: "fuzz.\(format.rawValue)", format: format).objects) ?? []
  }

  private static func yamlObjects(_ bytes: [UInt8]) {
    let objects = objects(bytes)
    _ = ClusterRegistry.build(cluster: "fuzz", objects: ClusterObjects(objects), options: .defaults)
  }

  private static func kubeconfig(_ bytes: [UInt8]) {
    let text = String(decoding: bytes, as: UTF8.self)
    guard let config = try? Kubeconfig.parse(yaml: text, source: "fuzz", policy: .untrusted(allowing: [])) else {
      return
    }
    _ = try? config.clientConfig()
  }

  private static func discoveryRequest(_ bytes: [UInt8]) {
    guard let request = try? Envoy_Service_Discovery_V3_DiscoveryRequest(serializedBytes: bytes) else { return }
    _ = try? Proxy(node: request.node)
    let type = XDSType(rawValue: request.typeURL) ?? .cluster
    var state = WatchState(type: type)
    let error = request.hasErrorDetail ? request.errorDetail.message : nil
    for _ in 0..<2 {
      let classification = state.receive(
        versionInfo: request.versionInfo, nonce: request.responseNonce, resourceNames: request.resourceNames,
        errorMessage: error)
      if WatchState.needsResponse(classification) { state.sent(version: request.versionInfo, nonce: "n1") }
    }
  }

  private static func istioConfig(_ bytes: [UInt8]) {
    _ = IstioConfigParser.parse(ClusterObjects(objects(bytes)), cluster: "fuzz", options: .defaults)
  }

  private static func meshConfig(_ bytes: [UInt8]) {
    let text = String(decoding: bytes, as: UTF8.self)
    _ = try? MeshConfig(yaml: text, source: "fuzz")
    _ = try? MeshNetworks(yaml: text, source: "fuzz")
  }

  private static func pemCSR(_ bytes: [UInt8]) {
    let text = String(decoding: bytes, as: UTF8.self)
    if let authority = FuzzCA.authority, let identity = FuzzCA.identity {
      _ = try? authority.issueWorkloadCertificate(csrPEM: text, identity: identity, ttl: .seconds(3600))
    }
    let files = CAMaterial.PEMFiles(caCert: text, caKey: text, certChain: text, rootCert: text)
    _ = try? CAMaterial(pem: files, source: "fuzz", now: Date())
  }
}

/// One self-signed mesh CA for the CSR target, made once per process.
enum FuzzCA {
  static let authority: CertificateAuthority? = {
    guard let files = try? SelfSignedCA.makeMaterialPEM(trustDomain: "cluster.local"),
      let material = try? CAMaterial(pem: files, source: "fuzz", now: Date())
    else { return nil }
    return CertificateAuthority(material: material, logger: Logger(label: "fuzz") { _ in SwiftLogNoOpLogHandler() })
  }()
  static let identity = try? SpiffeID(trustDomain: "cluster.local", namespace: "fuzz", serviceAccount: "default")
}
