"""Network-aware mesh with clusters from real kube-apiservers (1.20.2): test_networks.py's first scenario, with
cluster1 the primary (`--kubeconfig`) and cluster2 a remote cluster named by a remote secret in cluster1.

- Namespaces istio-system carry topology.istio.io/network (network1 in cluster1, network2 in cluster2).
- helloworld v1 (cluster1) and v2 (cluster2): Pods labelled security.istio.io/tlsMode=istio (their status patched
  with the pod IP: no kubelet runs), discovery.k8s.io/v1beta1 EndpointSlices, each pod a real sidecar Envoy.
- Istio's Gateway CRDs (and VirtualService's) are installed in the primary only, and both networks' Gateway objects
  live there, as in Istio (config comes from the config cluster).
- The gateway Services istio-system/istio-eastwestgateway are created through each cluster's API. Their address
  comes from the first source the contract reads, status.loadBalancer.ingress[].ip (type LoadBalancer, status patched
  as a cloud controller would): kube-apiserver refuses loopback spec.externalIPs ("may not be in the loopback
  range"), and the test checks that it still does, so the choice stays explained.
- Sextant signs with a test-made plug-in CA (`--ca-dir` takes precedence over the Kubernetes CA secrets:
  Docs/security.md), so the sidecars' client certificates come from pki.py.

Then, live through the API: network2's load-balancer address moves (the client follows); network2's Gateway is
deleted and created again (the router's listener goes and comes back); a Gateway written to the remote cluster (whose
API server also has the CRDs) configures nothing.

The two API servers (one etcd) are shared by the module (each takes ~4 s to start); the test takes ~15 s.

Run: .venv/bin/python -m pytest -q Tests/E2E/test_networks_kube.py   (after `swift build`; see Docs/development.md)
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from conftest import ENVOY_CONFIG_TIMEOUT, WaitTimeout, both_xds_protocols, free_port, wait_until
from kube.harness import ApiError, ApiServer, wait_for
from multicluster_support import (
    PRIMARY,
    REMOTE,
    KubeClusters,
    delete_remote_secrets,
    remote_secret,
    start_kube_sextant,
)
from network_support import (
    CLIENT_NODE,
    CLUSTER_OF,
    CONVERGE_LIMIT_SECONDS,
    FQDN,
    GATEWAY_IPS,
    GATEWAY_SERVICE,
    SYSTEM_NAMESPACE,
    DeferredChecks,
    NetworkMesh,
    describe_counts,
    eds_endpoints,
    cross_network_gateway,
    gateway_service,
    lb_status,
    networkz,
    node,
    rejected_updates,
    unreachable,
    unreachable_samples,
)
from security_support import wait_secure_port

ISTIO_GROUP = "networking.istio.io"
ISTIO_VERSIONS = ("v1alpha3", "v1beta1", "v1")
ISTIO_KINDS = {"Gateway": "gateways", "VirtualService": "virtualservices"}
MOVED_GATEWAY_IP = "127.0.0.34"  # network2's gateway address after its load balancer status changes


# --------------------------------------------------------------------------------------------------------------
# Istio's CRDs


def istio_crd(kind: str, plural: str) -> dict:
    """An apiextensions.k8s.io/v1 CRD for `kind` of networking.istio.io: v1alpha3, v1beta1 and v1 served, v1 stored,
    any spec accepted (x-kubernetes-preserve-unknown-fields), as Istio's own CRDs declare the versions."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{ISTIO_GROUP}"},
        "spec": {
            "group": ISTIO_GROUP,
            "scope": "Namespaced",
            "names": {"plural": plural, "singular": kind.lower(), "kind": kind, "listKind": f"{kind}List"},
            "versions": [{
                "name": version, "served": True, "storage": version == "v1",
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
            } for version in ISTIO_VERSIONS],
        },
    }


