"""Mutual TLS on the data path with two file-backed clusters and two real Envoys, both configured over the secure port.

cluster1: the client sidecar (node 127.0.0.10, identity sample/client, its xDS client certificate from cluster1's CA).
cluster2: helloworld, one pod (label security.istio.io/tlsMode=istio, serviceAccountName helloworld) at 127.0.0.3 whose
sidecar is a second Envoy (node IP 127.0.0.3, INTERCEPTION_MODE NONE, xDS client certificate from cluster2's CA with
identity sample/helloworld) in front of backend.py on 127.0.0.1:APP_PORT. Sextant signs with cluster1's CA; both
intermediates share the root, so both Envoys are accepted.

Expected config: the client's cluster outbound|PORT||helloworld... uses ISTIO_MUTUAL for the tlsMode=istio endpoint
(SNI outbound_.PORT_._.HOST, SAN spiffe://cluster.local/ns/sample/sa/helloworld, SDS default/ROOTCA over ADS); the
endpoint Envoy gets inbound listener 127.0.0.3_APP_PORT terminating mTLS and forwarding to 127.0.0.1:APP_PORT.

Negative: the endpoint Envoy is replaced by one configured by a second Sextant whose CA is an unrelated root (same
cluster files): its certificate does not chain to the client's ROOTCA, so requests fail and the client's SSL failure
counters grow.
"""

from __future__ import annotations

import json
import time

import pytest
from envoy.config.listener.v3 import listener_pb2

from conftest import (
    LDS,
    CLIENT_IP,
    CLIENT_NODE_ID,
    ENVOY_CONFIG_TIMEOUT,
    NAMESPACE,
    SERVICE,
    VIPS,
    both_xds_protocols,
    client_metadata,
    discovery_request,
    free_port,
    make_node,
    outbound_cluster,
    send_request,
    wait_for_listener,
    wait_until,
)
from pki import describe, spiffe_id, uri_sans, signed_by
from security_support import (
    TLS_MODE_LABEL,
    channel_credentials,
    dynamic_clusters,
    dynamic_listeners,
    envoy_live,
    envoy_xds_tls,
    mtls_http_get,
    pod,
    secret_certificates,
    service,
    slice_with_pods,
    wait_secure_port,
    write_namespace,
    write_objects,
)

ENDPOINT_IP = "127.0.0.3"
ENDPOINT_NODE_ID = f"sidecar~{ENDPOINT_IP}~helloworld-v2.sample~sample.svc.cluster.local"
FQDN = f"{SERVICE}.{NAMESPACE}.svc.cluster.local"
CLIENT_IDENTITY = spiffe_id(NAMESPACE, "client")
SERVER_IDENTITY = spiffe_id(NAMESPACE, "helloworld")
POD_LABELS = {"app": SERVICE, "version": "v2", TLS_MODE_LABEL: "istio"}


def endpoint_metadata() -> dict:
    return {
        "CLUSTER_ID": "cluster2",
        "NAMESPACE": NAMESPACE,
        "INTERCEPTION_MODE": "NONE",
        "LABELS": POD_LABELS,
        "SERVICE_ACCOUNT": "helloworld",
    }


def ssl_counters(stats: dict[str, int]) -> dict[str, int]:
    """Non-zero SSL counters (handshakes, failures), without per-certificate/cipher gauges and histograms."""
    noise = (".ssl.certificate.", ".ssl.ciphers.", ".ssl.curves.", ".ssl.sigalgs.", ".ssl.versions.")
    return {k: v for k, v in stats.items() if v and not any(n in k for n in noise)}


def ssl_failures(stats: dict[str, int], cluster: str) -> int:
    prefix = f"cluster.{cluster}.ssl."
    return sum(stats.get(prefix + name, 0) for name in ("connection_error", "fail_verify_error", "fail_verify_san",
                                                          "fail_verify_no_cert", "fail_verify_cert_hash"))


def write_mtls_files(clusters_dir, service_port: int, app_port: int) -> None:
    """cluster1: namespace sample only; cluster2: helloworld with one mTLS-capable pod at 127.0.0.3."""
    write_namespace(clusters_dir, "cluster1", NAMESPACE)
    helloworld_pod = pod("helloworld-v2", NAMESPACE, ENDPOINT_IP, POD_LABELS, "helloworld")
    write_objects(clusters_dir / "cluster2" / "helloworld.json", [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}},
        service(SERVICE, NAMESPACE, VIPS["cluster2"], service_port, target_port=8080),
        helloworld_pod,
        slice_with_pods("helloworld-c2", NAMESPACE, SERVICE, app_port, [helloworld_pod]),
    ])


