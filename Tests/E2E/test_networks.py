"""Network-aware mesh with file-backed clusters, real Envoys and real traffic (Istio's multi-network conventions).

cluster1 is network1 and cluster2 is network2 (label topology.istio.io/network on each cluster's istio-system
Namespace). helloworld v1 runs in cluster1 and v2 in cluster2, each pod a real sidecar Envoy (NONE mode, xDS over the
secure port with a client certificate) terminating mTLS in front of backend.py. Each network has an east-west gateway:
a router Envoy selected by its own Gateway (AUTO_PASSTHROUGH on its own port G, listener 0.0.0.0:G) and a gateway
Service (istio-system/istio-eastwestgateway, label networking.istio.io/gatewayPort=G, spec.externalIPs 127.0.0.3N).
A client sidecar on network1 calls helloworld. Layout and helpers: network_support.py.

1. Split horizon: the client's EDS holds v1's pod and network2's gateway (never v2's pod); both versions answer; the
   traffic to v2 crosses network2's gateway (its SNI cluster's upstream connections) and not network1's.
2. A network without a gateway: its endpoints are not sent (and counted as unreachable) until its gateway Service is
   written, then v2 answers through the gateway within 2 seconds; a plaintext pod of network2 is never sent; removing
   the gateway Service withdraws it again.
3. Istio's expose-istiod sample: the gateway forwards TLS on its 15012 (PASSTHROUGH, VirtualService tls route) to
   Sextant's secure port, and a sidecar whose xDS address is the gateway gets its configuration through it.
4. Two load-balancer addresses of one gateway share the weight of the endpoint they replace and both carry traffic;
   a pod's own topology.istio.io/network label wins over its namespace's (the pod is then sent as it is).
5. meshNetworks (key of --mesh-config) instead of labels and gateway Services: fromRegistry networks, gateway
   addresses.
6. A NodePort gateway Service: the node's ExternalIP with the node port.

Metrics and debug views (/debug/networkz, sextant_network_unreachable_endpoints) are checked after the data path,
all of them at once (DeferredChecks), so a missing detail never hides what the traffic did.

Run: .venv/bin/python -m pytest -q Tests/E2E/test_networks.py   (after `swift build`; see Docs/development.md)
"""

from __future__ import annotations

import json
import socket
import time

import pytest

from conftest import ENVOY_CONFIG_TIMEOUT, WaitTimeout, both_xds_protocols, free_port, wait_until
from network_support import (
    CLIENT_NODE,
    CONVERGE_LIMIT_SECONDS,
    DeferredChecks,
    EXPOSE_ISTIOD_YAML,
    FQDN,
    GATEWAY_IPS,
    GATEWAY_SERVICE,
    ISTIOD_FQDN,
    NAMESPACE,
    NETWORK_LABEL,
    SYSTEM_NAMESPACE,
    FileSink,
    NetworkMesh,
    add_envoy_network_diagnostics,
    add_sextant_network_diagnostics,
    assert_auto_passthrough_listener,
    cluster_stat,
    describe_counts,
    eds_endpoints,
    helloworld_service,
    host_request_counts,
    istiod_service,
    listener_stat,
    listener_summary,
    namespace,
    networkz,
    node,
    rejected_updates,
    router_metadata,
    router_node_id,
    system_namespace,
    unreachable,
    unreachable_samples,
)
from pki import ISTIOD_SAN, spiffe_id
from security_support import (
    dynamic_clusters,
    dynamic_listeners,
    envoy_live,
    envoy_xds_tls,
    tls_probe,
    wait_secure_port,
)

GATEWAY_SERVICE_FQDN = f"{GATEWAY_SERVICE}.{SYSTEM_NAMESPACE}.svc.cluster.local"
SECOND_GATEWAY_IP = "127.0.0.33"  # a second load-balancer address of network2's gateway


@pytest.fixture
def file_mesh(clusters_dir, pki, cacerts, start_sextant, start_backend, start_envoy, processes, tmp_path):
    """Makes the two-network mesh over file-backed clusters; Sextant signs with cluster1's plug-in CA."""

    def make(versions=("v1", "v2"), label_namespaces: bool = True) -> NetworkMesh:
        ca_dir = cacerts("cluster1", pki.cluster1)

        def sextant_factory(mesh: NetworkMesh):
            sextant = start_sextant(secure=True, ca_dir=ca_dir, extra_args=mesh.sextant_args)
            wait_secure_port(sextant)
            return sextant

        sink = FileSink(clusters_dir)
        processes.add_diagnostic("cluster files", sink.describe)
        return NetworkMesh(sink=sink, sextant_factory=sextant_factory, pki=pki, processes=processes,
                           start_backend=start_backend, start_envoy=start_envoy, tmp_path=tmp_path, versions=versions,
                           label_namespaces=label_namespaces)

    return make


