"""A PASSTHROUGH gateway server whose VirtualService tls route names several weighted destinations: a real gateway
Envoy accepts the weighted tcp_proxy and splits TLS connections (chosen by SNI, TLS untouched) across both services'
endpoints, each a TLS backend of its own. A later VirtualService claiming the same server name loses it (Envoy would
reject overlapping chains) and /debug/configz lists it as shadowed.

    client ──TLS, SNI split.example.com──► gateway Envoy 127.0.0.41:G (router, tls_inspector, weighted tcp_proxy)
                                               ├─ 80 ─► outbound|P||tls-a.sample.svc.cluster.local → 127.0.0.42:P
                                               └─ 20 ─► outbound|P||tls-b.sample.svc.cluster.local → 127.0.0.43:P

Run: .venv/bin/python -m pytest -q Tests/E2E/test_gateway_weighted_routes.py   (after `swift build`)
"""

from __future__ import annotations

import collections
import json
import socket
import ssl
import sys

from conftest import BACKEND_SCRIPT, ENVOY_CONFIG_TIMEOUT, both_xds_protocols, free_port, wait_until
from network_support import (
    NAMESPACE,
    FileSink,
    add_envoy_network_diagnostics,
    add_sextant_network_diagnostics,
    cluster_stat,
    namespace,
    rejected_updates,
    router_metadata,
    router_node_id,
)
from pki import make_workload, spiffe_id
from security_support import dynamic_listeners

GATEWAY_IP = "127.0.0.41"
BACKEND_IPS = {"tls-a": "127.0.0.42", "tls-b": "127.0.0.43"}
WEIGHTS = {"tls-a": 80, "tls-b": 20}
SNI = "split.example.com"
CONNECTIONS = 60


def tls_service(name: str, port: int) -> list[dict]:
    """Service `name` (one TLS port) with one endpoint, its backend: no tlsMode istio, so a plain TCP cluster."""
    return [
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": NAMESPACE},
         "spec": {"type": "ClusterIP", "clusterIP": f"10.96.1.{len(name) + ord(name[-1]) % 50}",
                  "ports": [{"name": "tls", "port": port, "targetPort": port, "protocol": "TCP"}]}},
        {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
         "metadata": {"name": name, "namespace": NAMESPACE, "labels": {"kubernetes.io/service-name": name}},
         "addressType": "IPv4", "ports": [{"name": "tls", "port": port, "protocol": "TCP"}],
         "endpoints": [{"addresses": [BACKEND_IPS[name]], "conditions": {"ready": True}}]},
    ]


def gateway_yaml(port: int, service_port: int) -> str:
    return f"""
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {{name: split-gateway, namespace: istio-system}}
spec:
  selector: {{istio: eastwestgateway}}
  servers:
  - port: {{number: {port}, name: tls-split, protocol: TLS}}
    bind: {GATEWAY_IP}
    tls: {{mode: PASSTHROUGH}}
    hosts: ["*.example.com"]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: split, namespace: {NAMESPACE}}}
spec:
  hosts: ["{SNI}"]
  gateways: [istio-system/split-gateway]
  tls:
  - match: [{{sniHosts: ["{SNI}"], port: {port}}}]
    route:
    - {{destination: {{host: tls-a, port: {{number: {service_port}}}}}, weight: {WEIGHTS["tls-a"]}}}
    - {{destination: {{host: tls-b, port: {{number: {service_port}}}}}, weight: {WEIGHTS["tls-b"]}}}
---
# Claims the same server name after `split` (VirtualServices are taken by namespace, then name): it loses it.
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: tardy, namespace: {NAMESPACE}}}
spec:
  hosts: ["{SNI}"]
  gateways: [istio-system/split-gateway]
  tls:
  - match: [{{sniHosts: ["{SNI}"]}}]
    route: [{{destination: {{host: tls-b, port: {{number: {service_port}}}}}}}]
"""