@pytest.fixture
def mtls_files(clusters_dir):
    service_port = free_port([CLIENT_IP, ENDPOINT_IP])  # outbound listeners on both proxies' IPs
    app_port = free_port(["127.0.0.1", ENDPOINT_IP])    # backend on 127.0.0.1, inbound listener on 127.0.0.3
    write_mtls_files(clusters_dir, service_port, app_port)
    return service_port, app_port


def tls_mode_socket(cluster_json: dict, name: str) -> dict | None:
    for match in cluster_json.get("transport_socket_matches", []) or []:
        if match.get("name") == name:
            return match
    return None


def assert_istio_mutual_cluster(cluster_json: dict, service_port: int) -> None:
    """The client's outbound cluster: transport_socket_matches tlsMode-istio (UpstreamTlsContext, SNI
    outbound_.PORT_._.HOST, SAN helloworld's service account, SDS default and ROOTCA) and tlsMode-disabled."""
    name = cluster_json.get("name")
    istio = tls_mode_socket(cluster_json, "tlsMode-istio")
    disabled = tls_mode_socket(cluster_json, "tlsMode-disabled")
    matches = [m.get("name") for m in cluster_json.get("transport_socket_matches", []) or []]
    assert istio is not None and disabled is not None, f"{name}: transport_socket_matches are {matches}"
    assert istio.get("match") == {"tlsMode": "istio"}, f"{name}: tlsMode-istio matches {istio.get('match')}"
    context = istio["transport_socket"]["typed_config"]
    assert context.get("@type", "").endswith("UpstreamTlsContext"), context.get("@type")
    assert context.get("sni") == f"outbound_.{service_port}_._.{FQDN}", f"{name}: SNI {context.get('sni')!r}"
    text = json.dumps(context)
    for needle in (SERVER_IDENTITY, '"default"', '"ROOTCA"', "istio-peer-exchange"):
        assert needle in text, f"{name}: tlsMode-istio context lacks {needle}: {text[:1500]}"
    assert CLIENT_IDENTITY not in text, f"{name}: SAN match names the client's own identity: {text[:1500]}"