def wait_gateway_cluster(mesh: NetworkMesh, network: str, versions: list[str]) -> None:
    """Waits until `network`'s gateway holds exactly the pods of `versions` in its SNI cluster (its own network's
    mTLS-capable endpoints)."""
    expected = sorted(mesh.pod_endpoint(v) for v in versions)
    try:
        wait_until(lambda: mesh.gateway_cluster_hosts(network) == expected, ENVOY_CONFIG_TIMEOUT,
                   f"{network}'s gateway cluster {mesh.sni} to hold {expected}", processes=mesh.watched())
    except WaitTimeout as error:
        raise WaitTimeout(f"{error}; it holds {mesh.name_addresses(mesh.gateway_cluster_hosts(network))}; "
                          f"EDS {eds_endpoints(mesh.gateways[network], mesh.sni)}") from None


def assert_no_rejections(mesh: NetworkMesh) -> None:
    rejected = {e.process.name: rejected_updates(e) for e in mesh.all_envoys()}
    rejected = {name: r for name, r in rejected.items() if r}
    assert not rejected, f"Envoys rejected (NACKed) configuration: {rejected}"


# --------------------------------------------------------------------------------------------------------------
# 1. Split horizon through network2's gateway


@both_xds_protocols
def test_cross_network_traffic_goes_through_the_remote_networks_gateway(file_mesh, figure):
    mesh = file_mesh()
    mesh.start()
    sextant, client = mesh.sextant, mesh.client

    # What does not depend on networks: v1 (same network as the client) is served over mTLS.
    mesh.check_v1_path()

    # The gateways: each router got the AUTO_PASSTHROUGH listener of its own Gateway, and its SNI cluster holds its
    # own network's pod.
    mesh.wait_gateway_listeners()
    wait_gateway_cluster(mesh, "network2", ["v2"])
    wait_gateway_cluster(mesh, "network1", ["v1"])

    # Split horizon: v1's pod as is, v2's pod replaced by network2's gateway.
    expected = [mesh.pod_endpoint("v1"), mesh.gateway_endpoint("network2")]
    mesh.wait_client_hosts(expected, f"the client's {mesh.cluster_name} to hold v1's pod and network2's gateway "
                                     f"{mesh.gateway_endpoint('network2')} (not v2's pod {mesh.pod_endpoint('v2')})")
    eds = {e["address"]: e for e in eds_endpoints(client, mesh.cluster_name) or []}
    figure("client EDS for helloworld", list(eds.values()))

    first = time.monotonic()
    wait_until(lambda: mesh.request() == "v2", ENVOY_CONFIG_TIMEOUT,
               "a request through the client to be answered by v2 (through network2's gateway)",
               processes=mesh.watched())
    figure("seconds until the first v2 answer once the client held the gateway", round(time.monotonic() - first, 3))
    counts = mesh.traffic(40, expect={"v1", "v2"})
    figure("requests per version (40)", describe_counts(counts))
    failures = {k: v for k, v in counts.items() if k not in ("v1", "v2")}
    assert not failures, f"requests failed or were answered by something else: {describe_counts(counts)}"
    assert counts["v1"] > 0 and counts["v2"] > 0, f"not both versions answered: {describe_counts(counts)}"

    # The traffic to v2 crossed network2's gateway, and network1's gateway carried nothing.
    through2, through1 = mesh.gateway_traffic("network2"), mesh.gateway_traffic("network1")
    figure("network2 gateway counters", through2)
    figure("network1 gateway counters", through1)
    assert through2[f"{mesh.sni} upstream_cx_total"] > 0, (
        f"network2's gateway shows no upstream connection on cluster {mesh.sni}: {through2}")
    assert not any(through1.values()), f"the client's traffic went through network1's gateway: {through1}"
    # mTLS end to end: v2's sidecar terminated TLS (the gateway passed it through by SNI), and the client validated it.
    handshakes = listener_stat(mesh.pods["v2"], mesh.inbound_listener("v2"), "ssl.handshake")
    figure("v2 inbound listener TLS handshakes", handshakes)
    assert handshakes >= 1, f"v2's inbound listener {mesh.inbound_listener('v2')} did no TLS handshake"
    client_failures = {k: v for k, v in client.stats_matching(f"cluster.{mesh.cluster_name}.ssl.").items()
                       if v and any(w in k for w in ("fail_verify", "connection_error"))}
    assert not client_failures, f"the client's TLS to helloworld failed: {client_failures}"

    # The gateway endpoint in the client's EDS: mTLS (tlsMode istio, so the client uses SNI outbound_.PORT_._.HOST)
    # and the weight of the one endpoint it stands for.
    gateway_entry = eds.get(mesh.gateway_endpoint("network2"))
    assert gateway_entry is not None, f"no EDS entry for network2's gateway: {list(eds.values())}"
    assert gateway_entry["tls_mode"] == "istio", (
        f"network2's gateway endpoint lacks metadata envoy.transport_socket_match tlsMode istio: {gateway_entry}")
    assert gateway_entry["weight"] == 1, (
        f"network2's gateway stands for one endpoint of weight 1 (one gateway): its weight is "
        f"{gateway_entry['weight']}")
    assert eds[mesh.pod_endpoint("v1")]["tls_mode"] == "istio", eds[mesh.pod_endpoint("v1")]

    # The gateway listeners: 0.0.0.0:G, tls_inspector, one SNI chain per service port of the mesh.
    mesh_ports = {FQDN: mesh.ports.service, GATEWAY_SERVICE_FQDN: mesh.ports.gateway_service}
    for network in ("network1", "network2"):
        summary = assert_auto_passthrough_listener(mesh, network, mesh_ports)
        figure(f"{network} gateway listener", summary)

    assert_no_rejections(mesh)
    sextant.wait_sync_status(CLIENT_NODE, {t: "SYNCED" for t in ("cds", "eds", "lds", "rds")})
    # A router gets the servers of its Gateways, nothing else (Istio: no sidecar listeners on gateways).
    for network, envoy in mesh.gateways.items():
        names = envoy.listener_names()
        assert names == [mesh.gateway_listener(network)], (
            f"{network}'s gateway (router) has listeners {names}; expected only {mesh.gateway_listener(network)}")

    # Debug views (checked last, all of them): /debug/networkz lists both gateways; nothing is unreachable.
    checks = DeferredChecks()
    text = checks.call(lambda: networkz(sextant), "GET /debug/networkz") or ""
    for network in ("network1", "network2"):
        for needle in (network, GATEWAY_IPS[network], str(mesh.ports.gateways[network])):
            checks.expect(needle in text, f"/debug/networkz does not mention {needle!r} ({network}'s gateway "
                                          f"{mesh.gateway_endpoint(network)}): {text[:1500]!r}")
    samples = unreachable_samples(sextant)
    figure("sextant_network_unreachable_endpoints samples", samples)
    checks.expect(not unreachable(sextant, network="network2"), f"endpoints of network2 counted unreachable: {samples}")
    checks.assert_all()


