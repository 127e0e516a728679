"""The secure gRPC port (TLS, ALPN h2): who may connect and what they get.

- A real Envoy with a client certificate from a mesh CA (cluster1's ECDSA or cluster2's RSA intermediate, one root)
  gets its configuration and ACKs it; one whose certificate comes from an unrelated root gets nothing.
- grpcio ADS streams: client certificate identity vs node NAMESPACE (PERMISSION_DENIED), no credentials
  (UNAUTHENTICATED), SDS `default` and `ROOTCA` on the ADS stream.
- IstioCertificateService/CreateCertificate: the leaf carries the caller's identity whatever the CSR asks for.
- Kubernetes service-account tokens (`authorization: Bearer`, audience istio-ca) checked by TokenReview against a real
  kube-apiserver 1.20, with the self-signed root Sextant keeps in Secret istio-system/istio-ca-secret.
"""

from __future__ import annotations

import base64
import datetime
import time

import grpc
import pytest
from cryptography.hazmat.primitives import serialization
from envoy.config.cluster.v3 import cluster_pb2
from envoy.extensions.transport_sockets.tls.v3 import secret_pb2

from conftest import (
    BACKEND_IPS,
    CDS,
    CLIENT_IP,
    CLIENT_NODE_ID,
    ENVOY_CONFIG_TIMEOUT,
    FQDN,
    LDS,
    client_metadata,
    discovery_request,
    free_port,
    make_node,
    outbound_cluster,
    send_request,
    wait_for_listener,
    wait_until,
    write_helloworld_clusters,
)
from kube.harness import ApiError, ApiServer, Etcd, kube_apiserver_binary
from multicluster_support import start_kube_sextant
from pki import (
    ISTIOD_SAN,
    cert_pem,
    describe,
    load_pem_chain,
    make_csr,
    signed_by,
    spiffe_id,
    uri_sans,
)
from security_support import (
    PERMISSION_DENIED,
    SDS,
    UNAUTHENTICATED,
    channel_credentials,
    create_certificate,
    envoy_live,
    envoy_xds_tls,
    metrics_mentioning,
    parse_chain,
    rpc_error,
    secure_channel,
    tls_probe,
    wait_secure_port,
)

SECOND_NODE_ID = "sidecar~127.0.0.12~client2.sample~sample.svc.cluster.local"
OUTSIDER_NODE_ID = "sidecar~127.0.0.13~outsider.sample~sample.svc.cluster.local"
RAW_NODE_ID = "sidecar~127.0.0.14~raw.sample~sample.svc.cluster.local"
CLIENT_IDENTITY = spiffe_id("sample", "client")
MAX_TTL_SECONDS = 90 * 86400


def _metadata(namespace: str) -> dict:
    metadata = client_metadata("cluster1")
    metadata["NAMESPACE"] = namespace
    return metadata


@pytest.fixture
def secure_mesh(pki, cacerts, clusters_dir, start_sextant, start_backend):
    """helloworld v1 (cluster1) and v2 (cluster2), plaintext backends; Sextant with cluster1's plug-in CA and a
    secure port. Returns (sextant, service_port)."""
    service_port = free_port([CLIENT_IP, "127.0.0.12", "127.0.0.13"])
    backend_port = free_port([BACKEND_IPS["v1"], BACKEND_IPS["v2"]])
    for version in ("v1", "v2"):
        start_backend(BACKEND_IPS[version], backend_port, f"helloworld {version}")
    write_helloworld_clusters(clusters_dir, service_port, backend_port)
    sextant = start_sextant(secure=True, ca_dir=cacerts("cluster1", pki.cluster1))
    wait_secure_port(sextant)
    return sextant, service_port


# --------------------------------------------------------------------------------------------------------------
# Real Envoys over TLS


