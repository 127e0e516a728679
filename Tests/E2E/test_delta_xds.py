"""A real Envoy speaking incremental (delta) ADS, as Istio's proxies do (`api_type: DELTA_GRPC`,
`set_node_on_first_message_only: true`), against Sextant on file-backed clusters: it gets its clusters, listeners,
routes and endpoints and routes requests to helloworld; an Envoy started again gets everything again; and after
Sextant restarts, the reconnected Envoy is sent nothing it already holds."""

from conftest import (
    BACKEND_IPS,
    CLIENT_NODE_ID,
    ENVOY_CONFIG_TIMEOUT,
    FQDN,
    client_metadata,
    http_get,
    wait_for_listener,
    wait_until,
    write_cluster2_slice,
    write_helloworld_clusters,
    free_port,
    CLIENT_IP,
    outbound_cluster,
    send_request,
)

SYNCED = {t: "SYNCED" for t in ("cds", "eds", "lds", "rds")}

# Envoy counters that move whenever a resource is added, replaced or removed (CDS, LDS), or an assignment applied.
CHANGE_COUNTERS = (
    "cluster_manager.cluster_added",
    "cluster_manager.cluster_modified",
    "cluster_manager.cluster_removed",
    "listener_manager.listener_added",
    "listener_manager.listener_modified",
    "listener_manager.listener_removed",
)


def start_delta_mesh(clusters_dir, start_sextant, start_backend, start_envoy, sextant_args=()):
    """helloworld v1 (cluster1) and v2 (cluster2), Sextant at debug level, and one delta sidecar Envoy that has
    routed a first request."""
    service_port = free_port([CLIENT_IP])
    backend_port = free_port(list(BACKEND_IPS.values()))
    backends = {v: start_backend(BACKEND_IPS[v], backend_port, f"helloworld {v}") for v in ("v1", "v2", "v3")}
    write_helloworld_clusters(clusters_dir, service_port, backend_port)
    sextant = start_sextant(extra_args=["--log-level", "debug", *sextant_args])
    envoy = start_envoy(sextant, CLIENT_NODE_ID, "client.sample", client_metadata("cluster1"), delta=True)
    wait_routing(envoy, sextant, service_port, backend_port)
    return sextant, envoy, service_port, backend_port, backends


def wait_routing(envoy, sextant, service_port, backend_port):
    cluster = outbound_cluster(service_port)
    wait_for_listener(envoy, f"{CLIENT_IP}_{service_port}", [envoy.process, sextant.process])
    expected = sorted(f"{BACKEND_IPS[v]}:{backend_port}" for v in ("v1", "v2"))
    wait_until(lambda: envoy.healthy_host_addresses(cluster) == expected, ENVOY_CONFIG_TIMEOUT,
               f"envoy /clusters to show {cluster} with hosts {expected}", processes=[envoy.process, sextant.process])
    wait_until(lambda: http_get(*envoy.admin(), "/ready", timeout=1.0)[0] == 200, ENVOY_CONFIG_TIMEOUT,
               "envoy admin /ready to answer 200 (LIVE)", processes=[envoy.process, sextant.process])
    wait_until(lambda: send_request(service_port, FQDN)[0] == 200, ENVOY_CONFIG_TIMEOUT,
               f"a first request through {CLIENT_IP}:{service_port} to answer 200",
               processes=[envoy.process, sextant.process])


def no_rejections(envoy):
    rejected = {n: v for n, v in envoy.stats().items() if n.endswith("update_rejected") and v != "0"}
    assert not rejected, f"envoy rejected updates: {rejected}"


def delta_sends(sextant, since=0):
    """Sextant's debug lines for delta responses sent (after log offset `since`)."""
    return sextant.log_lines("protocol=delta", "sent", since=since)