@both_xds_protocols
def test_mutual_tls_between_two_sidecars(mtls_files, pki, cacerts, start_sextant, start_backend, start_envoy,
                                         processes, tmp_path, figure):
    service_port, app_port = mtls_files
    cluster = outbound_cluster(service_port, FQDN)
    inbound = f"{ENDPOINT_IP}_{app_port}"
    start_backend("127.0.0.1", app_port, "helloworld v2")
    sextant = start_sextant(secure=True, ca_dir=cacerts("cluster1", pki.cluster1))
    wait_secure_port(sextant)

    server = start_envoy(sextant, ENDPOINT_NODE_ID, "helloworld.sample", endpoint_metadata(), name="envoy-endpoint",
                         xds_tls=envoy_xds_tls(tmp_path, "endpoint", sextant.root_pem,
                                               pki.workload(pki.cluster2, NAMESPACE, "helloworld", kind="rsa")))
    client = start_envoy(sextant, CLIENT_NODE_ID, "client.sample", client_metadata("cluster1"), name="envoy-client",
                         xds_tls=envoy_xds_tls(tmp_path, "client", sextant.root_pem,
                                               pki.workload(pki.cluster1, NAMESPACE, "client")))
    watched = [server.process, client.process, sextant.process]

    wait_for_listener(server, inbound, watched)  # inbound: endpoint IP and target port
    wait_until(lambda: envoy_live(server) and envoy_live(client), ENVOY_CONFIG_TIMEOUT,
               "both envoys LIVE (SDS secrets default/ROOTCA received over ADS)", processes=watched)
    wait_until(lambda: client.healthy_host_addresses(cluster) == [f"{ENDPOINT_IP}:{app_port}"], ENVOY_CONFIG_TIMEOUT,
               f"the client's {cluster} to list {ENDPOINT_IP}:{app_port}", processes=watched)
    started = time.monotonic()
    wait_until(lambda: send_request(service_port, FQDN) == (200, "helloworld v2"), ENVOY_CONFIG_TIMEOUT,
               f"a request through {CLIENT_IP}:{service_port} to reach helloworld v2 over mTLS", processes=watched)
    figure("seconds until the first request over mTLS succeeded (both LIVE)", round(time.monotonic() - started, 3))
    answers = [send_request(service_port, FQDN) for _ in range(10)]
    assert all(a == (200, "helloworld v2") for a in answers), answers

    # It was mutual TLS: the client's upstream connections did a handshake, the inbound listener did one and the
    # client presented a certificate.
    client_stats = client.stats_matching(f"cluster.{cluster}.ssl.")
    server_stats = server.stats_matching(f"listener.{inbound}.ssl.")
    figure("client upstream ssl counters", ssl_counters(client_stats))
    figure("endpoint inbound listener ssl counters", ssl_counters(server_stats))
    assert client_stats.get(f"cluster.{cluster}.ssl.handshake", 0) >= 1, f"no upstream TLS handshake: {client_stats}"
    assert server_stats.get(f"listener.{inbound}.ssl.handshake", 0) >= 1, f"no inbound TLS handshake: {server_stats}"
    assert server_stats.get(f"listener.{inbound}.ssl.no_certificate", 0) == 0, "the client presented no certificate"
    assert ssl_failures(client.stats_matching(f"cluster.{cluster}.ssl."), cluster) == 0, client_stats

    # The config behind it.
    assert_istio_mutual_cluster(dynamic_clusters(client)[cluster], service_port)
    listener = dynamic_listeners(server)[inbound]
    address = listener["address"]["socket_address"]
    assert (address.get("address"), address.get("port_value")) == (ENDPOINT_IP, app_port), (
        f"inbound listener {inbound} binds {address}")
    forwards = [c for c in json.loads(server.admin_get("/clusters?format=json")).get("cluster_statuses", [])
                if any(h["address"]["socket_address"] == {"address": "127.0.0.1", "port_value": app_port}
                       for h in c.get("host_statuses", []))]
    assert forwards, f"no cluster of the endpoint envoy forwards to the app at 127.0.0.1:{app_port}"

    # PERMISSIVE: plaintext straight to the inbound listener is served; TLS needs a mesh client certificate.
    assert send_request(app_port, SERVICE, address=ENDPOINT_IP) == (200, "helloworld v2"), "plaintext inbound refused"
    status, body, peer = mtls_http_get(ENDPOINT_IP, app_port, sextant.root_pem,
                                       pki.workload(pki.cluster2, NAMESPACE, "client"), tmp_path)
    assert (status, body) == (200, "helloworld v2"), (status, body)
    assert peer is not None and uri_sans(peer) == [SERVER_IDENTITY], describe(peer) if peer else None
    try:
        no_cert = mtls_http_get(ENDPOINT_IP, app_port, sextant.root_pem, None, tmp_path)[:2]
    except Exception as error:  # noqa: BLE001 - any TLS/IO/HTTP failure means it was not served
        no_cert = f"{type(error).__name__}: {error}"
    figure("mTLS to the inbound listener without a client certificate", no_cert)
    assert no_cert != (200, "helloworld v2"), "the inbound TLS chain served a client without a certificate"
    try:
        foreign = mtls_http_get(ENDPOINT_IP, app_port, sextant.root_pem,
                                pki.workload(pki.other, NAMESPACE, "client"), tmp_path)[:2]
    except Exception as error:  # noqa: BLE001
        foreign = f"{type(error).__name__}: {error}"
    figure("mTLS to the inbound listener with an unrelated client certificate", foreign)
    assert foreign != (200, "helloworld v2"), "the inbound TLS chain served a client of an unrelated root"

    # SDS over ADS: each proxy got a `default` certificate for its own identity, signed by Sextant's CA (cluster1's
    # intermediate), and ROOTCA = the mesh root.
    for envoy, identity in ((client, CLIENT_IDENTITY), (server, SERVER_IDENTITY)):
        chain = secret_certificates(envoy, "default")
        assert chain, f"{envoy.process.name}: no SDS secret default (active: {sorted(envoy.active_secrets())})"
        figure(f"{envoy.process.name} default certificate", describe(chain[0]))
        assert uri_sans(chain[0]) == [identity], describe(chain[0])
        assert signed_by(chain[0], pki.cluster1.cert), f"not signed by Sextant's CA: {describe(chain[0])}"
        roots = secret_certificates(envoy, "ROOTCA")
        assert [r.serial_number for r in roots] == [pki.root.cert.serial_number], [describe(r) for r in roots]

    # -- Negative: the endpoint's sidecar now takes its config (and certificate) from a Sextant with an unrelated CA.
    other = start_sextant(secure=True, ca_dir=cacerts("other", pki.other), name="sextant-other")
    wait_secure_port(other)
    server.process.stop()
    impostor = start_envoy(other, ENDPOINT_NODE_ID, "helloworld.sample", endpoint_metadata(), name="envoy-impostor",
                           xds_tls=envoy_xds_tls(tmp_path, "impostor", other.root_pem,
                                                 pki.workload(pki.other, NAMESPACE, "helloworld")))
    watched = [impostor.process, client.process, other.process]
    wait_for_listener(impostor, inbound, watched)
    wait_until(lambda: envoy_live(impostor), ENVOY_CONFIG_TIMEOUT, "the impostor endpoint envoy LIVE",
               processes=watched)
    chain = secret_certificates(impostor, "default")
    assert chain and signed_by(chain[0], pki.other.cert), "the impostor's certificate is not from the unrelated CA"

    before = ssl_failures(client.stats_matching(f"cluster.{cluster}.ssl."), cluster)
    failures: list[tuple] = []

    def request_fails_with_ssl_error():
        answer = send_request(service_port, FQDN)
        if answer[0] != 200:
            failures.append(answer)
        return answer[0] != 200 and ssl_failures(client.stats_matching(f"cluster.{cluster}.ssl."), cluster) > before

    try:
        wait_until(request_fails_with_ssl_error, ENVOY_CONFIG_TIMEOUT,
                   "a request to fail with the client's ssl failure counters growing", processes=watched)
    finally:
        figure("client ssl counters after the impostor", ssl_counters(client.stats_matching(f"cluster.{cluster}.ssl.")))
        figure("failed answers (first 3)", [(s, b[:160]) for s, b in failures[:3]])
    answers = [send_request(service_port, FQDN) for _ in range(5)]
    assert all(status == 503 for status, _ in answers), f"expected 503 for every request: {answers}"
    assert not any(body == "helloworld v2" for _, body in answers), "the impostor's backend answered"