def test_envoy_with_mesh_client_certificate_gets_config(secure_mesh, pki, start_envoy, tmp_path, figure):
    sextant, service_port = secure_mesh
    root_pem = sextant.root_pem
    listener = f"{CLIENT_IP}_{service_port}"
    cluster = outbound_cluster(service_port)
    started = time.monotonic()
    envoy = start_envoy(sextant, CLIENT_NODE_ID, "client.sample", _metadata("sample"),
                        xds_tls=envoy_xds_tls(tmp_path, "client", root_pem, pki.workload(pki.cluster1, "sample", "client")))
    watched = [envoy.process, sextant.process]
    wait_for_listener(envoy, listener, watched)
    figure("seconds from Envoy start to its first listener over TLS", round(time.monotonic() - started, 3))
    wait_until(lambda: envoy_live(envoy), ENVOY_CONFIG_TIMEOUT, "envoy admin /ready LIVE", processes=watched)
    wait_until(lambda: send_request(service_port, FQDN)[0] == 200, ENVOY_CONFIG_TIMEOUT,
               f"a request through {listener} to answer 200", processes=watched)
    assert envoy.stat("control_plane.connected_state") == 1
    assert envoy.stat(f"cluster.xds-grpc.ssl.handshake", 0) >= 1, "the xDS connection was not TLS"
    assert len(envoy.healthy_host_addresses(cluster) or []) == 2
    entry = sextant.wait_sync_status(CLIENT_NODE_ID, {t: "SYNCED" for t in ("cds", "eds", "lds", "rds")})
    assert entry["cluster_id"] == "cluster1", entry
    figure("/debug/syncz identity", entry.get("identity"))
    assert CLIENT_IDENTITY in str(entry.get("identity")), f"/debug/syncz does not show the proxy's identity: {entry}"
    rejected = {k: v for k, v in envoy.stats().items() if k.endswith("update_rejected") and v != "0"}
    assert not rejected, f"envoy rejected updates: {rejected}"

    # A certificate from cluster2's CA (RSA intermediate below the same root) is accepted as well.
    second = start_envoy(sextant, SECOND_NODE_ID, "client2.sample", _metadata("sample"),
                         xds_tls=envoy_xds_tls(tmp_path, "client2", root_pem,
                                               pki.workload(pki.cluster2, "sample", "client2", kind="rsa")))
    second_listener = f"127.0.0.12_{service_port}"
    wait_for_listener(second, second_listener, [second.process, sextant.process])
    wait_until(lambda: envoy_live(second), ENVOY_CONFIG_TIMEOUT, "envoy with a cluster2-CA certificate LIVE",
               processes=[second.process, sextant.process])
    wait_until(lambda: send_request(service_port, FQDN, address="127.0.0.12")[0] == 200, ENVOY_CONFIG_TIMEOUT,
               f"a request through {second_listener} to answer 200", processes=[second.process, sextant.process])
    sextant.wait_sync_status(SECOND_NODE_ID, {t: "SYNCED" for t in ("cds", "eds", "lds", "rds")})


def test_envoy_with_unrelated_client_certificate_gets_nothing(secure_mesh, pki, start_envoy, tmp_path, figure):
    sextant, service_port = secure_mesh
    log_offset = len(sextant.log_text())
    outsider = pki.workload(pki.other, "sample", "outsider")
    envoy = start_envoy(sextant, OUTSIDER_NODE_ID, "outsider.sample", _metadata("sample"),
                        xds_tls=envoy_xds_tls(tmp_path, "outsider", sextant.root_pem, outsider))
    watched = [envoy.process, sextant.process]
    # Envoy retries the ADS connection with backoff: once it has tried twice, the first attempt has surely failed.
    # control_plane.connected_state is sampled at every poll meanwhile. With TLS 1.3 the client's handshake completes
    # before the server checks the client certificate, so Envoy may count a stream as started (state 1) for the
    # moment until the server's alert arrives; it must not stay connected.
    connected_samples: list[int | None] = []

    def second_attempt() -> bool:
        connected_samples.append(envoy.stat("control_plane.connected_state"))
        return envoy.stat("cluster.xds-grpc.upstream_cx_total", 0) >= 2

    wait_until(second_attempt, 15.0, "envoy with an unrelated client certificate to make a second xDS connection "
               "attempt", processes=watched)
    figure("control_plane.connected_state samples while retrying (connected/total)",
           f"{sum(1 for v in connected_samples if v == 1)}/{len(connected_samples)}")
    wait_until(lambda: envoy.stat("control_plane.connected_state") == 0, 5.0,
               "envoy's control_plane.connected_state to be 0 after the refused attempts", processes=watched)
    stats = envoy.stats_matching("cluster.xds-grpc.")
    figure("envoy xds-grpc stats (unrelated client certificate)",
           {k: v for k, v in stats.items() if v and (".ssl." in k or "cx_" in k) and ".ssl.certificate." not in k})
    assert envoy.listener_names() == [], f"envoy got listeners: {envoy.listener_names()}"
    assert envoy.cluster_hosts(outbound_cluster(service_port)) is None, "envoy got helloworld's cluster"
    assert envoy.stat("cluster_manager.cds.update_success", 0) == 0
    listed = {entry.get("proxy") for entry in sextant.syncz()}
    assert OUTSIDER_NODE_ID not in listed, f"/debug/syncz lists the refused proxy: {listed}"

    # Sextant says why: sextant_xds_auth_failures_total counts it, and the log names the reason (the peer
    # verification's wording for a chain to another root: "unknown authority").
    try:
        wait_until(lambda: (sextant.metric("sextant_xds_auth_failures_total") or 0) >= 1, 5.0,
                   "sextant_xds_auth_failures_total >= 1 in /metrics", processes=[sextant.process])
        lines = wait_until(lambda: sextant.log_lines("unknown authority", since=log_offset), 5.0,
                           "a sextant log line saying the client certificate's authority is unknown",
                           processes=[sextant.process])
    finally:
        figure("sextant metrics about authentication/TLS", metrics_mentioning(sextant, "auth", "tls", "handshake"))
    figure("sextant log line", lines[0][:400])


