import Foundation
import Logging
import ServiceLifecycle
import SextantKubeClient
import SextantKubeSecurity
import SextantPKI
import SextantTrust

/// The mesh CA as start-up resolved it, and the services that keep it current.
struct MeshTrust {
  let meshCA: MeshCA
  /// Watchers of the CA's source (plug-in directory or `cacerts` Secret).
  var services: [any Service]
  /// Where the CA came from, for the start-up log.
  var origin: String

  /// Resolves the CA: `--ca-dir`, else (with Kubernetes) Secrets `cacerts` / `istio-ca-secret`, else the self-signed
  /// root of `--self-signed-ca-dir`, else an in-memory root. Broken material throws `StartupError` naming the file.
  static func resolve(
    settings: ControlPlane.Configuration,
    primaryClient: KubeClient?,
    logger: Logger
  ) async throws -> MeshTrust {
    let trustDomain = settings.mesh.trustDomain
    if let directory = settings.security.caDirectory {
      let material: CAMaterial
      do {
        material = try PluggedCA.load(directory: directory, logger: logger)
      } catch {
        throw StartupError(description: "--ca-dir \(error)")
      }
      let meshCA = MeshCA(CertificateAuthority(material: material, logger: logger))
      let watcher = CADirectoryWatcher(directory: directory, meshCA: meshCA, logger: logger)
      _ = watcher.check(now: Date())  // records the loaded files' hash, so the first tick does not reload them
      return MeshTrust(meshCA: meshCA, services: [watcher], origin: "plug-in files in \(directory)")
    }
    if let primaryClient {
      let secrets = KubeCASecrets(
        client: primaryClient, namespace: settings.systemNamespace, trustDomain: trustDomain, logger: logger)
      let loaded: KubeCASecrets.Loaded
      do {
        loaded = try await secrets.load()
      } catch {
        throw StartupError(description: "\(error)")
      }
      let meshCA = MeshCA(CertificateAuthority(material: loaded.material, logger: logger))
      var services: [any Service] = []
      if loaded.origin == .plugged {
        services.append(
          CacertsWatcher(
            client: primaryClient, namespace: settings.systemNamespace, current: loaded.files, logger: logger
          ) { material in
            meshCA.replace(CertificateAuthority(material: material, logger: logger))
          })
      }
      return MeshTrust(meshCA: meshCA, services: services, origin: "secret \(loaded.secret)")
    }
    let material: CAMaterial
    if let directory = settings.security.selfSignedDirectory {
      do {
        material = try SelfSignedCA.loadOrCreate(directory: directory, trustDomain: trustDomain, logger: logger)
      } catch {
        throw StartupError(description: "--self-signed-ca-dir \(error)")
      }
      return MeshTrust(
        meshCA: MeshCA(CertificateAuthority(material: material, logger: logger)),
        services: [],
        origin: "self-signed root in \(directory)"
      )
    }
    do {
      let source = "in-memory self-signed root"
      material = try CAMaterial(
        pem: SelfSignedCA.makeMaterialPEM(trustDomain: trustDomain, source: source), source: source, now: Date())
    } catch {
      throw StartupError(description: "\(error)")
    }
    logger.warning(
      "no --ca-dir, no Kubernetes and no --self-signed-ca-dir: using a self-signed root that lives only as long as this process"
    )
    return MeshTrust(
      meshCA: MeshCA(CertificateAuthority(material: material, logger: logger)),
      services: [],
      origin: "in-memory self-signed root"
    )
  }
}

/// Asks the API server of the cluster a caller names to review its token (`KubeTokenReviewer`), in the terms the
/// `Authenticator` expects.
struct ClusterTokenReviewer: TokenReviewer {
  let reviewer: KubeTokenReviewer

  func review(token: String, audiences: [String], clusterID: String) async throws(AuthenticationError)
    -> ReviewedServiceAccount
  {
    do {
      let account = try await reviewer.review(token: token, audiences: audiences, clusterID: clusterID)
      return ReviewedServiceAccount(namespace: account.namespace, serviceAccount: account.serviceAccount)
    } catch {
      switch error.code {
      case .unavailable: throw AuthenticationError(.unavailable, error.message)
      case .unknownCluster, .rejected: throw AuthenticationError(.unauthenticated, error.message)
      }
    }
  }
}

/// Shuts down a Kubernetes client at graceful shutdown (the client the trust pieces share for the primary).
struct KubeClientOwner: Service {
  let client: KubeClient

  func run() async throws {
    try? await gracefulShutdown()
    await client.shutdown()
  }
}