# --------------------------------------------------------------------------------------------------------------
# 2. A network without a gateway, then its gateway appears (and goes again)


@both_xds_protocols
def test_network_without_gateway_is_unreachable_until_its_gateway_service_appears(file_mesh, figure):
    mesh = file_mesh(versions=("v1", "v2", "v3"))  # v3: a plaintext pod of network2 (no tlsMode istio)
    mesh.start(gateway_services=())
    sextant = mesh.sextant
    mesh.check_v1_path()
    mesh.wait_gateway_listeners()  # both Gateways exist; the gateway Services do not yet
    wait_gateway_cluster(mesh, "network2", ["v2"])  # its own network's mTLS-capable pods: v2, not v3

    # No gateway anywhere: the mesh is flat, as in istiod, and every endpoint is sent as it is (loopback reaches all).
    everything = [mesh.pod_endpoint(v) for v in ("v1", "v2", "v3")]
    mesh.wait_client_hosts(everything, "the client to hold every pod as is (no network gateway in the mesh yet)")
    flat = mesh.traffic(30, expect={"v1", "v2", "v3"})
    figure("requests per version without any gateway (30)", describe_counts(flat))
    assert set(flat) == {"v1", "v2", "v3"}, f"expected v1, v2 and v3 to answer directly: {describe_counts(flat)}"

    # network1's gateway appears: the mesh is multi-network, and network2's endpoints have no way in.
    started = time.monotonic()
    mesh.put_gateway_service("network1")
    withdrawn = mesh.wait_client_hosts([mesh.pod_endpoint("v1")],
                                       "the client to hold only v1 once network1's gateway exists (network2 has no "
                                       "gateway: v2 and v3 are not sent)", timeout=10.0)
    figure("seconds until network2's pods were withdrawn (first gateway written)", round(time.monotonic() - started, 3))
    assert withdrawn < CONVERGE_LIMIT_SECONDS, f"withdrawing network2's pods took {withdrawn:.2f}s"
    checks = DeferredChecks()  # metrics and debug views: checked at the end, all of them
    checks.wait(lambda: (unreachable(sextant, network="network2", reason="no_gateway") or 0) > 0, 5.0,
                "sextant_network_unreachable_endpoints{network=network2,reason=no_gateway} > 0 without network2's "
                "gateway", processes=mesh.watched(), detail=lambda: unreachable_samples(sextant))
    figure("unreachable gauge without network2's gateway", unreachable_samples(sextant))
    before = mesh.traffic(20)
    figure("requests per version without network2's gateway (20)", describe_counts(before))
    assert before == {"v1": 20}, f"expected only v1 to answer: {describe_counts(before)}"

    # Write network2's gateway Service: v2 becomes reachable through the gateway.
    started = time.monotonic()
    mesh.put_gateway_service("network2")
    listed_after = None

    def v2_answers():
        nonlocal listed_after
        if listed_after is None and mesh.gateway_endpoint("network2") in (mesh.client_hosts() or []):
            listed_after = time.monotonic() - started
        return mesh.request() == "v2"

    try:
        wait_until(v2_answers, 10.0, "v2 to answer through network2's gateway after its Service was written",
                   processes=mesh.watched())
    finally:
        figure("seconds until the client held network2's gateway (Service written)",
               None if listed_after is None else round(listed_after, 3))
    reached = time.monotonic() - started
    figure("seconds until v2 answered through the new gateway", round(reached, 3))
    assert reached < CONVERGE_LIMIT_SECONDS, (
        f"v2 answered {reached:.2f}s after network2's gateway Service was written (limit {CONVERGE_LIMIT_SECONDS}s)")

    # v3 is not mTLS-capable: never sent across networks, counted as no_mtls.
    mesh.wait_client_hosts([mesh.pod_endpoint("v1"), mesh.gateway_endpoint("network2")],
                           "the client to hold v1 and network2's gateway, and not v3's plaintext pod")
    after = mesh.traffic(40, expect={"v1", "v2"})
    figure("requests per version with network2's gateway (40)", describe_counts(after))
    assert set(after) == {"v1", "v2"}, (
        f"expected v1 and v2 only (v3 is plaintext in another network): {describe_counts(after)}")
    assert mesh.gateway_traffic("network2")[f"{mesh.sni} upstream_cx_total"] > 0, mesh.gateway_traffic("network2")
    checks.wait(lambda: (unreachable(sextant, network="network2", reason="no_mtls") or 0) > 0, 5.0,
                "sextant_network_unreachable_endpoints{network=network2,reason=no_mtls} > 0 (v3's plaintext pod)",
                processes=mesh.watched(), detail=lambda: unreachable_samples(sextant))
    figure("unreachable gauge with network2's gateway", unreachable_samples(sextant))
    checks.expect(not unreachable(sextant, network="network2", reason="no_gateway"),
                  f"network2 still counted as having no gateway: {unreachable_samples(sextant)}")
    text = checks.call(lambda: networkz(sextant), "GET /debug/networkz") or ""
    checks.expect(GATEWAY_IPS["network2"] in text and str(mesh.ports.gateways["network2"]) in text,
                  f"/debug/networkz does not show network2's new gateway {mesh.gateway_endpoint('network2')}: "
                  f"{text[:1500]!r}")

    # Remove it again: network2's endpoints are withdrawn.
    started = time.monotonic()
    mesh.delete_gateway_service("network2")
    gone = mesh.wait_client_hosts([mesh.pod_endpoint("v1")], "the client to drop network2's removed gateway",
                                  timeout=10.0)
    figure("seconds until the client dropped network2's gateway (Service deleted)", round(gone, 3))
    assert gone < CONVERGE_LIMIT_SECONDS, f"dropping the gateway took {gone:.2f}s (limit {CONVERGE_LIMIT_SECONDS}s)"
    rest = mesh.traffic(20)
    assert rest == {"v1": 20}, f"after removing network2's gateway: {describe_counts(rest)}"
    assert_no_rejections(mesh)
    checks.assert_all()