# --------------------------------------------------------------------------------------------------------------
# grpcio over TLS: authentication and authorization


def test_ads_stream_authentication_with_client_certificates(secure_mesh, pki, secure_ads_stream, tmp_path, figure):
    sextant, service_port = secure_mesh
    root_pem = sextant.root_pem
    client = pki.workload(pki.cluster1, "sample", "client")

    good = secure_ads_stream(sextant, "cert sample/client, node NAMESPACE sample", channel_credentials(root_pem, client))
    good.send(discovery_request(CDS, node=make_node(RAW_NODE_ID, metadata=_metadata("sample"))))
    cds = good.recv(CDS)
    names = []
    for resource in cds.resources:
        message = cluster_pb2.Cluster()
        resource.Unpack(message)
        names.append(message.name)
    assert outbound_cluster(service_port) in names, names

    other_ns = secure_ads_stream(sextant, "cert sample/client, node NAMESPACE other", channel_credentials(root_pem, client))
    other_ns.send(discovery_request(CDS, node=make_node(RAW_NODE_ID.replace("sample", "other"),
                                                        metadata=_metadata("other"))))
    ended = other_ns.wait_end()
    assert ended.error is not None and ended.error.code() == PERMISSION_DENIED, (
        f"identity namespace sample vs node NAMESPACE other: {ended.error and (ended.error.code(), ended.error.details())}")
    figure("PERMISSION_DENIED details", ended.error.details())

    anonymous = secure_ads_stream(sextant, "no client certificate, no token", channel_credentials(root_pem))
    anonymous.send(discovery_request(CDS, node=make_node(RAW_NODE_ID, metadata=_metadata("sample"))))
    ended = anonymous.wait_end()
    assert ended.error is not None and ended.error.code() == UNAUTHENTICATED, (
        f"no credentials: {ended.error and (ended.error.code(), ended.error.details())}")
    figure("UNAUTHENTICATED details", ended.error.details())

    # An unrelated root's certificate fails at the TLS level: no stream, and the connection is refused after the
    # handshake (TLS 1.3: the server's alert arrives on the first read).
    outsider = pki.workload(pki.other, "sample", "client")
    refused = secure_ads_stream(sextant, "cert from an unrelated root", channel_credentials(root_pem, outsider))
    refused.send(discovery_request(CDS, node=make_node(RAW_NODE_ID, metadata=_metadata("sample"))))
    ended = refused.wait_end(timeout=10.0)
    assert ended.error is not None and ended.error.code() == grpc.StatusCode.UNAVAILABLE, (
        f"unrelated client certificate: {ended.error and (ended.error.code(), ended.error.details())}")
    probe = tls_probe(sextant.secure_grpc_port, root_pem, ISTIOD_SAN, client=outsider, tmp_path=tmp_path)
    figure("raw TLS with an unrelated client certificate", probe.handshake_error or probe.after_handshake)
    assert probe.handshake_error is not None or probe.after_handshake != "settings", (
        "the secure port accepted a TLS connection with a client certificate from an unrelated root")
    accepted = tls_probe(sextant.secure_grpc_port, root_pem, ISTIOD_SAN, client=client, tmp_path=tmp_path)
    assert accepted.handshake_error is None and accepted.after_handshake == "settings", accepted

    # The first stream is still served.
    good.send(discovery_request(LDS))
    good.recv(LDS)