def install_istio_crds(server: ApiServer, timeout: float = 30.0) -> float:
    """Creates the Gateway and VirtualService CRDs and waits until discovery serves every version of both (and the
    CRDs report Established); returns the seconds it took."""
    started = time.monotonic()
    for kind, plural in ISTIO_KINDS.items():
        server.apply(istio_crd(kind, plural))

    def served() -> bool:
        for version in ISTIO_VERSIONS:
            resources = {item["kind"] for item in server.get(f"/apis/{ISTIO_GROUP}/{version}")["resources"]}
            if not set(ISTIO_KINDS) <= resources:
                return False
        for plural in ISTIO_KINDS.values():
            crd = server.get(f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{plural}.{ISTIO_GROUP}")
            conditions = {c["type"]: c["status"] for c in crd.get("status", {}).get("conditions", [])}
            if conditions.get("Established") != "True":
                return False
        return True

    wait_for(served, timeout, f"{server.name} to serve {ISTIO_GROUP} {list(ISTIO_KINDS)} in {ISTIO_VERSIONS}",
             alive=server.alive)
    return time.monotonic() - started


@pytest.fixture(scope="module")
def kube(tmp_path_factory: pytest.TempPathFactory):
    clusters = KubeClusters.start(tmp_path_factory.mktemp("kube-networks"))
    try:
        clusters.crd_seconds = install_istio_crds(clusters.c1)
        install_istio_crds(clusters.c2)  # only to hold a Gateway that Sextant must ignore (remote clusters' config)
        yield clusters
    finally:
        clusters.close()


# --------------------------------------------------------------------------------------------------------------
# Objects through the API


class KubeSink:
    """Objects into the API servers: applied, then their status patched (Pods' IPs, a LoadBalancer's ingress), as a
    kubelet or a cloud controller would. Remembers what it created for `delete` and `cleanup`."""

    def __init__(self, servers: dict[str, ApiServer]):
        self.servers = servers
        self.created: dict[tuple[str, str], list[dict]] = {}

    def put(self, cluster: str, key: str, objects: list[dict]) -> None:
        server = self.servers[cluster]
        for obj in objects:
            status = obj.get("status")
            body = {k: v for k, v in obj.items() if k != "status"}
            stored = server.apply(body)
            if status:
                server.patch_status(stored, status)
        self.created[(cluster, key)] = objects

    def delete(self, cluster: str, key: str) -> None:
        server = self.servers[cluster]
        for obj in reversed(self.created.pop((cluster, key), [])):
            if obj["kind"] == "Namespace":
                continue  # without a namespace controller a deleted Namespace stays Terminating
            server.delete(obj)

    def cleanup(self) -> None:
        errors = []
        for cluster, key in list(self.created):
            try:
                if self.servers[cluster].alive():
                    self.delete(cluster, key)
            except Exception as error:  # noqa: BLE001 - clean up as much as possible
                errors.append(f"{cluster}/{key}: {error!r}")
        if errors:
            raise RuntimeError("network objects cleanup failed: " + "; ".join(errors))

    def describe(self) -> str:
        return "\n".join(f"{cluster}/{key}: " + ", ".join(
            f"{o['kind']} {o['metadata'].get('namespace', '')}/{o['metadata']['name']}" for o in objects)
            for (cluster, key), objects in sorted(self.created.items()))


def loopback_external_ips_refused(server: ApiServer) -> str | None:
    """The API server's answer to a Service with a loopback spec.externalIPs entry (None when it accepts it: the
    probe Service is then deleted again)."""
    probe = gateway_service(REMOTE, 15443, 15443, GATEWAY_IPS["network2"], "externalIPs", kube=True)
    probe["metadata"] = {"name": "externalips-probe", "namespace": SYSTEM_NAMESPACE}
    try:
        server.create(probe)
    except ApiError as error:
        if error.status == 422:
            return str(error)
        raise
    server.delete(probe)
    return None


# --------------------------------------------------------------------------------------------------------------
# The test


@both_xds_protocols
def test_cross_network_traffic_with_clusters_from_api_servers(kube: KubeClusters, pki, cacerts, processes, sextant_bin,
                                                               start_backend, start_envoy, tmp_path: Path, figure):
    kube.ensure_running()
    delete_remote_secrets(kube.c1)
    figure("seconds until the primary served the Istio CRDs", round(kube.crd_seconds, 3))
    processes.add_diagnostic("kube-apiserver cluster1 log tail", lambda: kube.c1.tail(30))
    processes.add_diagnostic("kube-apiserver cluster2 log tail", lambda: kube.c2.tail(30))
    refusal = loopback_external_ips_refused(kube.c2)
    figure("kube-apiserver on a loopback spec.externalIPs", refusal or "accepted")
    address_kind = "loadBalancer" if refusal else "externalIPs"

    sink = KubeSink({PRIMARY: kube.c1, REMOTE: kube.c2})
    processes.add_diagnostic("objects written through the API", sink.describe)
    kubeconfig = kube.c1.write_kubeconfig(tmp_path / "cluster1.kubeconfig")
    ca_dir = cacerts("cluster1", pki.cluster1)

    def sextant_factory(mesh: NetworkMesh):
        kube.c1.apply(remote_secret("istio-remote-secret-cluster2", {REMOTE: kube.c2.kubeconfig()}, cluster=REMOTE))
        started = time.monotonic()
        sextant = start_kube_sextant(processes, sextant_bin, kubeconfig, cluster_id=PRIMARY,
                                     extra_args=["--ca-dir", str(ca_dir)], secure_grpc_port=free_port())
        sextant.root_pem = (ca_dir / "root-cert.pem").read_text()
        sextant.wait_ready()
        wait_secure_port(sextant)
        figure("seconds from start to /ready 200 and the secure port", round(time.monotonic() - started, 3))
        return sextant

    mesh = NetworkMesh(sink=sink, sextant_factory=sextant_factory, pki=pki, processes=processes,
                       start_backend=start_backend, start_envoy=start_envoy, tmp_path=tmp_path, kube=True,
                       gateway_address_kind=address_kind, gateways_in={"network1": PRIMARY, "network2": PRIMARY})
    try:
        run_scenario(mesh, kube, figure)
    finally:
        try:
            delete_remote_secrets(kube.c1)
        finally:
            sink.cleanup()


def run_scenario(mesh: NetworkMesh, kube: KubeClusters, figure) -> None:
    started = time.monotonic()
    mesh.start()
    sextant, client = mesh.sextant, mesh.client
    clusters = sextant.cluster_states()
    assert clusters == {PRIMARY: "synced", REMOTE: "synced"}, f"/debug/clusterz states after /ready: {clusters}"

    mesh.check_v1_path()
    mesh.wait_gateway_listeners()
    for network, version in (("network2", "v2"), ("network1", "v1")):
        expected = [mesh.pod_endpoint(version)]
        try:
            wait_until(lambda network=network, expected=expected: mesh.gateway_cluster_hosts(network) == expected,
                       ENVOY_CONFIG_TIMEOUT, f"{network}'s gateway cluster {mesh.sni} to hold {expected}",
                       processes=mesh.watched())
        except WaitTimeout as error:
            raise WaitTimeout(f"{error}; it holds {mesh.name_addresses(mesh.gateway_cluster_hosts(network))}") from None
    mesh.wait_client_hosts([mesh.pod_endpoint("v1"), mesh.gateway_endpoint("network2")],
                           f"the client's {mesh.cluster_name} to hold v1's pod and network2's gateway "
                           f"{mesh.gateway_endpoint('network2')} (from the Service's {mesh.gateway_address_kind})")
    figure("client EDS for helloworld", eds_endpoints(client, mesh.cluster_name))
    wait_until(lambda: mesh.request() == "v2", ENVOY_CONFIG_TIMEOUT,
               "a request through the client to be answered by v2 (through network2's gateway)",
               processes=mesh.watched())
    figure("seconds from the first object written to v2 answering through the gateway",
           round(time.monotonic() - started, 3))

    counts = mesh.traffic(40, expect={"v1", "v2"})
    figure("requests per version (40)", describe_counts(counts))
    assert set(counts) <= {"v1", "v2"}, f"requests failed or were answered by something else: {describe_counts(counts)}"
    assert counts["v1"] > 0 and counts["v2"] > 0, f"not both versions answered: {describe_counts(counts)}"
    through2, through1 = mesh.gateway_traffic("network2"), mesh.gateway_traffic("network1")
    figure("network2 gateway counters", through2)
    figure("network1 gateway counters", through1)
    assert through2[f"{mesh.sni} upstream_cx_total"] > 0, (
        f"network2's gateway shows no upstream connection on cluster {mesh.sni}: {through2}")
    assert not any(through1.values()), f"the client's traffic went through network1's gateway: {through1}"

    # The gateway Service's load balancer moves: the client follows (the gateway Envoy listens on 0.0.0.0).
    if mesh.gateway_address_kind == "loadBalancer":
        service = kube.c2.get(f"/api/v1/namespaces/{SYSTEM_NAMESPACE}/services/{GATEWAY_SERVICE}")
        moved = time.monotonic()
        kube.c2.patch_status(service, lb_status(MOVED_GATEWAY_IP))
        mesh.gateway_addresses["network2"] = MOVED_GATEWAY_IP
        seconds = mesh.wait_client_hosts([mesh.pod_endpoint("v1"), mesh.gateway_endpoint("network2")],
                                         f"the client to follow network2's gateway to {MOVED_GATEWAY_IP}", timeout=10.0)
        figure("seconds until the client followed the moved load balancer address", round(seconds, 3))
        wait_until(lambda: mesh.request() == "v2", ENVOY_CONFIG_TIMEOUT, "v2 to answer through the moved address",
                   processes=mesh.watched())
        figure("seconds until v2 answered through the moved address", round(time.monotonic() - moved, 3))
        assert seconds < CONVERGE_LIMIT_SECONDS, (
            f"the client followed the moved gateway after {seconds:.2f}s (limit {CONVERGE_LIMIT_SECONDS}s)")

    # A Gateway in the remote cluster selecting network1's router: ignored (Istio config comes from the primary).
    remote_port = free_port(["0.0.0.0"])
    remote_gateway = cross_network_gateway("network1", remote_port)
    remote_gateway["metadata"]["name"] = "gateway-in-remote-cluster"
    mesh.sink.put(REMOTE, "remote-gateway", [remote_gateway])

    # Gateways are watched in the primary: network2's Gateway deleted through the API takes the router's listener
    # away; created again (as networking.istio.io/v1 this time) it comes back and v2 answers through it.
    gateway2, listener2 = mesh.gateways["network2"], mesh.gateway_listener("network2")
    removed = time.monotonic()
    mesh.sink.delete(PRIMARY, "gateway-network2")
    wait_until(lambda: listener2 not in gateway2.listener_names(), 10.0,
               f"network2's router to lose {listener2} once its Gateway was deleted", processes=mesh.watched())
    figure("seconds until the router dropped its listener (Gateway deleted in the primary)",
           round(time.monotonic() - removed, 3))
    created = time.monotonic()
    mesh.gateway_api_versions["network2"] = "networking.istio.io/v1"
    mesh.put_gateway("network2")
    wait_until(lambda: listener2 in gateway2.listener_names(), 10.0,
               f"network2's router to get {listener2} back once its Gateway was created again", processes=mesh.watched())
    wait_until(lambda: mesh.request() == "v2", ENVOY_CONFIG_TIMEOUT, "v2 to answer through the re-created gateway",
               processes=mesh.watched())
    figure("seconds until v2 answered through the re-created Gateway", round(time.monotonic() - created, 3))
    # Every push since the remote Gateway was written included the primary's Gateways; none of them added it.
    router1 = mesh.gateways["network1"]
    assert router1.listener_names() == [mesh.gateway_listener("network1")], (
        f"network1's router has {router1.listener_names()}: a Gateway of the remote cluster (port {remote_port}) "
        "must not configure it")

    rejected = {e.process.name: rejected_updates(e) for e in mesh.all_envoys()}
    assert not any(rejected.values()), f"Envoys rejected (NACKed) configuration: {rejected}"
    sextant.wait_sync_status(CLIENT_NODE, {t: "SYNCED" for t in ("cds", "eds", "lds", "rds")})

    checks = DeferredChecks()
    text = checks.call(lambda: networkz(sextant), "GET /debug/networkz") or ""
    for network in ("network1", "network2"):
        for needle in (network, mesh.gateway_addresses[network], str(mesh.ports.gateways[network])):
            checks.expect(needle in text, f"/debug/networkz does not mention {needle!r} ({network}'s gateway "
                                          f"{mesh.gateway_endpoint(network)}, Service in {CLUSTER_OF[network]}): "
                                          f"{text[:1500]!r}")
    samples = unreachable_samples(sextant)
    figure("sextant_network_unreachable_endpoints samples", samples)
    checks.expect(not unreachable(sextant, network="network2"), f"endpoints of network2 counted unreachable: {samples}")
    checks.expect(FQDN in {e.get("hostname") for e in sextant.registryz()}, "helloworld missing from /debug/registryz")
    checks.assert_all()


# --------------------------------------------------------------------------------------------------------------
# NodePort gateways and traffic.istio.io/nodeSelector


NODE_SELECTOR_ANNOTATION = "traffic.istio.io/nodeSelector"
SELECTOR_LABEL = "sextant.test/eastwest"


def network3_gateways(sextant) -> list[tuple[str, int]]:
    """network3's gateways as /debug/networkz lists them: (address, port)."""
    networks = json.loads(networkz(sextant))["networks"]
    return sorted((g["address"], g["port"]) for n in networks if n["network"] == "network3" for g in n["gateways"])


def test_nodeport_gateway_uses_the_nodes_its_annotation_selects(kube: KubeClusters, processes, sextant_bin,
                                                                 tmp_path: Path, figure):
    """A NodePort gateway Service (network3, in the primary) with `traffic.istio.io/nodeSelector`: only the selected
    Nodes' ExternalIPs are its addresses, with the allocated node port; relabelling a Node follows live; an annotation
    that is not a JSON object is listed by /debug/configz `rejected`, naming the Service and the annotation, and every
    Node is used (istiod's behaviour)."""
    kube.ensure_running()
    delete_remote_secrets(kube.c1)
    server = kube.c1
    sink = KubeSink({PRIMARY: server})
    processes.add_diagnostic("objects written through the API", sink.describe)
    addresses = {"eastwest-node-a": "127.0.0.61", "eastwest-node-b": "127.0.0.62", "other-node": "127.0.0.63"}
    nodes = []
    for name, address in addresses.items():
        obj = node(name, address, "10.96.0.1")
        obj["metadata"]["labels"] = {SELECTOR_LABEL: "yes"} if name.startswith("eastwest") else {}
        nodes.append(obj)
    service = {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "eastwest-nodeport", "namespace": SYSTEM_NAMESPACE,
                     "labels": {"topology.istio.io/network": "network3"},
                     "annotations": {NODE_SELECTOR_ANNOTATION: json.dumps({SELECTOR_LABEL: "yes"})}},
        "spec": {"type": "NodePort", "selector": {"app": "eastwest-nodeport"},
                 "ports": [{"name": "tls", "port": 15443, "protocol": "TCP"}]},
    }
    try:
        server.create_namespace(SYSTEM_NAMESPACE)
        sink.put(PRIMARY, "nodes", nodes)
        sink.put(PRIMARY, "service", [service])
        stored = server.get(f"/api/v1/namespaces/{SYSTEM_NAMESPACE}/services/eastwest-nodeport")
        node_port = stored["spec"]["ports"][0]["nodePort"]
        figure("node port allocated by the API server", node_port)
        sextant = start_kube_sextant(processes, sextant_bin, server.write_kubeconfig(tmp_path / "cluster1.kubeconfig"))
        sextant.wait_ready()

        selected = [(addresses["eastwest-node-a"], node_port), (addresses["eastwest-node-b"], node_port)]
        wait_until(lambda: network3_gateways(sextant) == selected, 10.0,
                   f"network3's gateways to be the selected nodes {selected}", processes=[sextant.process])

        # A Node loses the label: it is no longer a gateway address.
        changed = time.monotonic()
        server.patch("/api/v1/nodes/eastwest-node-b", {"metadata": {"labels": {SELECTOR_LABEL: None}}})
        wait_until(lambda: network3_gateways(sextant) == selected[:1], 10.0,
                   "eastwest-node-b to leave network3's gateways once unlabelled", processes=[sextant.process])
        figure("seconds until an unlabelled node left the gateways", round(time.monotonic() - changed, 3))

        # Not a JSON object: reported, and every node is used.
        server.patch(f"/api/v1/namespaces/{SYSTEM_NAMESPACE}/services/eastwest-nodeport",
                     {"metadata": {"annotations": {NODE_SELECTOR_ANNOTATION: f"{SELECTOR_LABEL}=yes"}}})
        everyone = sorted((address, node_port) for address in addresses.values())
        wait_until(lambda: network3_gateways(sextant) == everyone, 10.0,
                   "every node to be a network3 gateway once the annotation is invalid", processes=[sextant.process])
        rejected = json.loads(sextant.monitoring_get("/debug/configz"))["rejected"]
        figure("/debug/configz rejected", rejected)
        assert [(r["kind"], r["namespace"], r["name"], r["field"]) for r in rejected] == [
            ("Service", SYSTEM_NAMESPACE, "eastwest-nodeport", f"metadata.annotations[{NODE_SELECTOR_ANNOTATION}]")
        ], rejected
        assert "expected a JSON object" in rejected[0]["message"], rejected
    finally:
        sink.cleanup()