def https_get(host: str, port: int, server_name: str) -> str:
    """One new TLS connection to host:port with SNI `server_name` and one GET; the body. The backends' certificates
    are not checked: only the routing is under test."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with socket.create_connection((host, port), timeout=3.0) as raw:
        with context.wrap_socket(raw, server_hostname=server_name) as tls:
            tls.sendall(f"GET / HTTP/1.1\r\nHost: {server_name}\r\nConnection: close\r\n\r\n".encode())
            response = b""
            while chunk := tls.recv(65536):
                response += chunk
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), f"{host}:{port} (SNI {server_name}) answered {head[:200]!r}"
    return body.decode()


@both_xds_protocols
def test_weighted_tls_route_splits_connections_across_destinations(clusters_dir, pki, start_sextant, start_envoy,
                                                                   processes, tmp_path, figure):
    sink = FileSink(clusters_dir)
    processes.add_diagnostic("cluster files", sink.describe)
    service_port = free_port(list(BACKEND_IPS.values()))
    gateway_port = free_port([GATEWAY_IP])

    # Two TLS backends, one per service, each answering with its name.
    certificate = make_workload(pki.cluster1, spiffe_id(NAMESPACE, "tls-backend"))
    cert_path, key_path = certificate.write(tmp_path, "backend")
    for name, ip in BACKEND_IPS.items():
        process = processes.start(f"backend-{name}", [sys.executable, BACKEND_SCRIPT, ip, service_port, name,
                                                      cert_path, key_path])
        wait_until(lambda: https_get(ip, service_port, SNI) == name, 10.0,
                   f"TLS backend {name} to answer on {ip}:{service_port}", processes=[process])

    sink.put("cluster1", "base", [namespace(NAMESPACE)] + tls_service("tls-a", service_port)
             + tls_service("tls-b", service_port))
    sink.put_yaml("cluster1", "split", gateway_yaml(gateway_port, service_port))
    sextant = start_sextant()
    add_sextant_network_diagnostics(processes, sextant)
    gateway = start_envoy(sextant, router_node_id(GATEWAY_IP, "split-gateway"), "split-gateway.istio-system",
                          router_metadata("cluster1", "network1"), name="envoy-gateway")
    add_envoy_network_diagnostics(processes, gateway)
    watched = [sextant.process, gateway.process]
    listener_name = f"{GATEWAY_IP}_{gateway_port}"
    clusters = {name: f"outbound|{service_port}||{name}.{NAMESPACE}.svc.cluster.local" for name in BACKEND_IPS}
    wait_until(lambda: listener_name in gateway.listener_names()
               and all(gateway.cluster_hosts(c) for c in clusters.values()), ENVOY_CONFIG_TIMEOUT,
               f"the gateway to get listener {listener_name} and hosts for {sorted(clusters.values())}",
               processes=watched)

    chains = dynamic_listeners(gateway)[listener_name]["filter_chains"]
    assert len(chains) == 1, f"the shadowed route must not get a chain of its own: {chains}"
    chain = chains[0]
    proxy = chain["filters"][0]["typed_config"]
    figure("gateway chain", {"name": chain.get("name"), "server_names": chain.get("filter_chain_match", {}).get(
        "server_names"), "weighted_clusters": proxy.get("weighted_clusters")})
    assert {c["name"]: c["weight"] for c in proxy["weighted_clusters"]["clusters"]} == {
        clusters[name]: weight for name, weight in WEIGHTS.items()}, proxy

    answers = collections.Counter(https_get(GATEWAY_IP, gateway_port, SNI) for _ in range(CONNECTIONS))
    figure(f"connections per destination ({CONNECTIONS}, weights 80/20)", dict(answers))
    upstream = {name: cluster_stat(gateway, c, "upstream_cx_total") for name, c in clusters.items()}
    figure("gateway upstream_cx_total per cluster", upstream)
    assert set(answers) == set(BACKEND_IPS), f"both destinations must answer: {dict(answers)}"
    # 60 connections at 80/20: tls-b above tls-a has a probability below 1e-5.
    assert answers["tls-a"] > answers["tls-b"], f"the 80-weighted destination answered less: {dict(answers)}"
    assert upstream == {name: answers[name] for name in BACKEND_IPS}, upstream
    assert not rejected_updates(gateway), f"the gateway rejected configuration: {rejected_updates(gateway)}"
    shadowed = json.loads(sextant.monitoring_get("/debug/configz"))["shadowed"]
    figure("/debug/configz shadowed", shadowed)
    assert shadowed == [f"VirtualService {NAMESPACE}/tardy: sniHosts {SNI} on {listener_name} already routed by "
                        f"VirtualService {NAMESPACE}/split (route left out)"], shadowed