def test_sds_on_the_ads_stream(secure_mesh, pki, secure_ads_stream, figure):
    sextant, _ = secure_mesh
    client = pki.workload(pki.cluster1, "sample", "client")
    stream = secure_ads_stream(sextant, "SDS for sample/client", channel_credentials(sextant.root_pem, client))
    stream.send(discovery_request(SDS, node=make_node(RAW_NODE_ID, metadata=_metadata("sample")),
                                  names=["default", "ROOTCA"]))
    secrets: dict[str, secret_pb2.Secret] = {}
    deadline = time.monotonic() + 10.0
    while set(secrets) != {"default", "ROOTCA"}:
        response = stream.recv(SDS, timeout=max(0.1, deadline - time.monotonic()))
        for resource in response.resources:
            assert resource.type_url == SDS, f"resource type {resource.type_url} in an SDS response"
            secret = secret_pb2.Secret()
            assert resource.Unpack(secret)
            secrets[secret.name] = secret
        stream.send(discovery_request(SDS, names=["default", "ROOTCA"], version_info=response.version_info,
                                      response_nonce=response.nonce))
    default = secrets["default"].tls_certificate
    chain = load_pem_chain(default.certificate_chain.inline_bytes.decode() or default.certificate_chain.inline_string)
    assert chain, "secret default has no certificate chain"
    leaf = chain[0]
    figure("SDS default leaf", describe(leaf))
    assert uri_sans(leaf) == [CLIENT_IDENTITY], describe(leaf)
    assert signed_by(leaf, pki.cluster1.cert), f"default not issued by cluster1's CA: {describe(leaf)}"
    key_text = default.private_key.inline_bytes or default.private_key.inline_string.encode()
    key = serialization.load_pem_private_key(key_text, password=None)
    assert key.public_key().public_numbers() == leaf.public_key().public_numbers(), "default's key is not the leaf's"
    validation = secrets["ROOTCA"].validation_context
    trusted = validation.trusted_ca.inline_bytes.decode() or validation.trusted_ca.inline_string
    assert [cert_pem(c) for c in load_pem_chain(trusted)] == [cert_pem(pki.root.cert)], "ROOTCA is not the mesh root"


# --------------------------------------------------------------------------------------------------------------
# CreateCertificate


