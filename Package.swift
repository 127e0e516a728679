// swift-tools-version:6.2
import PackageDescription

/// Sextant: a multi-cluster service-mesh control plane that speaks Envoy xDS and keeps Istio's conventions.
///
/// Module map (Docs/architecture.md explains each one):
/// - EnvoyAPI: Swift generated from Protos/ (never edited by hand).
/// - SextantKube: Kubernetes objects and the sources that watch them (files today, API servers later).
/// - SextantRegistry: per-cluster registries merged into immutable mesh snapshots.
/// - SextantXDS: config generators (pure functions) and the ADS server with its push pipeline.
/// - SextantAdmin: readiness, debug and metrics HTTP endpoints.
/// - sextant: the command line and the wiring of services.
/// - sextant-bench, sextant-load: development tools (in-process timings; a load run against a real sextant).
let package = Package(
  name: "sextant",
  platforms: [.macOS(.v15)],
  products: [
    .executable(name: "sextant", targets: ["sextant"]),
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
  ],
  targets: [
    .target(
      name: "EnvoyAPI",
      dependencies: [
        .product(name: "SwiftProtobuf", package: "swift-protobuf"),
        .product(name: "GRPCCore", package: "grpc-swift-2"),
        .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
      ],
      exclude: ["README.md"]
    ),
    .target(
      name: "SextantKube",
      dependencies: [
        .product(name: "Yams", package: "Yams"),
        .product(name: "Logging", package: "swift-log"),
      ]
    ),
    .target(
      name: "SextantKubeClient",
      dependencies: [
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
      name: "SextantSecurity",
      dependencies: [
        "EnvoyAPI",
        .product(name: "X509", package: "swift-certificates"),
        .product(name: "SwiftASN1", package: "swift-asn1"),
        .product(name: "Crypto", package: "swift-crypto"),
        .product(name: "_CryptoExtras", package: "swift-crypto"),
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
        "SextantSecurity",
        "SextantKubeClient",
        "SextantMulticluster",
        .product(name: "Logging", package: "swift-log"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
      ]
    ),
    .target(
      name: "SextantMulticluster",
      dependencies: [
        "SextantKube",
        "SextantKubeClient",
        "SextantRegistry",
        .product(name: "Logging", package: "swift-log"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
      ]
    ),
    .target(
      name: "SextantRegistry",
      dependencies: [
        "SextantKube",
        .product(name: "Logging", package: "swift-log"),
        .product(name: "Yams", package: "Yams"),
      ]
    ),
    .target(
      name: "SextantXDS",
      dependencies: [
        "EnvoyAPI",
        "SextantRegistry",
        "SextantSecurity",
        .product(name: "SwiftProtobuf", package: "swift-protobuf"),
        .product(name: "GRPCCore", package: "grpc-swift-2"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "Metrics", package: "swift-metrics"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        .product(name: "Yams", package: "Yams"),
      ]
    ),
    .target(
      name: "SextantAdmin",
      dependencies: [
        "SextantXDS",
        "SextantRegistry",
        .product(name: "Hummingbird", package: "hummingbird"),
        .product(name: "Logging", package: "swift-log"),
      ]
    ),
    .executableTarget(
      name: "sextant",
      dependencies: [
        "EnvoyAPI",
        "SextantKube",
        "SextantKubeClient",
        "SextantMulticluster",
        "SextantRegistry",
        "SextantXDS",
        "SextantAdmin",
        "SextantSecurity",
        "SextantKubeSecurity",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
        .product(name: "GRPCCore", package: "grpc-swift-2"),
        .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "Metrics", package: "swift-metrics"),
        .product(name: "Prometheus", package: "swift-prometheus"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        .product(name: "Yams", package: "Yams"),
      ]
    ),
    .executableTarget(
      name: "sextant-bench",
      dependencies: [
        "SextantKube",
        "SextantRegistry",
        "SextantSecurity",
        "SextantXDS",
        .product(name: "Logging", package: "swift-log"),
      ]
    ),
    .executableTarget(
      name: "sextant-load",
      dependencies: [
        "EnvoyAPI",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
        .product(name: "AsyncHTTPClient", package: "async-http-client"),
        .product(name: "GRPCCore", package: "grpc-swift-2"),
        .product(name: "GRPCNIOTransportHTTP2Posix", package: "grpc-swift-nio-transport"),
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
      dependencies: ["SextantKube", "SextantTestSupport", .product(name: "Logging", package: "swift-log")],
      resources: [.copy("Fixtures")]
    ),
    .testTarget(
      name: "SextantXDSTests",
      dependencies: [
        "SextantXDS", "SextantRegistry", "SextantKube", "EnvoyAPI", "SextantSecurity", "SextantTestSupport",
        .product(name: "GRPCInProcessTransport", package: "grpc-swift-2"),
      ],
      exclude: ["Golden"]
    ),
    .testTarget(
      name: "SextantKubeClientTests",
      dependencies: ["SextantKubeClient", "SextantKube", "SextantTestSupport"],
      resources: [.copy("Fixtures")]
    ),
    .testTarget(
      name: "SextantSecurityTests",
      dependencies: [
        "SextantSecurity",
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
        "SextantKubeSecurity", "SextantSecurity", "SextantKubeClient", "SextantTestSupport",
        .product(name: "Logging", package: "swift-log"),
      ]
    ),
    .testTarget(
      name: "SextantRegistryTests",
      dependencies: ["SextantRegistry", "SextantKube", "SextantTestSupport"]
    ),
  ],
  swiftLanguageModes: [.v6]
)