def test_delta_envoy_gets_its_config_and_routes(clusters_dir, start_sextant, start_backend, start_envoy, figure):
    sextant, envoy, service_port, backend_port, _ = start_delta_mesh(
        clusters_dir, start_sextant, start_backend, start_envoy)

    answers = [send_request(service_port, FQDN) for _ in range(30)]
    bodies = {body for status, body in answers if status == 200}
    figure("delta: answers (30 requests)", sorted(bodies))
    assert all(status == 200 for status, _ in answers), answers
    assert bodies == {"helloworld v1", "helloworld v2"}, bodies

    # The stream really is delta, every type was acknowledged, and nothing was rejected.
    assert delta_sends(sextant), "sextant logged no delta response"
    connected = sextant.log_lines("proxy connected", "protocol=delta")
    assert len(connected) == 1, connected
    entry = sextant.wait_sync_status(CLIENT_NODE_ID, SYNCED)
    assert entry["cluster_id"] == "cluster1", entry
    no_rejections(envoy)
    assert envoy.stat("control_plane.connected_state") == 1

    # An endpoint change reaches Envoy as an incremental EDS update.
    three = sorted(f"{BACKEND_IPS[v]}:{backend_port}" for v in ("v1", "v2", "v3"))
    write_cluster2_slice(clusters_dir, backend_port, [BACKEND_IPS["v2"], BACKEND_IPS["v3"]])
    cluster = outbound_cluster(service_port)
    wait_until(lambda: envoy.healthy_host_addresses(cluster) == three, 10.0, f"envoy to list hosts {three}",
               processes=[envoy.process, sextant.process])
    wait_until(lambda: send_request(service_port, FQDN) == (200, "helloworld v3"), 10.0,
               "a request to reach v3", processes=[envoy.process, sextant.process])
    no_rejections(envoy)


def test_removed_service_leaves_envoy_and_comes_back(clusters_dir, start_sextant, start_backend, start_envoy):
    sextant, envoy, service_port, backend_port, _ = start_delta_mesh(
        clusters_dir, start_sextant, start_backend, start_envoy)
    cluster = outbound_cluster(service_port)
    listener = f"{CLIENT_IP}_{service_port}"
    watched = [envoy.process, sextant.process]

    # helloworld disappears from both clusters: removed_resources take its cluster and listener out of Envoy.
    for path in sorted(clusters_dir.rglob("*")):
        if path.is_file():
            path.unlink()
    wait_until(lambda: envoy.cluster_hosts(cluster) is None and listener not in envoy.listener_names(), 10.0,
               f"envoy to drop cluster {cluster} and listener {listener}", processes=watched)
    removals = sextant.log_lines("protocol=delta", "sent", "type=CDS", "removed=1")
    assert removals, "no CDS response removed the cluster"
    no_rejections(envoy)

    # It comes back: everything is sent again and routes.
    write_helloworld_clusters(clusters_dir, service_port, backend_port)
    wait_routing(envoy, sextant, service_port, backend_port)
    no_rejections(envoy)
    sextant.wait_sync_status(CLIENT_NODE_ID, {"cds": "SYNCED", "lds": "SYNCED"})


def test_restarted_envoy_gets_everything_again(clusters_dir, start_sextant, start_backend, start_envoy):
    sextant, envoy, service_port, backend_port, _ = start_delta_mesh(
        clusters_dir, start_sextant, start_backend, start_envoy)
    envoy.process.stop()

    # A new Envoy process holds nothing: it is sent every resource and routes again.
    again = start_envoy(sextant, CLIENT_NODE_ID, "client.sample", client_metadata("cluster1"), delta=True)
    wait_routing(again, sextant, service_port, backend_port)
    no_rejections(again)
    sextant.wait_sync_status(CLIENT_NODE_ID, SYNCED)