def test_create_certificate_issues_for_the_caller(secure_mesh, pki, figure):
    sextant, _ = secure_mesh
    client = pki.workload(pki.cluster1, "sample", "client")
    csr, csr_key = make_csr(spiffe_id("other", "evil"))
    with secure_channel(sextant, channel_credentials(sextant.root_pem, client)) as channel:
        before = datetime.datetime.now(datetime.timezone.utc)
        chain_pems = create_certificate(channel, csr, 3600)
        chain = parse_chain(chain_pems)
        figure("cert_chain", [describe(c) for c in chain])
        leaf = chain[0]
        assert uri_sans(leaf) == [CLIENT_IDENTITY], (
            f"leaf identity must be the caller's ({CLIENT_IDENTITY}), not the CSR's: {describe(leaf)}")
        assert leaf.public_key().public_numbers() == csr_key.public_key().public_numbers(), "leaf key is not the CSR's"
        assert signed_by(leaf, pki.cluster1.cert), f"leaf not signed by ca-cert.pem: {describe(leaf)}"
        # [leaf, cert-chain.pem (ca-cert.pem ... root), root]: istiod's layout, in which cert-chain.pem's own root
        # makes the root appear twice at the end. Required: leaf first, ca-cert.pem next, the root last, nothing else.
        figure("cert_chain entries / certificates", f"{len(chain_pems)} / {len(chain)}")
        assert cert_pem(chain[1]) == cert_pem(pki.cluster1.cert), f"cert_chain[1] is not ca-cert.pem: {describe(chain[1])}"
        assert cert_pem(chain[-1]) == cert_pem(pki.root.cert), f"cert_chain does not end with the root: {describe(chain[-1])}"
        allowed = {cert_pem(pki.cluster1.cert), cert_pem(pki.root.cert)}
        strangers = [describe(c) for c in chain[1:] if cert_pem(c) not in allowed]
        assert not strangers, f"cert_chain holds certificates outside cert-chain.pem/root-cert.pem: {strangers}"
        lifetime = (leaf.not_valid_after_utc - before).total_seconds()
        assert 3600 - 120 <= lifetime <= 3600 + 120, f"leaf lives {lifetime:.0f}s for validity_duration 3600"

        # validity_duration 0: the default workload TTL (24h).
        default_leaf = parse_chain(create_certificate(channel, csr, 0))[0]
        default_lifetime = (default_leaf.not_valid_after_utc - before).total_seconds()
        assert 86400 - 600 <= default_lifetime <= 86400 + 600, f"validity 0 gave a {default_lifetime:.0f}s certificate"
        # Exactly 90 days is allowed; more is INVALID_ARGUMENT.
        assert uri_sans(parse_chain(create_certificate(channel, csr, MAX_TTL_SECONDS))[0]) == [CLIENT_IDENTITY]
        error = rpc_error(lambda: create_certificate(channel, csr, MAX_TTL_SECONDS + 86400))
        figure("TTL > 90 days", f"{error.code()}: {error.details()}")
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, (error.code(), error.details())

    with secure_channel(sextant, channel_credentials(sextant.root_pem)) as anonymous:
        error = rpc_error(lambda: create_certificate(anonymous, csr, 3600))
        assert error.code() == UNAUTHENTICATED, (error.code(), error.details())


# --------------------------------------------------------------------------------------------------------------
# Service-account tokens against a real kube-apiserver


SYSTEM_NAMESPACE = "istio-system"
CA_SECRET_PATH = f"/api/v1/namespaces/{SYSTEM_NAMESPACE}/secrets/istio-ca-secret"


@pytest.fixture(scope="module")
def kube_primary(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("kube-security")
    etcd = Etcd(workdir=workdir / "etcd")
    etcd.start()
    server = ApiServer(etcd, "/cluster1", "cluster1", workdir=workdir / "cluster1", binary=kube_apiserver_binary())
    try:
        server.start()
        for namespace in (SYSTEM_NAMESPACE, "sample"):
            server.create_namespace(namespace)
        server.apply({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "client", "namespace": "sample"}})
        yield server
    finally:
        server.close()
        etcd.close()


def _ca_secret(server: ApiServer) -> dict | None:
    try:
        return server.get(CA_SECRET_PATH)
    except ApiError as error:
        if error.status == 404:
            return None
        raise


