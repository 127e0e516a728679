"""A real Envoy sidecar (INTERCEPTION_MODE=NONE) configured by Sextant over ADS routes to helloworld v1 in
cluster1 and v2 in cluster2, and follows endpoint changes in the cluster files at runtime."""

import time

from conftest import (
    BACKEND_IPS,
    CLIENT_NODE_ID,
    FQDN,
    NAMESPACE,
    SERVICE,
    VIPS,
    WaitTimeout,
    both_xds_protocols,
    wait_until,
    write_cluster2_slice,
)

CONVERGE_LIMIT_SECONDS = 2.0


@both_xds_protocols
def test_two_clusters_serve_both_versions(helloworld_mesh, figure):
    mesh = helloworld_mesh
    envoy, sextant = mesh.envoy, mesh.sextant

    # Requests by FQDN reach both clusters' backends.
    counts = mesh.count_versions(40, FQDN)
    figure("requests per version (40 via FQDN)", dict(sorted(counts.items())))
    assert set(counts) <= {"helloworld v1", "helloworld v2"}, f"unexpected answers: {counts}"
    assert counts["helloworld v1"] > 0 and counts["helloworld v2"] > 0, f"not both versions answered: {counts}"

    # Every domain form of the virtual host routes (short names are valid from the proxy's namespace).
    port = mesh.service_port
    domains = [
        f"{FQDN}:{port}",
        SERVICE,
        f"{SERVICE}:{port}",
        f"{SERVICE}.{NAMESPACE}",
        f"{SERVICE}.{NAMESPACE}:{port}",
        f"{SERVICE}.{NAMESPACE}.svc",
        f"{SERVICE}.{NAMESPACE}.svc:{port}",
        VIPS["cluster1"],
    ]
    answers = {domain: mesh.request(domain) for domain in domains}
    wrong = {d: a for d, a in answers.items() if a[0] != 200 or a[1] not in ("helloworld v1", "helloworld v2")}
    assert not wrong, f"Host headers that did not reach helloworld: {wrong}"

    # Envoy accepted every update.
    stats = envoy.stats()
    assert stats.get("cluster_manager.cds.update_rejected") == "0", stats.get("cluster_manager.cds.update_rejected")
    assert stats.get("listener_manager.lds.update_rejected") == "0", stats.get("listener_manager.lds.update_rejected")
    rejected = {name: value for name, value in stats.items() if name.endswith("update_rejected") and value != "0"}
    assert not rejected, f"envoy rejected updates: {rejected}"
    assert stats.get(f"cluster.{mesh.cluster_name}.update_success", "0") != "0", "no EDS update accepted"

    # Sextant sees the proxy ACKed everything it sent.
    entry = sextant.wait_sync_status(CLIENT_NODE_ID, {t: "SYNCED" for t in ("cds", "eds", "lds", "rds")})
    assert entry["cluster_id"] == "cluster1", entry
    for type_key in ("cds", "eds", "lds", "rds"):
        sync = entry[type_key]
        assert sync["sent_version"] and sync["acked_version"] == sync["sent_version"], (type_key, sync)
        assert sync["last_nack"] is None, (type_key, sync)
    for type_key in ("cds", "eds", "lds", "rds"):
        pushes = sextant.metric("pilot_xds_pushes", type=type_key)
        assert pushes is not None and pushes >= 1, f"pilot_xds_pushes{{type={type_key!r}}} = {pushes}"
        rejects = sextant.metric("pilot_total_xds_rejects", type=type_key)
        assert not rejects, f"pilot_total_xds_rejects{{type={type_key!r}}} = {rejects}"


@both_xds_protocols
def test_endpoint_added_and_removed_at_runtime(helloworld_mesh, figure):
    mesh = helloworld_mesh
    envoy, sextant = mesh.envoy, mesh.sextant
    v2, v3 = BACKEND_IPS["v2"], BACKEND_IPS["v3"]
    three = sorted([mesh.endpoint("v1"), mesh.endpoint("v2"), mesh.endpoint("v3")])
    two = sorted([mesh.endpoint("v1"), mesh.endpoint("v2")])

    # Add v3 to cluster2's slice: Envoy must have 3 hosts and route a request to v3.
    started = time.monotonic()
    write_cluster2_slice(mesh.clusters_dir, mesh.backend_port, [v2, v3])
    hosts_seen_at = None

    def v3_reachable():
        nonlocal hosts_seen_at
        if hosts_seen_at is None:
            if envoy.healthy_host_addresses(mesh.cluster_name) != three:
                return False
            hosts_seen_at = time.monotonic() - started
        return mesh.request() == (200, "helloworld v3")

    try:
        wait_until(v3_reachable, 10.0, f"envoy to list hosts {three} and route a request to v3",
                   processes=[envoy.process, sextant.process])
    finally:
        figure("seconds until 3 hosts listed (add v3)", None if hosts_seen_at is None else round(hosts_seen_at, 3))
    converged = time.monotonic() - started
    figure("seconds until 3 hosts and a v3 answer (add v3)", round(converged, 3))
    assert converged < CONVERGE_LIMIT_SECONDS, f"adding v3 took {converged:.2f}s (limit {CONVERGE_LIMIT_SECONDS}s)"

    # Remove v3 again: back to 2 hosts, and v3 never answers.
    started = time.monotonic()
    write_cluster2_slice(mesh.clusters_dir, mesh.backend_port, [v2])
    wait_until(lambda: envoy.host_addresses(mesh.cluster_name) == two, 10.0,
               f"envoy to list only hosts {two} after v3's removal", processes=[envoy.process, sextant.process])
    removed = time.monotonic() - started
    figure("seconds until 2 hosts (remove v3)", round(removed, 3))
    assert removed < CONVERGE_LIMIT_SECONDS, f"removing v3 took {removed:.2f}s (limit {CONVERGE_LIMIT_SECONDS}s)"
    counts = mesh.count_versions(30)
    figure("requests per version after removing v3 (30)", dict(sorted(counts.items())))
    assert counts["helloworld v3"] == 0, f"v3 still answered after its removal: {counts}"
    assert set(counts) <= {"helloworld v1", "helloworld v2"}, f"unexpected answers: {counts}"

    # The pushes were all accepted.
    try:
        sextant.wait_sync_status(CLIENT_NODE_ID, {t: "SYNCED" for t in ("cds", "eds", "lds", "rds")})
    except WaitTimeout as error:
        raise AssertionError(f"proxy not SYNCED after endpoint changes: {error}") from None
    rejected = {name: value for name, value in envoy.stats().items() if name.endswith("update_rejected") and value != "0"}
    assert not rejected, f"envoy rejected updates: {rejected}"