def test_reconnect_after_sextant_restart_resends_nothing_unchanged(
        clusters_dir, start_sextant, start_backend, start_envoy, figure):
    sextant, envoy, service_port, backend_port, _ = start_delta_mesh(
        clusters_dir, start_sextant, start_backend, start_envoy)
    sextant.wait_sync_status(CLIENT_NODE_ID, SYNCED)
    cluster = outbound_cluster(service_port)
    watched = [*CHANGE_COUNTERS, f"cluster.{cluster}.update_success"]
    before = {name: envoy.stat(name, 0) for name in watched}
    stream_closes = envoy.stat("cluster.xds-grpc.upstream_cx_destroy", 0)

    # Sextant restarts on the same gRPC port; Envoy reconnects with initial_resource_versions for what it holds.
    sextant.process.stop()
    restarted = start_sextant(extra_args=["--log-level", "debug"], grpc_port=sextant.grpc_port, name="sextant")
    wait_until(lambda: envoy.stat("cluster.xds-grpc.upstream_cx_destroy", 0) > stream_closes, 10.0,
               "envoy's ADS connection to the first sextant to close", processes=[envoy.process])
    wait_until(lambda: restarted.proxy_sync(CLIENT_NODE_ID), 20.0, "the proxy to reconnect to the restarted sextant",
               processes=[envoy.process, restarted.process])
    resumed = wait_until(lambda: restarted.log_lines("delta stream resumed"), 10.0,
                         "the restarted sextant to log the resumed delta stream", processes=[restarted.process])
    figure("delta: resumed types", [line.split("type=")[-1].split()[0] for line in resumed if "type=" in line])
    # Once CDS is acknowledged (an empty answer: the proxy holds every cluster), nothing else is owed.
    restarted.wait_sync_status(CLIENT_NODE_ID, {"cds": "SYNCED"}, timeout=10.0)

    # Envoy changed nothing: no cluster or listener was added, replaced or removed, no assignment re-applied.
    after = {name: envoy.stat(name, 0) for name in watched}
    assert after == before, f"envoy counters moved after the reconnect: before {before}, after {after}"
    sends = delta_sends(restarted)
    figure("delta: responses after reconnect", len(sends))
    carried = [line for line in sends if "resources=0" not in line or "removed=0" not in line]
    assert not carried, f"the restarted sextant sent resources the proxy held: {carried}"
    assert send_request(service_port, FQDN)[0] == 200
    no_rejections(envoy)


def test_delta_over_the_secure_port_serves_sds_and_mutual_tls(
        clusters_dir, pki, cacerts, start_sextant, start_backend, start_envoy, tmp_path):
    """Both sidecars of test_mtls.py on delta streams to the secure port: each is authenticated by its client
    certificate, gets SDS `default` and `ROOTCA` over the delta stream, and the client reaches helloworld over mTLS."""
    from security_support import envoy_live, envoy_xds_tls, wait_secure_port
    from test_mtls import ENDPOINT_IP, ENDPOINT_NODE_ID, endpoint_metadata, ssl_failures, write_mtls_files

    service_port = free_port([CLIENT_IP, ENDPOINT_IP])
    app_port = free_port(["127.0.0.1", ENDPOINT_IP])
    write_mtls_files(clusters_dir, service_port, app_port)
    start_backend("127.0.0.1", app_port, "helloworld v2")
    sextant = start_sextant(secure=True, ca_dir=cacerts("cluster1", pki.cluster1), extra_args=["--log-level", "debug"])
    wait_secure_port(sextant)
    server = start_envoy(sextant, ENDPOINT_NODE_ID, "helloworld.sample", endpoint_metadata(), name="envoy-endpoint",
                         xds_tls=envoy_xds_tls(tmp_path, "endpoint", sextant.root_pem,
                                               pki.workload(pki.cluster2, "sample", "helloworld", kind="rsa")),
                         delta=True)
    client = start_envoy(sextant, CLIENT_NODE_ID, "client.sample", client_metadata("cluster1"), name="envoy-client",
                         xds_tls=envoy_xds_tls(tmp_path, "client", sextant.root_pem,
                                               pki.workload(pki.cluster1, "sample", "client")),
                         delta=True)
    watched = [server.process, client.process, sextant.process]
    wait_until(lambda: envoy_live(server) and envoy_live(client), ENVOY_CONFIG_TIMEOUT,
               "both envoys LIVE (SDS default/ROOTCA received over delta ADS)", processes=watched)
    wait_until(lambda: send_request(service_port, FQDN) == (200, "helloworld v2"), ENVOY_CONFIG_TIMEOUT,
               f"a request through {CLIENT_IP}:{service_port} to reach helloworld v2 over mTLS", processes=watched)
    cluster = outbound_cluster(service_port)
    stats = client.stats_matching(f"cluster.{cluster}.ssl.")
    assert stats.get(f"cluster.{cluster}.ssl.handshake", 0) >= 1, f"no upstream TLS handshake: {stats}"
    assert ssl_failures(stats, cluster) == 0, stats
    assert len(sextant.log_lines("proxy connected", "protocol=delta")) == 2
    sds = sextant.log_lines("protocol=delta", "type=SDS", "sent")
    assert sds, "no SDS response on a delta stream"
    no_rejections(client)
    no_rejections(server)