# --------------------------------------------------------------------------------------------------------------
# 3. Istio's expose-istiod sample: xDS through the east-west gateway


REMOTE_IP = "127.0.0.41"
REMOTE_NODE = f"sidecar~{REMOTE_IP}~sleep.{NAMESPACE}~{NAMESPACE}.svc.cluster.local"
CAPTURE_PORTS = (15001, 15006)  # virtualOutbound / virtualInbound of the captured remote sidecar


def bindable(port: int, host: str = "0.0.0.0") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
            return True
        except OSError:
            return False


@both_xds_protocols
def test_expose_istiod_through_the_east_west_gateway(clusters_dir, pki, cacerts, start_sextant, start_envoy, processes,
                                                     tmp_path, figure):
    busy = [port for port in (15012, 15017) if not bindable(port)]
    if busy:
        pytest.skip(f"0.0.0.0:{busy} is in use on this machine: the expose-istiod Gateway's listeners bind 0.0.0.0 on "
                    f"15012 and 15017 (Istio's sample ports)")
    # The remote sidecar runs with capture (REDIRECT), as in Istio: it binds only 15001/15006, never NODE_IP:15012
    # (a NONE-mode sidecar would bind the istiod Service's port 15012 on its IP next to the gateway's 0.0.0.0:15012).
    busy = [port for port in CAPTURE_PORTS if not bindable(port)]
    if busy:
        pytest.skip(f"0.0.0.0:{busy} is in use on this machine: the captured remote sidecar binds 15001 and 15006")

    sink = FileSink(clusters_dir)
    processes.add_diagnostic("cluster files", sink.describe)
    service_port = free_port([REMOTE_IP, "127.0.0.31"])
    gateway_ip = GATEWAY_IPS["network1"]
    # cluster1 (network1, where istiod runs): helloworld (no endpoints: something for the remote sidecar to get) and
    # network1's gateway Service (Istio's east-west gateway ports, address 127.0.0.31).
    gateway_svc = {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": GATEWAY_SERVICE, "namespace": SYSTEM_NAMESPACE,
                     "labels": {"app": GATEWAY_SERVICE, "istio": "eastwestgateway",
                                "topology.istio.io/network": "network1"}},
        "spec": {"type": "ClusterIP", "clusterIP": "10.96.0.20", "selector": {"istio": "eastwestgateway"},
                 "externalIPs": [gateway_ip],
                 "ports": [{"name": "tls", "port": 15443, "targetPort": 15443, "protocol": "TCP"},
                           {"name": "tls-istiod", "port": 15012, "targetPort": 15012, "protocol": "TCP"},
                           {"name": "tls-webhook", "port": 15017, "targetPort": 15017, "protocol": "TCP"}]},
    }
    sink.put("cluster1", "base", [system_namespace("cluster1"), namespace(NAMESPACE),
                                  helloworld_service("cluster1", service_port), gateway_svc])
    sink.put("cluster2", "base", [system_namespace("cluster2"), namespace(NAMESPACE)])
    sextant = start_sextant(secure=True, ca_dir=cacerts("cluster1", pki.cluster1))
    wait_secure_port(sextant)
    add_sextant_network_diagnostics(processes, sextant)
    # istiod's Service: 15012 → Sextant's secure port, 443 → the same port (so the 15017 route can be probed with
    # TLS too), endpoint 127.0.0.1. Then Istio's expose-istiod sample, verbatim.
    sink.put("cluster1", "istiod", istiod_service(sextant.secure_grpc_port, sextant.secure_grpc_port))
    sink.put_yaml("cluster1", "expose-istiod", EXPOSE_ISTIOD_YAML)

    gateway = start_envoy(sextant, router_node_id(gateway_ip, f"{GATEWAY_SERVICE}-network1"),
                          f"{GATEWAY_SERVICE}.{SYSTEM_NAMESPACE}", router_metadata("cluster1", "network1"),
                          name="envoy-gateway-network1")
    add_envoy_network_diagnostics(processes, gateway)
    watched = [sextant.process, gateway.process]
    xds_cluster, webhook_cluster = f"outbound|15012||{ISTIOD_FQDN}", f"outbound|443||{ISTIOD_FQDN}"
    try:
        wait_until(lambda: {"0.0.0.0_15012", "0.0.0.0_15017"} <= set(gateway.listener_names()), ENVOY_CONFIG_TIMEOUT,
                   "the gateway (LABELS istio=eastwestgateway) to get listeners 0.0.0.0_15012 and 0.0.0.0_15017 "
                   "from Gateway istiod-gateway", processes=watched)
    except WaitTimeout as error:
        raise WaitTimeout(f"{error}; the router lists {gateway.listener_names()}") from None
    secure_endpoint = f"127.0.0.1:{sextant.secure_grpc_port}"
    wait_until(lambda: gateway.host_addresses(xds_cluster) == [secure_endpoint], ENVOY_CONFIG_TIMEOUT,
               f"the gateway's {xds_cluster} to hold Sextant's secure port {secure_endpoint}", processes=watched)
    wait_until(lambda: envoy_live(gateway), ENVOY_CONFIG_TIMEOUT, "the gateway Envoy LIVE", processes=watched)

    listeners = dynamic_listeners(gateway)
    for port, cluster in ((15012, xds_cluster), (15017, webhook_cluster)):
        summary = listener_summary(listeners[f"0.0.0.0_{port}"])
        figure(f"gateway listener 0.0.0.0_{port}", summary)
        assert summary["address"] == f"0.0.0.0:{port}", summary
        assert any("tls_inspector" in (f or "") for f in summary["listener_filters"]), summary
        assert [c["cluster"] for c in summary["chains"]] == [cluster], (
            f"0.0.0.0_{port} must tcp_proxy (TLS passed through) to {cluster}: {summary['chains']}")

    # TLS through the gateway reaches Sextant's secure port: the certificate it presents is the secure port's, for
    # istiod.istio-system.svc, chaining to the mesh root.
    for port in (15012, 15017):
        probe = tls_probe(port, sextant.root_pem, ISTIOD_SAN, host=gateway_ip)
        figure(f"TLS probe of {gateway_ip}:{port}", {"handshake_error": probe.handshake_error, "alpn": probe.alpn,
                                                     "after_handshake": probe.after_handshake})
        assert probe.handshake_error is None and probe.after_handshake == "settings", (
            f"TLS through the gateway's {port} did not reach Sextant's secure port: {probe}")

    # A sidecar of network2 whose only way to the control plane is the gateway.
    started = time.monotonic()
    remote = start_envoy(sextant, REMOTE_NODE, f"sleep.{NAMESPACE}",
                         {"CLUSTER_ID": "cluster2", "NETWORK": "network2", "NAMESPACE": NAMESPACE,
                          "INTERCEPTION_MODE": "REDIRECT", "LABELS": {"app": "sleep"}, "SERVICE_ACCOUNT": "sleep"},
                         xds_tls=envoy_xds_tls(tmp_path, "remote", sextant.root_pem,
                                               pki.workload(pki.cluster2, NAMESPACE, "sleep", kind="rsa")),
                         name="envoy-remote", xds_address=(gateway_ip, 15012))
    watched.append(remote.process)
    helloworld_cluster = f"outbound|{service_port}||{FQDN}"
    wait_until(lambda: helloworld_cluster in dynamic_clusters(remote)
               and "virtualOutbound" in dynamic_listeners(remote),
               ENVOY_CONFIG_TIMEOUT, f"the remote sidecar (xDS via {gateway_ip}:15012) to get {helloworld_cluster} "
               "and virtualOutbound", processes=watched)
    wait_until(lambda: envoy_live(remote), ENVOY_CONFIG_TIMEOUT, "the remote sidecar LIVE (SDS through the gateway)",
               processes=watched)
    figure("seconds from the remote sidecar's start to LIVE through the gateway", round(time.monotonic() - started, 3))
    assert remote.stat("control_plane.connected_state") == 1
    assert remote.stat("cluster.xds-grpc.ssl.handshake", 0) >= 1, "the remote sidecar's xDS connection was not TLS"
    entry = sextant.wait_sync_status(REMOTE_NODE, {"cds": "SYNCED", "lds": "SYNCED", "sds": "SYNCED"},
                                   timeout=ENVOY_CONFIG_TIMEOUT)
    figure("/debug/syncz entry of the remote sidecar", {k: entry.get(k) for k in ("cluster_id", "network", "identity")})
    assert spiffe_id(NAMESPACE, "sleep") in json.dumps(entry.get("identity")), (
        f"/debug/syncz does not show the remote sidecar authenticated on the secure port: {entry}")
    counters = {
        "listener 0.0.0.0_15012 downstream_cx_active": listener_stat(gateway, "0.0.0.0_15012", "downstream_cx_active"),
        f"{xds_cluster} upstream_cx_active": cluster_stat(gateway, xds_cluster, "upstream_cx_active"),
    }
    figure("gateway counters with the remote sidecar connected", counters)
    assert all(v >= 1 for v in counters.values()), (
        f"the remote sidecar's xDS did not go through the gateway: {counters}")
    for envoy in (gateway, remote):
        assert not rejected_updates(envoy), f"{envoy.process.name} rejected configuration: {rejected_updates(envoy)}"
    # The gateway Service has no gatewayPort label: network1's gateway is 127.0.0.31:15443.
    checks = DeferredChecks()
    text = checks.call(lambda: networkz(sextant), "GET /debug/networkz") or ""
    checks.expect(gateway_ip in text and "15443" in text,
                  f"/debug/networkz does not show network1's gateway {gateway_ip}:15443 (default port): "
                  f"{text[:1500]!r}")
    checks.assert_all()