def test_service_account_token_authentication(kube_primary, processes, sextant_bin, secure_ads_stream, start_envoy,
                                              tmp_path, figure):
    server = kube_primary
    server.delete(CA_SECRET_PATH)
    kubeconfig = server.write_kubeconfig(tmp_path / "cluster1.kubeconfig")

    def start():
        sextant = start_kube_sextant(processes, sextant_bin, kubeconfig, cluster_id="cluster1",
                                     secure_grpc_port=free_port())
        sextant.wait_ready()
        wait_secure_port(sextant)
        return sextant

    sextant = start()
    secret = wait_until(lambda: _ca_secret(server), 15.0, f"sextant to create Secret {SYSTEM_NAMESPACE}/istio-ca-secret",
                        processes=[sextant.process])
    figure("istio-ca-secret keys", sorted(secret.get("data", {})))
    assert "root-cert.pem" in secret.get("data", {}), f"istio-ca-secret has no root-cert.pem: {sorted(secret.get('data', {}))}"
    root_pem = base64.b64decode(secret["data"]["root-cert.pem"]).decode()
    (root,) = load_pem_chain(root_pem)
    figure("self-signed root in istio-ca-secret", describe(root))

    token = server.service_account_token("sample", "client", audiences=["istio-ca"])
    wrong_audience = server.service_account_token("sample", "client")  # the API server's own audience
    node = make_node("sidecar~127.0.0.21~client.sample~sample.svc.cluster.local", metadata=_metadata("sample"))
    other_node = make_node("sidecar~127.0.0.22~client.other~other.svc.cluster.local", metadata=_metadata("other"))
    credentials = channel_credentials(root_pem)

    def outcome(description, metadata, node_=node, sextant_=None):
        stream = secure_ads_stream(sextant_ or sextant, description, credentials, metadata=metadata)
        stream.send(discovery_request(CDS, node=node_))
        try:
            return stream.recv(CDS, timeout=10.0)
        except AssertionError:
            if stream.ended is not None and stream.ended.error is not None:
                return stream.ended.error.code()
            raise

    bearer = ("authorization", f"Bearer {token}")
    started = time.monotonic()
    answer = outcome("token sample/client, node NAMESPACE sample", [bearer])
    figure("seconds to the first CDS response with a token", round(time.monotonic() - started, 3))
    assert not isinstance(answer, grpc.StatusCode), f"a valid token was refused: {answer}"
    answer = outcome("token with clusterid cluster1", [bearer, ("clusterid", "cluster1")])
    assert not isinstance(answer, grpc.StatusCode), f"a valid token with clusterid cluster1 was refused: {answer}"

    results = {
        "node NAMESPACE other": outcome("token sample/client, node NAMESPACE other", [bearer], other_node),
        "no token": outcome("no token", []),
        "audience not istio-ca": outcome("token for the API server's audience",
                                         [("authorization", f"Bearer {wrong_audience}")]),
        "garbage token": outcome("garbage token", [("authorization", "Bearer not-a-token")]),
    }
    figure("stream outcomes", {k: getattr(v, "name", "responses") for k, v in results.items()})
    assert results == {
        "node NAMESPACE other": PERMISSION_DENIED,
        "no token": UNAUTHENTICATED,
        "audience not istio-ca": UNAUTHENTICATED,
        "garbage token": UNAUTHENTICATED,
    }, results

    # CreateCertificate with the token: the leaf is the token's identity, the chain ends with the stored root.
    csr, _ = make_csr(spiffe_id("sample", "someone-else"))
    with secure_channel(sextant, credentials) as channel:
        chain = parse_chain(create_certificate(channel, csr, 3600, metadata=[bearer]))
    assert uri_sans(chain[0]) == [CLIENT_IDENTITY], describe(chain[0])
    assert cert_pem(chain[-1]) == cert_pem(root), f"chain ends with {describe(chain[-1])}, not the stored root"

    # A real Envoy with only the token (gRPC initial_metadata, no client certificate) gets its configuration.
    envoy_node = "sidecar~127.0.0.23~tokenclient.sample~sample.svc.cluster.local"
    envoy = start_envoy(sextant, envoy_node, "tokenclient.sample", _metadata("sample"),
                        xds_tls=envoy_xds_tls(tmp_path, "token", root_pem, None, {"authorization": f"Bearer {token}"}))
    wait_until(lambda: envoy.stat("cluster_manager.cds.update_success", 0) >= 1
               and envoy.stat("control_plane.connected_state") == 1, ENVOY_CONFIG_TIMEOUT,
               "envoy authenticated by its token (initial_metadata) to accept a CDS update",
               processes=[envoy.process, sextant.process])
    entry = sextant.wait_sync_status(envoy_node, {"cds": "SYNCED"})
    figure("/debug/syncz identity of the token-authenticated envoy", entry.get("identity"))
    assert CLIENT_IDENTITY in str(entry.get("identity")), entry
    envoy.process.stop()

    # A restart reuses the root kept in the Secret: the old root still validates the new serving certificate.
    sextant.process.stop()
    restarted = start()
    again = _ca_secret(server)
    assert base64.b64decode(again["data"]["root-cert.pem"]).decode() == root_pem, "the restart replaced the root"
    answer = outcome("after the restart", [bearer], sextant_=restarted)
    assert not isinstance(answer, grpc.StatusCode), f"after the restart: {answer}"
    probe = tls_probe(restarted.secure_grpc_port, root_pem, ISTIOD_SAN)
    assert probe.handshake_error is None, f"the restarted server's certificate does not chain to the stored root: {probe}"
