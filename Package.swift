// swift-tools-version:6.2
import PackageDescription

/// Sextant: a multi-cluster service-mesh control plane that speaks Envoy xDS and keeps Istio's conventions.
///
/// Modules, in the order data flows (Docs/architecture.md has the picture and one sentence for each):
/// - EnvoyAPI, EnvoyServices, IstioAPI: Swift generated from Protos/ (never edited by hand): Envoy's messages, Envoy's
///   gRPC services (ADS, CSDS), Istio's CA service.
/// - SextantBase: small value types every module shares (durations, IP addresses, hashing).
/// - SextantKube: the Kubernetes object model and its decoding from YAML and JSON.
/// - SextantKubeClient: talks to Kubernetes API servers (kubeconfig, HTTPS, list/watch informers).
/// - SextantSources: which clusters exist and one source for each (files, primary, remote secrets), feeding the registry.
/// - SextantRegistry: per-cluster views merged into immutable mesh snapshots.
/// - SextantPKI: the mesh CA, certificate issuance, SPIFFE identities and chain checks (no I/O beyond files).
/// - SextantTrust: mesh trust on the wire: the secure port's TLS listener, serving certificate, authentication and CA service.
/// - SextantKubeSecurity: CA Secrets and TokenReview in Kubernetes.
/// - SextantGeneration: Envoy resources as pure functions of (snapshot, proxy view), and their cache keys.
/// - SextantXDS: the push pipeline and the ADS streams that serve generated resources.
/// - SextantAdmin: readiness, debug and metrics HTTP endpoints.
/// - SextantAdmission: admission decisions as pure functions (AdmissionReview, sidecar injection, config validation).
/// - SextantWebhook: the admission webhook's HTTPS listener (15017): certificates by SNI, limits, routes.
/// - SextantControlPlane: the ControlPlane service that wires all of the above from one Configuration.
/// - sextant: the command line (argument and environment parsing only).
/// - sextant-bench, sextant-load: development tools (in-process timings; a load run against a real sextant).
/// - sextant-fuzz: libFuzzer targets for untrusted input (Scripts/fuzz.sh), and their corpus replay.
let package = Package(
  name: "sextant",
  platforms: [.macOS(.v15)],
  products: [
    .executable(name: "sextant", targets: ["sextant"])
  ],
  dependencies: [
    .package(url: "https://github.com/apple/swift-protobuf.git", exact: "1.39.0"),
    .package(url: "https://github.com/grpc/grpc-swift-2.git", exact: "2.4.3"),
    .package(url: "https://github.com/grpc/grpc-swift-protobuf.git", exact: "2.4.1"),
    .package(url: "https://github.com/grpc/grpc-swift-nio-transport.git", exact: "2.9.2"),
    .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
    .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
    .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
    .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
    .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
    .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
    .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
    .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
    .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
    .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
    .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
    .package(url: "https://github.com/apple/swift-certificates.git", from: "1.21.1"),
    .package(url: "https://github.com/apple/swift-asn1.git", from: "1.7.4"),
    .package(url: "https://github.com/hummingbird-project/swift-mustache.git", from: "2.1.1"),
  ],
  targets: [
    .target(
      name: "EnvoyAPI",
      dependencies: [.product(name: "SwiftProtobuf", package: "swift-protobuf")],
      exclude: ["README.md"]
    ),
    .target(
      name: "EnvoyServices",
      dependencies: [
        "EnvoyAPI",
        .product(name: "SwiftProtobuf", package: "swift-protobuf"),
        .product(name: "GRPCCore", package: "grpc-swift-2"),
        .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
      ]
    ),
    .target(
      name: "IstioAPI",
      dependencies: [
        .product(name: "SwiftProtobuf", package: "swift-protobuf"),
        .product(name: "GRPCCore", package: "grpc-swift-2"),
        .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
      ]
    ),
    .target(name: "SextantBase"),
    .target(
      name: "SextantKube",
      dependencies: [
        "SextantBase",
        .product(name: "Yams", package: "Yams"),
        .product(name: "Logging", package: "swift-log"),
      ]
    ),
    .target(
      name: "SextantKubeClient",
      dependencies: [
        "SextantBase",
        "SextantKube",
        .product(name: "AsyncHTTPClient", package: "async-http-client"),
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOHTTP1", package: "swift-nio"),
        .product(name: "NIOSSL", package: "swift-nio-ssl"),
        .product(name: "Crypto", package: "swift-crypto"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "Yams", package: "Yams"),
      ]
    ),
    .target(
      name: "SextantRegistry",
      dependencies: [
        "SextantBase",
        "SextantKube",
        .product(name: "Logging", package: "swift-log"),
        .product(name: "Yams", package: "Yams"),
      ]
    ),
    .target(
      name: "SextantSources",
      dependencies: [
        "SextantBase",
        "SextantKube",
        "SextantKubeClient",
        "SextantRegistry",
        .product(name: "Logging", package: "swift-log"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
      ]
    ),
    .target(
      name: "SextantPKI",
      dependencies: [
        "SextantBase",
        .product(name: "X509", package: "swift-certificates"),
        .product(name: "SwiftASN1", package: "swift-asn1"),
        .product(name: "Crypto", package: "swift-crypto"),
        .product(name: "_CryptoExtras", package: "swift-crypto"),
        .product(name: "Logging", package: "swift-log"),
      ]
    ),
    .target(
      name: "SextantTrust",
      dependencies: [
        "IstioAPI",
        "SextantBase",
        "SextantPKI",
        .product(name: "X509", package: "swift-certificates"),
        .product(name: "Crypto", package: "swift-crypto"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "Metrics", package: "swift-metrics"),
        .product(name: "GRPCCore", package: "grpc-swift-2"),
        .product(name: "GRPCNIOTransportHTTP2Posix", package: "grpc-swift-nio-transport"),
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOPosix", package: "swift-nio"),
        .product(name: "NIOSSL", package: "swift-nio-ssl"),
        .product(name: "NIOTLS", package: "swift-nio"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
      ]
    ),
    .target(
      name: "SextantKubeSecurity",
      dependencies: [
        "SextantPKI",
        "SextantKubeClient",
        .product(name: "Logging", package: "swift-log"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
      ]
    ),
    .target(
      name: "SextantGeneration",
      dependencies: [
        "EnvoyAPI",
        "SextantBase",
        "SextantRegistry",
        "SextantPKI",
        .product(name: "SwiftProtobuf", package: "swift-protobuf"),
      ]
    ),
    .target(
      name: "SextantXDS",
      dependencies: [
        "EnvoyAPI",
        "EnvoyServices",
        "SextantGeneration",
        "SextantRegistry",
        "SextantPKI",
        .product(name: "SwiftProtobuf", package: "swift-protobuf"),
        .product(name: "GRPCCore", package: "grpc-swift-2"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "Metrics", package: "swift-metrics"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
      ]
    ),
    .target(
      name: "SextantAdmin",
      dependencies: [
        "SextantGeneration",
        "SextantRegistry",
        "SextantXDS",
        .product(name: "Hummingbird", package: "hummingbird"),
        .product(name: "Logging", package: "swift-log"),
      ]
    ),
    .target(
      name: "SextantAdmission",
      dependencies: [
        "SextantBase",
        "SextantKube",
        "SextantRegistry",
        .product(name: "Mustache", package: "swift-mustache"),
        .product(name: "Logging", package: "swift-log"),
      ]
    ),
    .target(
      name: "SextantWebhook",
      dependencies: [
        "SextantAdmission",
        "SextantTrust",
        .product(name: "Hummingbird", package: "hummingbird"),
        .product(name: "HummingbirdTLS", package: "hummingbird"),
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOSSL", package: "swift-nio-ssl"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
      ]
    ),
    .target(
      name: "SextantControlPlane",
      dependencies: [
        "SextantAdmin",
        "SextantAdmission",
        "SextantWebhook",
        "SextantBase",
        "SextantGeneration",
        "SextantKube",
        "SextantKubeClient",
        "SextantKubeSecurity",
        "SextantPKI",
        "SextantRegistry",
        "SextantSources",
        "SextantTrust",
        "SextantXDS",
        .product(name: "GRPCCore", package: "grpc-swift-2"),
        .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
      ]
    ),
    .executableTarget(
      name: "sextant",
      dependencies: [
        "SextantBase",
        "SextantControlPlane",
        "SextantGeneration",
        "SextantKubeClient",
        "SextantRegistry",
        "SextantXDS",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "Metrics", package: "swift-metrics"),
        .product(name: "Prometheus", package: "swift-prometheus"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
      ]
    ),
    .executableTarget(
      name: "sextant-bench",
      dependencies: [
        "SextantControlPlane",
        "SextantBase",
        "SextantKube",
        "SextantRegistry",
        "SextantPKI",
        "SextantGeneration",
        .product(name: "Logging", package: "swift-log"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
      ]
    ),
    .executableTarget(
      name: "sextant-load",
      dependencies: [
        "EnvoyAPI",
        "EnvoyServices",
        "SextantBase",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
        .product(name: "AsyncHTTPClient", package: "async-http-client"),
        .product(name: "GRPCCore", package: "grpc-swift-2"),
        .product(name: "GRPCNIOTransportHTTP2Posix", package: "grpc-swift-nio-transport"),
        .product(name: "SwiftProtobuf", package: "swift-protobuf"),
      ]
    ),
    .executableTarget(
      name: "sextant-fuzz",
      dependencies: [
        "EnvoyAPI",
        "SextantGeneration",
        "SextantKube",
        "SextantKubeClient",
        "SextantPKI",
        "SextantRegistry",
        "SextantXDS",
        .product(name: "Logging", package: "swift-log"),
        .product(name: "SwiftProtobuf", package: "swift-protobuf"),
      ]
    ),
    .target(
      name: "SextantTestSupport",
      dependencies: [.product(name: "Logging", package: "swift-log")],
      path: "Tests/SextantTestSupport"
    ),
    .testTarget(
      name: "SextantKubeTests",
      dependencies: [
        "SextantKube", "SextantSources", "SextantRegistry", "SextantTestSupport",
        .product(name: "Logging", package: "swift-log"),
      ],
      resources: [.copy("Fixtures")]
    ),
    .testTarget(
      name: "SextantXDSTests",
      dependencies: [
        "SextantXDS", "SextantGeneration", "SextantRegistry", "SextantKube", "EnvoyAPI", "EnvoyServices", "SextantPKI",
        "SextantTestSupport",
        .product(name: "GRPCInProcessTransport", package: "grpc-swift-2"),
      ],
      exclude: ["Golden"]
    ),
    .testTarget(
      name: "SextantKubeClientTests",
      dependencies: ["SextantKubeClient", "SextantKube", "SextantSources", "SextantRegistry", "SextantTestSupport"],
      resources: [.copy("Fixtures")]
    ),
    .testTarget(
      name: "SextantSecurityTests",
      dependencies: [
        "SextantBase",
        "SextantPKI",
        "SextantTrust",
        "IstioAPI",
        "SextantTestSupport",
        .product(name: "GRPCCore", package: "grpc-swift-2"),
        .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOPosix", package: "swift-nio"),
        .product(name: "NIOSSL", package: "swift-nio-ssl"),
        .product(name: "X509", package: "swift-certificates"),
        .product(name: "SwiftASN1", package: "swift-asn1"),
        .product(name: "Crypto", package: "swift-crypto"),
        .product(name: "_CryptoExtras", package: "swift-crypto"),
        .product(name: "Logging", package: "swift-log"),
      ]
    ),
    .testTarget(
      name: "SextantKubeSecurityTests",
      dependencies: [
        "SextantKubeSecurity", "SextantPKI", "SextantKubeClient", "SextantTestSupport",
        .product(name: "Logging", package: "swift-log"),
      ]
    ),
    .testTarget(
      name: "SextantControlPlaneTests",
      dependencies: [
        "SextantControlPlane", "EnvoyAPI", "EnvoyServices", "SextantTestSupport",
        .product(name: "AsyncHTTPClient", package: "async-http-client"),
        .product(name: "GRPCCore", package: "grpc-swift-2"),
        .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        .product(name: "SwiftProtobuf", package: "swift-protobuf"),
      ]
    ),
    .testTarget(
      name: "SextantSourcesTests",
      dependencies: [
        "SextantSources", "SextantRegistry", "SextantKube", "SextantKubeClient", "SextantTestSupport",
        .product(name: "Logging", package: "swift-log"),
      ]
    ),
    .testTarget(
      name: "SextantAdminTests",
      dependencies: [
        "SextantAdmin", "SextantRegistry", "SextantXDS", "SextantGeneration", "SextantKube", "SextantTestSupport",
        .product(name: "HummingbirdTesting", package: "hummingbird"),
      ]
    ),
    .testTarget(
      name: "SextantAdmissionTests",
      dependencies: [
        "SextantAdmission", "SextantKube", "SextantRegistry", "SextantTestSupport",
        .product(name: "Logging", package: "swift-log"),
      ]
    ),
    .testTarget(
      name: "SextantWebhookTests",
      dependencies: [
        "SextantWebhook", "SextantAdmission", "SextantTrust", "SextantPKI", "SextantTestSupport",
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOPosix", package: "swift-nio"),
        .product(name: "NIOSSL", package: "swift-nio-ssl"),
        .product(name: "NIOHTTP1", package: "swift-nio"),
        .product(name: "Logging", package: "swift-log"),
      ]
    ),
    .testTarget(
      name: "SextantRegistryTests",
      dependencies: ["SextantBase", "SextantRegistry", "SextantKube", "SextantSources", "SextantTestSupport"]
    ),
  ],
  swiftLanguageModes: [.v6]
)