# --------------------------------------------------------------------------------------------------------------
# 4. Two addresses of one gateway share the replaced weight; a pod's own network label wins over its namespace's


@both_xds_protocols
def test_gateway_addresses_share_the_weight_and_a_pod_label_overrides_the_namespace_network(file_mesh, figure):
    mesh = file_mesh()
    # Both gateway Services are LoadBalancers (address from status.loadBalancer.ingress[].ip); network2's has two
    # ingress addresses, both reaching the one gateway Envoy (it listens on 0.0.0.0).
    mesh.gateway_address_kind = "loadBalancer"
    mesh.extra_gateway_addresses["network2"] = [SECOND_GATEWAY_IP]
    mesh.start()
    client = mesh.client
    mesh.check_v1_path()
    mesh.wait_gateway_listeners()
    wait_gateway_cluster(mesh, "network2", ["v2"])
    gateways2 = mesh.gateway_endpoints("network2")
    mesh.wait_client_hosts([mesh.pod_endpoint("v1"), *gateways2],
                           f"the client to hold v1's pod and both of network2's gateway addresses {gateways2}")

    eds = {e["address"]: e for e in eds_endpoints(client, mesh.cluster_name) or []}
    figure("client EDS with two gateway addresses", list(eds.values()))
    weights = {address: eds[address]["weight"] for address in eds}
    v1_weight = weights[mesh.pod_endpoint("v1")]
    gateway_weights = [weights[a] for a in gateways2]
    # v1 and v2 weigh the same (1); v2's weight is split evenly between the two gateway endpoints.
    assert gateway_weights[0] == gateway_weights[1], f"the gateway endpoints' weights differ: {weights}"
    assert sum(gateway_weights) == v1_weight, (
        f"the gateway endpoints together must weigh what v2 weighed (as much as v1): {weights}")
    assert all(eds[a]["tls_mode"] == "istio" for a in gateways2), list(eds.values())

    wait_until(lambda: mesh.request() == "v2", ENVOY_CONFIG_TIMEOUT, "v2 to answer through network2's gateway",
               processes=mesh.watched())
    counts = mesh.traffic(60, expect={"v1", "v2"})
    per_host = host_request_counts(client, mesh.cluster_name)
    figure("requests per version (60)", describe_counts(counts))
    figure("client requests per host", {mesh.name_address(a): n for a, n in per_host.items()})
    assert set(counts) == {"v1", "v2"}, f"expected v1 and v2 to answer every request: {describe_counts(counts)}"
    unused = [a for a in gateways2 if not per_host.get(a)]
    assert not unused, f"the client sent no request to gateway address(es) {unused}: {per_host}"

    # v2's pod gets label topology.istio.io/network=network1: it is now on the client's network and sent as is,
    # although its cluster's istio-system says network2.
    mesh.extra_pod_labels["v2"] = {NETWORK_LABEL: "network1"}
    started = time.monotonic()
    mesh.put_helloworld("cluster2")
    seconds = mesh.wait_client_hosts([mesh.pod_endpoint("v1"), mesh.pod_endpoint("v2")],
                                     "the client to hold v2's pod itself once the pod is labelled network1",
                                     timeout=10.0)
    figure("seconds until the client held v2's relabelled pod", round(seconds, 3))
    assert seconds < CONVERGE_LIMIT_SECONDS, f"the relabel took {seconds:.2f}s to reach the client"
    wait_gateway_cluster(mesh, "network1", ["v1", "v2"])  # network1's gateway now fronts v2 too
    wait_gateway_cluster(mesh, "network2", [])
    through2 = mesh.gateway_traffic("network2")
    wait_until(lambda: mesh.request() == "v2", ENVOY_CONFIG_TIMEOUT, "v2 to answer directly", processes=mesh.watched())
    direct = mesh.traffic(20, expect={"v1", "v2"})
    figure("requests per version after the relabel (20)", describe_counts(direct))
    assert set(direct) == {"v1", "v2"}, f"after the relabel: {describe_counts(direct)}"
    assert mesh.gateway_traffic("network2") == through2, (
        f"traffic still crossed network2's gateway after v2 joined network1: {through2} → "
        f"{mesh.gateway_traffic('network2')}")
    assert_no_rejections(mesh)


