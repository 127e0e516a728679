"""NACK handling: a raw ADS client NACKs CDS on purpose, a malformed node id is refused, and a real Envoy NACKs a
listener it cannot bind."""

import socket

import grpc

from conftest import (
    CDS,
    CLIENT_IP,
    CLIENT_NODE_ID,
    FQDN,
    LDS,
    NAMESPACE,
    SERVICE,
    VIPS,
    both_xds_protocols,
    discovery_request,
    free_port,
    make_node,
    multi_doc,
    node_ip,
    outbound_cluster,
    service_yaml,
    wait_until,
    write_file_atomically,
    write_helloworld_clusters,
)
from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.listener.v3 import listener_pb2

RAW_NODE_ID = "sidecar~127.0.0.11~raw.sample~sample.svc.cluster.local"
RAW_IP = node_ip(RAW_NODE_ID)  # INTERCEPTION_MODE NONE: outbound listeners bind the node id's IP
OTHER_NODE_ID = "sidecar~127.0.0.12~other.sample~sample.svc.cluster.local"


def resource_names(response, message_class) -> list[str]:
    names = []
    for resource in response.resources:
        assert resource.type_url == response.type_url, (
            f"resource type {resource.type_url} in a {response.type_url} response"
        )
        message = message_class()
        assert resource.Unpack(message), f"cannot unpack {resource.type_url}"
        names.append(message.name)
    return names


def test_forced_nack_is_recorded_and_serving_continues(clusters_dir, start_sextant, ads_stream):
    service_port = free_port()
    write_helloworld_clusters(clusters_dir, service_port, backend_port=free_port())
    sextant = start_sextant()
    stream = ads_stream(sextant, f"ADS stream of {RAW_NODE_ID}")

    stream.send(discovery_request(CDS, node=make_node(RAW_NODE_ID)))
    cds = stream.recv(CDS)
    assert cds.nonce, "CDS response without a nonce"
    names = resource_names(cds, cluster_pb2.Cluster)
    assert outbound_cluster(service_port) in names, (
        f"first CDS response after /ready answered 200 (version {cds.version_info!r}) lacks "
        f"{outbound_cluster(service_port)}: {names}"
    )

    # NACK it (version_info empty: nothing accepted yet).
    stream.send(discovery_request(CDS, response_nonce=cds.nonce, version_info="", error=(13, "forced NACK for test")))

    # Sextant keeps serving the stream.
    stream.send(discovery_request(LDS))
    lds = stream.recv(LDS)
    assert lds.nonce, "LDS response without a nonce"
    lds_names = resource_names(lds, listener_pb2.Listener)
    assert f"{RAW_IP}_{service_port}" in lds_names, (
        f"LDS for {RAW_NODE_ID} (INTERCEPTION_MODE NONE) lacks listener {RAW_IP}_{service_port}: {lds_names}")

    wait_until(lambda: (sextant.metric("pilot_total_xds_rejects", type="cds") or 0) >= 1, 5.0,
               'pilot_total_xds_rejects{type="cds"} >= 1 in /metrics', processes=[sextant.process])
    lds_rejects = sextant.metric("pilot_total_xds_rejects", type="lds")
    assert not lds_rejects, f'pilot_total_xds_rejects{{type="lds"}} = {lds_rejects} without an LDS NACK'

    # CDS: ERROR with the NACK's message; LDS sent, not yet ACKed: STALE; EDS and RDS never asked for: NOT SENT.
    entry = sextant.wait_sync_status(RAW_NODE_ID, {"cds": "ERROR", "lds": "STALE", "eds": "NOT SENT", "rds": "NOT SENT"})
    assert "forced NACK" in (entry["cds"]["last_nack"] or ""), entry["cds"]
    assert entry["cluster_id"] == "cluster1", entry

    # ACK the LDS response: LDS becomes SYNCED, CDS stays ERROR.
    stream.send(discovery_request(LDS, version_info=lds.version_info, response_nonce=lds.nonce))
    entry = sextant.wait_sync_status(RAW_NODE_ID, {"cds": "ERROR", "lds": "SYNCED"})
    assert entry["lds"]["acked_version"] == lds.version_info, entry["lds"]