def test_inbound_listener_replaces_outbound_on_the_same_port(clusters_dir, pki, cacerts, start_sextant,
                                                             secure_ads_stream, figure):
    """Service port == target port: the endpoint's own proxy gets the inbound listener ENDPOINT_IP_PORT and no
    outbound listener of that port; another proxy (the client) gets the outbound one on its own IP."""
    port = free_port([CLIENT_IP, ENDPOINT_IP, "127.0.0.1"])
    write_mtls_files(clusters_dir, port, port)
    sextant = start_sextant(secure=True, ca_dir=cacerts("cluster1", pki.cluster1))
    wait_secure_port(sextant)

    def listeners(node_id, metadata, workload):
        stream = secure_ads_stream(sextant, f"LDS of {node_id}", channel_credentials(sextant.root_pem, workload))
        stream.send(discovery_request(LDS, node=make_node(node_id, metadata=metadata)))
        response = stream.recv(LDS)
        result = []
        for resource in response.resources:
            listener = listener_pb2.Listener()
            assert resource.Unpack(listener)
            address = listener.address.socket_address
            result.append((listener.name, address.address, address.port_value))
        return result

    endpoint = listeners(ENDPOINT_NODE_ID, endpoint_metadata(), pki.workload(pki.cluster2, NAMESPACE, "helloworld"))
    client = listeners(CLIENT_NODE_ID, client_metadata("cluster1"), pki.workload(pki.cluster1, NAMESPACE, "client"))
    figure("endpoint proxy listeners", endpoint)
    figure("client proxy listeners", client)
    on_port = [entry for entry in endpoint if entry[2] == port]
    assert on_port == [(f"{ENDPOINT_IP}_{port}", ENDPOINT_IP, port)], (
        f"the endpoint proxy must have exactly the inbound listener on port {port}: {endpoint}")
    assert (f"{CLIENT_IP}_{port}", CLIENT_IP, port) in client, f"the client lacks outbound {CLIENT_IP}_{port}: {client}"
    assert not any(entry[1] == "127.0.0.1" for entry in endpoint + client), "a listener binds 127.0.0.1"