# --------------------------------------------------------------------------------------------------------------
# 5. meshNetworks instead of labels: networks from fromRegistry, gateways from addresses


def test_mesh_networks_assign_networks_and_gateways(file_mesh, tmp_path, figure):
    """No network label anywhere and no gateway Service: meshNetworks (key of --mesh-config) puts cluster1 on network1
    and cluster2 on network2 (fromRegistry) and names each network's gateway by address and port."""
    mesh = file_mesh(label_namespaces=False)
    mesh_config = tmp_path / "mesh-config.yaml"
    lines = ["meshNetworks:", "  networks:"]
    for network, cluster in (("network1", "cluster1"), ("network2", "cluster2")):
        lines += [f"    {network}:",
                  "      endpoints:",
                  f"      - fromRegistry: {cluster}",
                  "      gateways:",
                  f"      - address: {GATEWAY_IPS[network]}",
                  f"        port: {mesh.ports.gateways[network]}"]
    mesh_config.write_text("\n".join(lines) + "\n")
    mesh.sextant_args = ["--mesh-config", str(mesh_config)]
    mesh.start(gateway_services=())
    mesh.check_v1_path()
    mesh.wait_gateway_listeners()
    wait_gateway_cluster(mesh, "network2", ["v2"])
    wait_gateway_cluster(mesh, "network1", ["v1"])
    mesh.wait_client_hosts([mesh.pod_endpoint("v1"), mesh.gateway_endpoint("network2")],
                           "the client to hold v1's pod and network2's meshNetworks gateway "
                           f"{mesh.gateway_endpoint('network2')}")
    wait_until(lambda: mesh.request() == "v2", ENVOY_CONFIG_TIMEOUT, "v2 to answer through network2's gateway",
               processes=mesh.watched())
    counts = mesh.traffic(40, expect={"v1", "v2"})
    figure("requests per version with meshNetworks (40)", describe_counts(counts))
    assert set(counts) == {"v1", "v2"}, f"expected v1 and v2 to answer every request: {describe_counts(counts)}"
    through2 = mesh.gateway_traffic("network2")
    assert through2[f"{mesh.sni} upstream_cx_total"] > 0, through2
    assert not any(mesh.gateway_traffic("network1").values()), mesh.gateway_traffic("network1")
    assert_no_rejections(mesh)
    checks = DeferredChecks()
    text = checks.call(lambda: networkz(mesh.sextant), "GET /debug/networkz") or ""
    for network in ("network1", "network2"):
        checks.expect(GATEWAY_IPS[network] in text and str(mesh.ports.gateways[network]) in text,
                      f"/debug/networkz does not show {network}'s meshNetworks gateway "
                      f"{mesh.gateway_endpoint(network)}: {text[:1500]!r}")
    checks.assert_all()