def test_malformed_node_id_ends_only_that_stream(clusters_dir, start_sextant, ads_stream, figure):
    write_helloworld_clusters(clusters_dir, free_port(), backend_port=free_port())
    sextant = start_sextant()

    good = ads_stream(sextant, f"ADS stream of {RAW_NODE_ID}")
    good.send(discovery_request(CDS, node=make_node(RAW_NODE_ID)))
    good.recv(CDS)

    bad = ads_stream(sextant, "ADS stream with node id not-a-node-id")
    bad.send(discovery_request(CDS, node=make_node("not-a-node-id")))
    ended = bad.wait_end(timeout=5.0)
    assert ended.error is not None, "stream with a malformed node id ended without an error status"
    assert ended.error.code() == grpc.StatusCode.INVALID_ARGUMENT, (ended.error.code(), ended.error.details())
    assert "~" in (ended.error.details() or ""), f"details do not explain the '~' parts: {ended.error.details()!r}"
    figure("INVALID_ARGUMENT details for not-a-node-id", ended.error.details())

    # The existing stream and new streams are still served.
    good.send(discovery_request(LDS))
    good.recv(LDS)
    other = ads_stream(sextant, f"ADS stream of {OTHER_NODE_ID}")
    other.send(discovery_request(CDS, node=make_node(OTHER_NODE_ID)))
    other.recv(CDS)
    assert sextant.process.alive
    listed = {entry.get("proxy") for entry in sextant.syncz()}
    assert {RAW_NODE_ID, OTHER_NODE_ID} <= listed, f"/debug/syncz proxies: {listed}"
    assert "not-a-node-id" not in listed, f"/debug/syncz lists the refused stream: {listed}"


@both_xds_protocols
def test_envoy_nacks_listener_it_cannot_bind(helloworld_mesh, figure):
    mesh = helloworld_mesh
    envoy, sextant = mesh.envoy, mesh.sextant
    assert envoy.counter("listener_manager.lds.update_rejected") == 0

    # The sidecar's outbound listeners bind its node id's IP (CLIENT_IP), so the blocker holds a port there.
    assert node_ip(envoy.node_id) == CLIENT_IP
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as blocker:
        blocker.bind((CLIENT_IP, 0))
        blocker.listen()
        blocked_port = blocker.getsockname()[1]
        write_file_atomically(
            mesh.clusters_dir / "cluster1" / "blocked.yaml",
            multi_doc(service_yaml("blocked", NAMESPACE, "10.96.0.20", [{"name": "tcp", "port": blocked_port}])),
        )

        wait_until(lambda: envoy.counter("listener_manager.lds.update_rejected") >= 1, 10.0,
                   f"envoy to NACK the LDS update with listener {CLIENT_IP}_{blocked_port} (port held by the test)",
                   processes=[envoy.process, sextant.process])
        wait_until(lambda: (sextant.metric("pilot_total_xds_rejects", type="lds") or 0) >= 1, 5.0,
                   'pilot_total_xds_rejects{type="lds"} >= 1 in /metrics', processes=[sextant.process])
        entry = sextant.wait_sync_status(CLIENT_NODE_ID, {"lds": "ERROR"})
        figure("LDS NACK recorded by sextant", entry["lds"]["last_nack"])
        assert f"{CLIENT_IP}:{blocked_port}" in (entry["lds"]["last_nack"] or ""), entry["lds"]
        assert f"{CLIENT_IP}_{blocked_port}" not in envoy.listener_names()

        # The helloworld listener and route keep working.
        counts = mesh.count_versions(20)
        figure("requests per version after the LDS NACK (20)", dict(sorted(counts.items())))
        assert set(counts) == {"helloworld v1", "helloworld v2"}, counts
        for host in (FQDN, SERVICE, VIPS["cluster1"]):
            assert mesh.request(host)[0] == 200, host
