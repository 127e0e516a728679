"""A sidecar with traffic capture (INTERCEPTION_MODE REDIRECT, istiod's default) whose own pod is mTLS-capable gets
`virtualInbound` on 0.0.0.0:15006, and a real Envoy accepts it.

Without iptables nothing is captured here, so this checks what can be checked on loopback: Envoy ACKs the LDS and CDS
Sextant generates for a captured workload (virtualOutbound on 15001, virtualInbound on 15006 with original_dst and
tls_inspector, a mutual-TLS and a plaintext chain matched on the workload's port plus a passthrough chain, the ORIGINAL_DST
clusters `inbound|PORT||` and `InboundPassthroughCluster` bound to 127.0.0.6) and warms them with SDS `default`/`ROOTCA`.
The data path through a NONE-mode inbound listener is covered by test_mtls.py.
"""

from __future__ import annotations

import socket

import pytest

from conftest import ENVOY_CONFIG_TIMEOUT, NAMESPACE, SERVICE, VIPS, both_xds_protocols, free_port, wait_until
from pki import spiffe_id, uri_sans
from security_support import (
    TLS_MODE_LABEL,
    dynamic_clusters,
    dynamic_listeners,
    envoy_live,
    envoy_xds_tls,
    pod,
    secret_certificates,
    service,
    slice_with_pods,
    wait_secure_port,
    write_namespace,
    write_objects,
)

WORKLOAD_IP = "127.0.0.23"
NODE_ID = f"sidecar~{WORKLOAD_IP}~helloworld-v1.sample~sample.svc.cluster.local"
POD_LABELS = {"app": SERVICE, "version": "v1", TLS_MODE_LABEL: "istio"}
CAPTURE_PORTS = (15001, 15006)


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("0.0.0.0", port))
        except OSError:
            return False
    return True


@both_xds_protocols
def test_captured_sidecar_gets_virtual_inbound_and_envoy_accepts_it(clusters_dir, pki, cacerts, start_sextant,
                                                                      start_envoy, tmp_path, figure):
    busy = [port for port in CAPTURE_PORTS if not port_is_free(port)]
    if busy:
        pytest.fail(f"ports {busy} are in use on this machine: a captured sidecar's listeners bind 0.0.0.0 on them")
    service_port, app_port = free_port(), free_port()
    write_namespace(clusters_dir, "cluster2", NAMESPACE)
    helloworld_pod = pod("helloworld-v1", NAMESPACE, WORKLOAD_IP, POD_LABELS, "helloworld")
    write_objects(clusters_dir / "cluster1" / "helloworld.json", [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}},
        service(SERVICE, NAMESPACE, VIPS["cluster1"], service_port, target_port=8080),
        helloworld_pod,
        slice_with_pods("helloworld-c1", NAMESPACE, SERVICE, app_port, [helloworld_pod]),
    ])
    sextant = start_sextant(secure=True, ca_dir=cacerts("cluster1", pki.cluster1))
    wait_secure_port(sextant)
    metadata = {"CLUSTER_ID": "cluster1", "NAMESPACE": NAMESPACE, "INTERCEPTION_MODE": "REDIRECT",
                "LABELS": POD_LABELS, "SERVICE_ACCOUNT": "helloworld"}
    envoy = start_envoy(sextant, NODE_ID, "helloworld.sample", metadata, name="envoy-captured",
                        xds_tls=envoy_xds_tls(tmp_path, "captured", sextant.root_pem,
                                              pki.workload(pki.cluster1, NAMESPACE, "helloworld")))
    watched = [envoy.process, sextant.process]
    wait_until(lambda: "virtualInbound" in dynamic_listeners(envoy), ENVOY_CONFIG_TIMEOUT,
               "envoy to accept the virtualInbound listener", processes=watched)
    wait_until(lambda: envoy_live(envoy), ENVOY_CONFIG_TIMEOUT,
               "envoy LIVE (SDS default/ROOTCA received over ADS)", processes=watched)

    stats = envoy.stats()
    rejected = {name: stats.get(name) for name in ("listener_manager.lds.update_rejected",
                                                    "cluster_manager.cds.update_rejected")}
    figure("update_rejected counters", rejected)
    assert all(value == "0" for value in rejected.values()), rejected

    listener = dynamic_listeners(envoy)["virtualInbound"]
    address = listener["address"]["socket_address"]
    assert (address.get("address"), address.get("port_value")) == ("0.0.0.0", 15006), address
    filters = [f["name"] for f in listener.get("listener_filters", [])]
    assert filters == ["envoy.filters.listener.original_dst", "envoy.filters.listener.tls_inspector"], filters
    chains = {chain.get("name"): chain for chain in listener.get("filter_chains", [])}
    figure("virtualInbound filter chains", sorted(chains))
    mtls = chains[f"inbound|{app_port}||-mtls"]
    assert mtls["filter_chain_match"] == {"destination_port": app_port, "transport_protocol": "tls"}, mtls
    assert mtls["transport_socket"]["typed_config"].get("require_client_certificate") is True, mtls["transport_socket"]
    assert chains[f"inbound|{app_port}||-plaintext"]["filter_chain_match"] == {
        "destination_port": app_port, "transport_protocol": "raw_buffer"}
    assert "InboundPassthroughCluster" in chains, sorted(chains)

    clusters = dynamic_clusters(envoy)
    for name in (f"inbound|{app_port}||", "InboundPassthroughCluster"):
        cluster = clusters[name]
        assert cluster.get("type") == "ORIGINAL_DST", (name, cluster.get("type"))
        bind = cluster["upstream_bind_config"]["source_address"]
        assert bind.get("address") == "127.0.0.6", (name, bind)
    assert "virtualOutbound" in dynamic_listeners(envoy)
    chain = secret_certificates(envoy, "default")
    assert chain and uri_sans(chain[0]) == [spiffe_id(NAMESPACE, "helloworld")]