# --------------------------------------------------------------------------------------------------------------
# 6. A NodePort gateway Service: the nodes' addresses with the node port


NODE_EXTERNAL_IP, NODE_INTERNAL_IP = "127.0.0.36", "127.0.0.37"


def test_node_port_gateway_service_uses_the_node_addresses(file_mesh, figure):
    """network2's gateway Service is a NodePort without external addresses; its label names the Service port whose
    nodePort is where the gateway Envoy listens, and cluster2's Node has an ExternalIP (preferred) and an
    InternalIP."""
    mesh = file_mesh()
    mesh.address_kind_of["network2"] = "nodePort"
    mesh.extra_objects["cluster2"] = [node("node-2", NODE_EXTERNAL_IP, NODE_INTERNAL_IP)]
    mesh.gateway_addresses["network2"] = NODE_EXTERNAL_IP
    mesh.start()
    mesh.check_v1_path()
    mesh.wait_gateway_listeners()
    wait_gateway_cluster(mesh, "network2", ["v2"])
    mesh.wait_client_hosts([mesh.pod_endpoint("v1"), mesh.gateway_endpoint("network2")],
                           f"the client to hold v1's pod and network2's gateway at the node's ExternalIP and node port "
                           f"{mesh.gateway_endpoint('network2')}")
    wait_until(lambda: mesh.request() == "v2", ENVOY_CONFIG_TIMEOUT, "v2 to answer through network2's gateway",
               processes=mesh.watched())
    counts = mesh.traffic(40, expect={"v1", "v2"})
    figure("requests per version through a NodePort gateway (40)", describe_counts(counts))
    assert set(counts) == {"v1", "v2"}, f"expected v1 and v2 to answer every request: {describe_counts(counts)}"
    assert mesh.gateway_traffic("network2")[f"{mesh.sni} upstream_cx_total"] > 0, mesh.gateway_traffic("network2")
    assert_no_rejections(mesh)


@both_xds_protocols
def test_invalid_istio_config_is_rejected_alone(file_mesh, figure):
    """A Gateway with a bad port number and a VirtualService with an SNI Envoy cannot match sit in cluster2's files
    next to valid config, with an HTTP Gateway Sextant does not serve yet: each bad object is rejected naming itself
    and the field, the HTTP server is listed as not served, and cross-network traffic keeps working."""
    broken_gateway = {
        "apiVersion": "networking.istio.io/v1", "kind": "Gateway",
        "metadata": {"name": "broken", "namespace": "istio-system"},
        "spec": {"selector": {"istio": "eastwestgateway"},
                 "servers": [{"port": {"number": "abc", "protocol": "TLS"}, "tls": {"mode": "AUTO_PASSTHROUGH"},
                              "hosts": ["*"]}]},
    }
    broken_virtual_service = {
        "apiVersion": "networking.istio.io/v1beta1", "kind": "VirtualService",
        "metadata": {"name": "broken-vs", "namespace": "istio-system"},
        "spec": {"hosts": ["*"], "gateways": ["broken"],
                 "tls": [{"match": [{"sniHosts": ["*example.com"]}],
                          "route": [{"destination": {"host": "istiod", "port": {"number": 15012}}}]}]},
    }
    http_gateway = {
        "apiVersion": "networking.istio.io/v1alpha3", "kind": "Gateway",
        "metadata": {"name": "web", "namespace": "istio-system"},
        "spec": {"selector": {"istio": "ingressgateway"},
                 "servers": [{"port": {"number": 80, "name": "http", "protocol": "HTTP"}, "hosts": ["*"]}]},
    }
    mesh = file_mesh()
    mesh.extra_objects["cluster2"] = [broken_gateway, broken_virtual_service, http_gateway]
    mesh.start()
    mesh.check_v1_path()
    mesh.wait_gateway_listeners()
    wait_until(lambda: mesh.request() == "v2", ENVOY_CONFIG_TIMEOUT, "v2 to answer through network2's gateway",
               processes=mesh.watched())

    configz = json.loads(mesh.sextant.monitoring_get("/debug/configz"))
    rejected = {(r["kind"], r["namespace"], r["name"], r["cluster"]): (r["field"], r["message"])
                for r in configz["rejected"]}
    figure("/debug/configz rejected", rejected)
    assert set(rejected) == {("Gateway", "istio-system", "broken", "cluster2"),
                             ("VirtualService", "istio-system", "broken-vs", "cluster2")}, configz
    assert rejected[("Gateway", "istio-system", "broken", "cluster2")][0] == "spec.servers[0].port.number", rejected
    assert "abc" in rejected[("Gateway", "istio-system", "broken", "cluster2")][1], rejected
    assert rejected[("VirtualService", "istio-system", "broken-vs", "cluster2")][0] == \
        "spec.tls[0].match[0].sniHosts[0]", rejected
    assert any(line.startswith("Gateway istio-system/web in cluster2: spec.servers[0]: protocol HTTP")
               for line in configz["not_served"]), configz["not_served"]
    accepted = {g["name"] for g in configz["gateways"]}
    assert "broken" not in accepted and "web" in accepted, accepted
    warnings = mesh.sextant.log_lines("rejected Istio config")
    assert any("Gateway istio-system/broken in cluster2: spec.servers[0].port.number" in line for line in warnings), \
        warnings
    counts = mesh.traffic(20, expect={"v1", "v2"})
    figure("requests per version with rejected config present (20)", describe_counts(counts))
    assert set(counts) == {"v1", "v2"}, f"valid config stopped working: {describe_counts(counts)}"
    assert_no_rejections(mesh)
