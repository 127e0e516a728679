"""Support for the network-aware mesh tests (test_networks.py with file-backed clusters, test_networks_kube.py with real
kube-apiservers): the objects of a two-network mesh, the Envoys that play its sidecars and east-west gateways, and
the checks of split-horizon EDS and of gateway listeners.

The mesh (Istio's multi-network conventions, everything on loopback):

    cluster1 = network1 (label topology.istio.io/network on its istio-system Namespace)
        helloworld v1: pod 127.0.0.2 (tlsMode istio) whose sidecar Envoy (NONE mode, secure xDS, client certificate)
                       terminates mTLS on 127.0.0.2:P1 in front of backend.py on 127.0.0.1:P1
        east-west gateway: router Envoy, AUTO_PASSTHROUGH listener 0.0.0.0:G1; gateway Service address 127.0.0.31
        client sidecar: 127.0.0.10 (identity sample/client), NETWORK network1
    cluster2 = network2
        helloworld v2: pod 127.0.0.3, sidecar on 127.0.0.3:P2, backend on 127.0.0.1:P2
        helloworld v3 (optional): pod 127.0.0.4 without tlsMode istio, plaintext backend on 127.0.0.4:P3
        east-west gateway: router Envoy, AUTO_PASSTHROUGH listener 0.0.0.0:G2; gateway Service address 127.0.0.32

The gateway Services (istio-system/istio-eastwestgateway in each cluster) carry the label
networking.istio.io/gatewayPort=G; their own service port is another port (S), because every sidecar without capture
binds IP:S for it and the gateway Envoy binds 0.0.0.0:G.

A sink decides where objects go: files under --clusters-dir (FileSink) or the API servers (KubeSink, in
test_networks_kube.py). Nothing here sleeps a fixed time: every wait polls against a deadline.
"""

from __future__ import annotations

import collections
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

from conftest import (
    CLIENT_IP,
    ENVOY_CONFIG_TIMEOUT,
    Envoy,
    ManagedProcess,
    ProcessGroup,
    Sextant,
    WaitTimeout,
    free_port,
    outbound_cluster,
    parse_prometheus,
    send_request,
    wait_until,
    write_file_atomically,
)
from pki import MeshPKI, spiffe_id
from security_support import (
    TLS_MODE_LABEL,
    dynamic_listeners,
    envoy_live,
    envoy_xds_tls,
    mtls_http_get,
    write_objects,
)

NAMESPACE = "sample"
SERVICE = "helloworld"
FQDN = f"{SERVICE}.{NAMESPACE}.svc.cluster.local"
SYSTEM_NAMESPACE = "istio-system"
NETWORK_LABEL = "topology.istio.io/network"
GATEWAY_PORT_LABEL = "networking.istio.io/gatewayPort"
GATEWAY_SERVICE = "istio-eastwestgateway"
EASTWEST_LABEL = {"istio": "eastwestgateway"}

CLUSTERS = ("cluster1", "cluster2")
NETWORK_OF = {"cluster1": "network1", "cluster2": "network2"}
CLUSTER_OF = {network: cluster for cluster, network in NETWORK_OF.items()}
VERSION_CLUSTER = {"v1": "cluster1", "v2": "cluster2", "v3": "cluster2"}
POD_IPS = {"v1": "127.0.0.2", "v2": "127.0.0.3", "v3": "127.0.0.4"}
# v1 and v2 are mTLS-capable pods with a sidecar Envoy; v3 is a plain pod (no tlsMode label, no sidecar).
MTLS_VERSIONS = ("v1", "v2")
GATEWAY_IPS = {"network1": "127.0.0.31", "network2": "127.0.0.32"}
# The helloworld Service's clusterIP per cluster, and the gateway Service's (file-backed clusters only; an API server
# allocates its own).
HELLOWORLD_VIPS = {"cluster1": "10.96.0.10", "cluster2": "10.97.0.10"}
GATEWAY_VIPS = {"cluster1": "10.96.0.20", "cluster2": "10.97.0.20"}

CLIENT_NODE = f"sidecar~{CLIENT_IP}~client.{NAMESPACE}~{NAMESPACE}.svc.cluster.local"
CLIENT_IDENTITY = spiffe_id(NAMESPACE, "client")
SERVER_IDENTITY = spiffe_id(NAMESPACE, SERVICE)

UNREACHABLE_METRIC = "sextant_network_unreachable_endpoints"
CONVERGE_LIMIT_SECONDS = 2.0  # a gateway Service written/removed must change what the client reaches within this


# --------------------------------------------------------------------------------------------------------------
# Node ids and metadata


def router_node_id(ip: str, pod: str) -> str:
    return f"router~{ip}~{pod}.{SYSTEM_NAMESPACE}~{SYSTEM_NAMESPACE}.svc.cluster.local"


def gateway_labels(network: str) -> dict[str, str]:
    """The east-west gateway pod's labels (what Gateway selectors match), as Istio's gen-eastwest-gateway.sh sets."""
    return {**EASTWEST_LABEL, "app": GATEWAY_SERVICE, NETWORK_LABEL: network}


def router_metadata(cluster: str, network: str, labels: dict[str, str] | None = None) -> dict:
    return {"CLUSTER_ID": cluster, "NETWORK": network, "NAMESPACE": SYSTEM_NAMESPACE,
            "LABELS": labels if labels is not None else gateway_labels(network)}


def pod_labels(version: str) -> dict[str, str]:
    labels = {"app": SERVICE, "version": version}
    if version in MTLS_VERSIONS:
        labels[TLS_MODE_LABEL] = "istio"
    return labels


def pod_node_id(version: str) -> str:
    return f"sidecar~{POD_IPS[version]}~{SERVICE}-{version}.{NAMESPACE}~{NAMESPACE}.svc.cluster.local"


def pod_metadata(version: str) -> dict:
    cluster = VERSION_CLUSTER[version]
    return {"CLUSTER_ID": cluster, "NETWORK": NETWORK_OF[cluster], "NAMESPACE": NAMESPACE,
            "INTERCEPTION_MODE": "NONE", "LABELS": pod_labels(version), "SERVICE_ACCOUNT": SERVICE}


def network_client_metadata(cluster: str = "cluster1") -> dict:
    return {"CLUSTER_ID": cluster, "NETWORK": NETWORK_OF[cluster], "NAMESPACE": NAMESPACE,
            "INTERCEPTION_MODE": "NONE", "LABELS": {"app": "client"}, "SERVICE_ACCOUNT": "client"}


# --------------------------------------------------------------------------------------------------------------
# Objects (one builder for files and API servers: `kube` leaves out what the API server allocates or refuses)


def namespace(name: str, labels: dict[str, str] | None = None) -> dict:
    meta: dict[str, Any] = {"name": name}
    if labels:
        meta["labels"] = dict(labels)
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": meta}


def system_namespace(cluster: str, labelled: bool = True) -> dict:
    """istio-system, labelled with the cluster's network unless `labelled` is False."""
    return namespace(SYSTEM_NAMESPACE, {NETWORK_LABEL: NETWORK_OF[cluster]} if labelled else None)


def helloworld_service(cluster: str, service_port: int, kube: bool = False) -> dict:
    spec: dict[str, Any] = {
        "type": "ClusterIP", "selector": {"app": SERVICE},
        "ports": [{"name": "http", "port": service_port, "targetPort": 8080, "protocol": "TCP"}],
    }
    if not kube:
        spec["clusterIP"] = HELLOWORLD_VIPS[cluster]
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": SERVICE, "namespace": NAMESPACE, "labels": {"app": SERVICE}}, "spec": spec}


def helloworld_pod(version: str, kube: bool = False, extra_labels: dict[str, str] | None = None) -> dict:
    """The pod of `version` with its status (an API server ignores the status on create: KubeSink patches it)."""
    pod: dict[str, Any] = {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": f"{SERVICE}-{version}", "namespace": NAMESPACE,
                     "labels": {**pod_labels(version), **(extra_labels or {})}},
        "spec": {"serviceAccountName": SERVICE,
                 "containers": [{"name": "app", "image": f"sextant.invalid/helloworld:{version}"}]},
        "status": pod_status(version),
    }
    if not kube:
        pod["spec"]["nodeName"] = "node-1"
    return pod


def pod_status(version: str) -> dict:
    ip = POD_IPS[version]
    return {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}],
            "conditions": [{"type": "Ready", "status": "True"}]}


def helloworld_slice(version: str, port: int, api_version: str = "discovery.k8s.io/v1") -> dict:
    """One slice per version (each version's endpoint port differs: its sidecar's inbound port or its backend's)."""
    return {
        "apiVersion": api_version, "kind": "EndpointSlice",
        "metadata": {"name": f"{SERVICE}-{version}", "namespace": NAMESPACE,
                     "labels": {"kubernetes.io/service-name": SERVICE,
                                "endpointslice.kubernetes.io/managed-by": "e2e"}},
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": port, "protocol": "TCP"}],
        "endpoints": [{"addresses": [POD_IPS[version]], "conditions": {"ready": True},
                       "targetRef": {"kind": "Pod", "name": f"{SERVICE}-{version}", "namespace": NAMESPACE}}],
    }


def gateway_service(cluster: str, gateway_port: int, service_port: int, address: str | list[str],
                    address_kind: str = "externalIPs", kube: bool = False) -> dict:
    """istio-system/istio-eastwestgateway of `cluster`'s network: labels topology.istio.io/network and
    networking.istio.io/gatewayPort=`gateway_port`; its address in spec.externalIPs (`address_kind` externalIPs) or
    in status.loadBalancer.ingress[].ip of a LoadBalancer Service (`loadBalancer`). Its own port `service_port` is
    not the gateway port (see the module docstring).

    `nodePort`: a NodePort Service without addresses, so the gateway is every node's address with the node port of
    the Service port numbered like the gateway port label: the label names `service_port` and that port's nodePort is
    `gateway_port` (where the gateway Envoy listens)."""
    network = NETWORK_OF[cluster]
    port: dict[str, Any] = {"name": "tls", "port": service_port, "targetPort": gateway_port, "protocol": "TCP"}
    label_port = gateway_port
    if address_kind == "nodePort":
        port["nodePort"] = gateway_port
        label_port = service_port
    spec: dict[str, Any] = {
        "type": {"loadBalancer": "LoadBalancer", "nodePort": "NodePort"}.get(address_kind, "ClusterIP"),
        "selector": dict(EASTWEST_LABEL),
        "ports": [port],
    }
    if not kube:
        spec["clusterIP"] = GATEWAY_VIPS[cluster]
    service: dict[str, Any] = {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": GATEWAY_SERVICE, "namespace": SYSTEM_NAMESPACE,
                     "labels": {**EASTWEST_LABEL, "app": GATEWAY_SERVICE, NETWORK_LABEL: network,
                                GATEWAY_PORT_LABEL: str(label_port)}},
        "spec": spec,
    }
    if address_kind == "externalIPs":
        spec["externalIPs"] = [address] if isinstance(address, str) else list(address)
    elif address_kind == "loadBalancer":
        service["status"] = lb_status(address)  # an API server takes it through the status subresource (KubeSink)
    elif address_kind != "nodePort":
        raise ValueError(f"unknown address kind {address_kind!r}")
    return service


def node(name: str, external_ip: str | None, internal_ip: str) -> dict:
    addresses = [{"type": "InternalIP", "address": internal_ip}]
    if external_ip:
        addresses.insert(0, {"type": "ExternalIP", "address": external_ip})
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}, "status": {"addresses": addresses}}


def lb_status(address: str | list[str]) -> dict:
    addresses = [address] if isinstance(address, str) else list(address)
    return {"loadBalancer": {"ingress": [{"ip": a} for a in addresses]}}


def cross_network_gateway(network: str, port: int, api_version: str = "networking.istio.io/v1") -> dict:
    """Istio's samples/multicluster/expose-services.yaml (`cross-network-gateway`), one per network: the selector also
    names the network (both gateway Envoys share one host and one control plane) and the port is `port`."""
    return {
        "apiVersion": api_version, "kind": "Gateway",
        "metadata": {"name": f"cross-network-gateway-{network}", "namespace": SYSTEM_NAMESPACE},
        "spec": {
            "selector": {**EASTWEST_LABEL, NETWORK_LABEL: network},
            "servers": [{"port": {"number": port, "name": "tls", "protocol": "TLS"},
                         "tls": {"mode": "AUTO_PASSTHROUGH"}, "hosts": ["*.local"]}],
        },
    }


def cross_network_gateway_yaml(network: str, port: int, api_version: str = "networking.istio.io/v1") -> str:
    """The same Gateway as YAML text, laid out as Istio's sample file is."""
    return (
        f"apiVersion: {api_version}\n"
        "kind: Gateway\n"
        "metadata:\n"
        f"  name: cross-network-gateway-{network}\n"
        f"  namespace: {SYSTEM_NAMESPACE}\n"
        "spec:\n"
        "  selector:\n"
        "    istio: eastwestgateway\n"
        f"    {NETWORK_LABEL}: {network}\n"
        "  servers:\n"
        "    - port:\n"
        f"        number: {port}\n"
        "        name: tls\n"
        "        protocol: TLS\n"
        "      tls:\n"
        "        mode: AUTO_PASSTHROUGH\n"
        "      hosts:\n"
        "        - \"*.local\"\n"
    )


# Istio's samples/multicluster/expose-istiod.yaml (networking.istio.io/v1), with the namespace it is applied to.
EXPOSE_ISTIOD_YAML = """\
apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: istiod-gateway
  namespace: istio-system
spec:
  selector:
    istio: eastwestgateway
  servers:
    - port:
        name: tls-istiod
        number: 15012
        protocol: tls
      tls:
        mode: PASSTHROUGH
      hosts:
        - "*"
    - port:
        name: tls-istiodwebhook
        number: 15017
        protocol: tls
      tls:
        mode: PASSTHROUGH
      hosts:
        - "*"
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: istiod-vs
  namespace: istio-system
spec:
  hosts:
  - "*"
  gateways:
  - istiod-gateway
  tls:
  - match:
    - port: 15012
      sniHosts:
      - "*"
    route:
    - destination:
        host: istiod.istio-system.svc.cluster.local
        port:
          number: 15012
  - match:
    - port: 15017
      sniHosts:
      - "*"
    route:
    - destination:
        host: istiod.istio-system.svc.cluster.local
        port:
          number: 443
"""
ISTIOD_FQDN = f"istiod.{SYSTEM_NAMESPACE}.svc.cluster.local"


def istiod_service(xds_target_port: int, webhook_target_port: int, cluster_ip: str | None = "10.96.0.15") -> list[dict]:
    """Service istio-system/istiod (ports 15012 https-dns and 443 https-webhook, as Istio's) and an EndpointSlice
    with the endpoint 127.0.0.1, where Sextant listens: 15012 → `xds_target_port`, 443 → `webhook_target_port`."""
    spec: dict[str, Any] = {
        "type": "ClusterIP", "selector": {"app": "istiod"},
        "ports": [{"name": "https-dns", "port": 15012, "targetPort": xds_target_port, "protocol": "TCP"},
                  {"name": "https-webhook", "port": 443, "targetPort": webhook_target_port, "protocol": "TCP"}],
    }
    if cluster_ip:
        spec["clusterIP"] = cluster_ip
    return [
        {"apiVersion": "v1", "kind": "Service",
         "metadata": {"name": "istiod", "namespace": SYSTEM_NAMESPACE, "labels": {"app": "istiod"}}, "spec": spec},
        {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
         "metadata": {"name": "istiod", "namespace": SYSTEM_NAMESPACE,
                      "labels": {"kubernetes.io/service-name": "istiod",
                                 "endpointslice.kubernetes.io/managed-by": "e2e"}},
         "addressType": "IPv4",
         "ports": [{"name": "https-dns", "port": xds_target_port, "protocol": "TCP"},
                   {"name": "https-webhook", "port": webhook_target_port, "protocol": "TCP"}],
         "endpoints": [{"addresses": ["127.0.0.1"], "conditions": {"ready": True}}]},
    ]


# --------------------------------------------------------------------------------------------------------------
# Where objects go


class FileSink:
    """Objects as files of file-backed clusters: one file per `key` (a JSON List, or YAML text)."""

    def __init__(self, clusters_dir: Path):
        self.clusters_dir = clusters_dir

    def path(self, cluster: str, key: str, suffix: str = "json") -> Path:
        return self.clusters_dir / cluster / f"{key}.{suffix}"

    def put(self, cluster: str, key: str, objects: list[dict]) -> None:
        write_objects(self.path(cluster, key), objects)

    def put_yaml(self, cluster: str, key: str, text: str) -> None:
        write_file_atomically(self.path(cluster, key, "yaml"), text)

    def delete(self, cluster: str, key: str) -> None:
        for suffix in ("json", "yaml"):
            self.path(cluster, key, suffix).unlink(missing_ok=True)

    def describe(self) -> str:
        files = sorted(p for p in self.clusters_dir.rglob("*") if p.is_file())
        return "\n".join(str(p.relative_to(self.clusters_dir)) for p in files)


# --------------------------------------------------------------------------------------------------------------
# Envoy inspection


def eds_endpoints(envoy: Envoy, cluster_name: str) -> list[dict] | None:
    """The endpoints of `cluster_name` as Envoy holds them from EDS (/config_dump?include_eds): dicts with address
    ("IP:PORT"), weight, tls_mode (envoy.transport_socket_match tlsMode, or None), network (istio metadata) and
    health. None when Envoy has no EDS config for that cluster."""
    data = json.loads(envoy.admin_get("/config_dump?resource=dynamic_endpoint_configs&include_eds"))
    for entry in data.get("configs", []):
        config = entry.get("endpoint_config") or {}
        if config.get("cluster_name") != cluster_name:
            continue
        result = []
        for group in config.get("endpoints", []) or []:
            for lb in group.get("lb_endpoints", []) or []:
                socket = lb.get("endpoint", {}).get("address", {}).get("socket_address", {})
                filters = (lb.get("metadata") or {}).get("filter_metadata") or {}
                result.append({
                    "address": f"{socket.get('address')}:{socket.get('port_value')}",
                    "weight": lb.get("load_balancing_weight"),
                    "tls_mode": (filters.get("envoy.transport_socket_match") or {}).get("tlsMode"),
                    "network": (filters.get("istio") or {}).get("network"),
                    "health": lb.get("health_status"),
                })
        return sorted(result, key=lambda e: e["address"])
    return None


def tcp_proxy_cluster(chain: dict) -> str | None:
    for network_filter in chain.get("filters", []) or []:
        config = network_filter.get("typed_config", {})
        if config.get("@type", "").endswith("TcpProxy"):
            return config.get("cluster")
    return None


def listener_summary(listener: dict) -> dict:
    """A listener as the checks read it: bind address, listener filters, and per chain (server_names, cluster)."""
    address = listener.get("address", {}).get("socket_address", {})
    chains = []
    for chain in listener.get("filter_chains", []) or []:
        match = chain.get("filter_chain_match", {}) or {}
        chains.append({"server_names": match.get("server_names", []), "cluster": tcp_proxy_cluster(chain),
                       "transport_protocol": match.get("transport_protocol")})
    return {
        "address": f"{address.get('address')}:{address.get('port_value')}",
        "bind_to_port": listener.get("bind_to_port", True),
        "listener_filters": [f.get("name") for f in listener.get("listener_filters", []) or []],
        "chains": chains,
    }


def sni_routes(listener: dict) -> dict[str, str | None]:
    """SNI name → tcp_proxy cluster of every filter chain matched on server_names."""
    routes = {}
    for chain in listener_summary(listener)["chains"]:
        for name in chain["server_names"]:
            routes[name] = chain["cluster"]
    return routes


def sni_cluster(port: int, host: str = FQDN) -> str:
    """The SNI a client's mTLS to `host`:`port` carries and an AUTO_PASSTHROUGH gateway's cluster of that name."""
    return f"outbound_.{port}_._.{host}"


def host_request_counts(envoy: Envoy, cluster_name: str) -> dict[str, int]:
    """rq_total per host ("IP:PORT") of `cluster_name` from Envoy's /clusters?format=json."""
    result = {}
    for host in envoy.cluster_hosts(cluster_name) or []:
        socket = host["address"]["socket_address"]
        stats = {s.get("name"): int(s.get("value", 0) or 0) for s in host.get("stats", []) or []}
        result[f"{socket['address']}:{socket['port_value']}"] = stats.get("rq_total", 0)
    return result


def cluster_stat(envoy: Envoy, cluster: str, stat: str) -> int:
    return envoy.stat(f"cluster.{cluster}.{stat}", 0) or 0


def listener_stat(envoy: Envoy, listener: str, stat: str) -> int:
    return envoy.stat(f"listener.{listener}.{stat}", 0) or 0


def rejected_updates(envoy: Envoy) -> dict[str, str]:
    return {k: v for k, v in envoy.stats().items() if k.endswith("update_rejected") and v != "0"}


# --------------------------------------------------------------------------------------------------------------
# Sextant's network views


def networkz(sextant: Sextant) -> str:
    return sextant.monitoring_get("/debug/networkz")


def unreachable(sextant: Sextant, **labels: str) -> float | None:
    """sextant_network_unreachable_endpoints summed over the samples with `labels` (None: no such sample)."""
    return sextant.metric(UNREACHABLE_METRIC, **labels)


def unreachable_samples(sextant: Sextant) -> dict[str, float]:
    return {",".join(f"{k}={v}" for k, v in sorted(labels.items())): value
            for name, labels, value in parse_prometheus(sextant.monitoring_get("/metrics"))
            if name == UNREACHABLE_METRIC}


def add_sextant_network_diagnostics(processes: ProcessGroup, sextant: Sextant) -> None:
    processes.add_diagnostic(f"{sextant.process.name} /debug/networkz", lambda: networkz(sextant)[:8000])
    processes.add_diagnostic(f"{sextant.process.name} {UNREACHABLE_METRIC}", lambda: repr(unreachable_samples(sextant)))
    processes.add_diagnostic(f"{sextant.process.name} log lines about networks/gateways", lambda: "\n".join(
        line for line in sextant.log_text().splitlines()
        if any(word in line.lower() for word in ("network", "gateway", "virtualservice")))[-6000:])


def add_envoy_network_diagnostics(processes: ProcessGroup, envoy: Envoy, clusters: Iterable[str] = ()) -> None:
    """The EDS of `clusters` (with metadata and weights) and every dynamic listener's bind address and chains."""
    clusters = list(clusters)

    def show() -> str:
        parts = []
        for name in clusters:
            parts.append(f"EDS {name}: {eds_endpoints(envoy, name)}")
        for name, listener in sorted(dynamic_listeners(envoy).items()):
            parts.append(f"listener {name}: {json.dumps(listener_summary(listener))}")
        return "\n".join(parts)

    processes.add_diagnostic(f"{envoy.process.name} EDS and listeners", show)


# --------------------------------------------------------------------------------------------------------------
# The two-network mesh


@dataclass
class Ports:
    service: int  # helloworld's port: outbound listeners of the client and the pod sidecars
    gateway_service: int  # the gateway Services' own port (also an outbound listener port)
    apps: dict[str, int]  # per version: the endpoint port (sidecar inbound + backend on 127.0.0.1; v3: backend)
    gateways: dict[str, int]  # per network: the AUTO_PASSTHROUGH port (label gatewayPort; listener 0.0.0.0:G)

    @classmethod
    def choose(cls, versions: Iterable[str]) -> "Ports":
        # Everything that binds a service port without capture: the client, the pod sidecars, and the routers (if
        # they got any outbound listener, they would bind their node IP).
        binders = [CLIENT_IP, *POD_IPS.values(), *GATEWAY_IPS.values()]
        apps = {}
        for version in versions:
            hosts = ["127.0.0.1", POD_IPS[version]] if version in MTLS_VERSIONS else [POD_IPS[version]]
            apps[version] = free_port(hosts)
        return cls(
            service=free_port(binders),
            gateway_service=free_port(binders),
            apps=apps,
            gateways={network: free_port(["0.0.0.0"]) for network in GATEWAY_IPS},
        )


class NetworkMesh:
    """The two-network mesh of the module docstring: writes its objects through a sink (files or API servers),
    starts the backends and Envoys, and answers what the client and the gateways see."""

    def __init__(self, *, sink, sextant_factory: Callable[["NetworkMesh"], Sextant], pki: MeshPKI,
                 processes: ProcessGroup, start_backend, start_envoy, tmp_path: Path,
                 versions: Iterable[str] = ("v1", "v2"),
                 kube: bool = False, gateway_address_kind: str = "externalIPs",
                 gateway_api_versions: dict[str, str] | None = None, gateways_in: dict[str, str] | None = None,
                 label_namespaces: bool = True):
        self.sink = sink
        self.sextant_factory = sextant_factory
        self.pki = pki
        self.processes = processes
        self._start_backend = start_backend
        self._start_envoy = start_envoy
        self.tmp_path = tmp_path
        self.versions = list(versions)
        self.kube = kube
        self.gateway_address_kind = gateway_address_kind
        self.address_kind_of: dict[str, str] = {}  # per network, overrides gateway_address_kind
        self.label_namespaces = label_namespaces
        self.extra_objects: dict[str, list[dict]] = {}  # per cluster, written with helloworld (e.g. Nodes)
        self.sextant_args: list[str] = []  # extra `sextant serve` arguments for the sextant_factory
        self.gateway_api_versions = gateway_api_versions or {"network1": "networking.istio.io/v1beta1",
                                                             "network2": "networking.istio.io/v1alpha3"}
        # Which cluster holds each network's Gateway object: its own (files) or the primary (Kubernetes).
        self.gateways_in = gateways_in or dict(CLUSTER_OF)
        self.ports = Ports.choose(self.versions)
        self.gateway_addresses = dict(GATEWAY_IPS)
        # More addresses of a network's gateway Service (after gateway_addresses[network]), and extra pod labels.
        self.extra_gateway_addresses: dict[str, list[str]] = {}
        self.extra_pod_labels: dict[str, dict[str, str]] = {}
        self.sextant: Sextant | None = None
        self.gateways: dict[str, Envoy] = {}
        self.pods: dict[str, Envoy] = {}
        self.client: Envoy | None = None

    # Names and addresses

    @property
    def cluster_name(self) -> str:
        return outbound_cluster(self.ports.service, FQDN)

    @property
    def sni(self) -> str:
        return sni_cluster(self.ports.service)

    def pod_endpoint(self, version: str) -> str:
        return f"{POD_IPS[version]}:{self.ports.apps[version]}"

    def gateway_endpoint(self, network: str) -> str:
        return f"{self.gateway_addresses[network]}:{self.ports.gateways[network]}"

    def gateway_endpoints(self, network: str) -> list[str]:
        """Every address of `network`'s gateway Service, with the gateway port."""
        return [f"{address}:{self.ports.gateways[network]}"
                for address in [self.gateway_addresses[network], *self.extra_gateway_addresses.get(network, [])]]

    def gateway_listener(self, network: str) -> str:
        return f"0.0.0.0_{self.ports.gateways[network]}"

    def inbound_listener(self, version: str) -> str:
        return f"{POD_IPS[version]}_{self.ports.apps[version]}"

    def name_address(self, address: str) -> str:
        """What an endpoint address is, for failure messages."""
        for version in self.versions:
            if address == self.pod_endpoint(version):
                cluster = VERSION_CLUSTER[version]
                kind = "mTLS pod" if version in MTLS_VERSIONS else "plaintext pod"
                return f"{address} = {version}'s {kind} in {cluster}/{NETWORK_OF[cluster]}"
        for network in GATEWAY_IPS:
            if address in self.gateway_endpoints(network):
                return f"{address} = {network}'s gateway"
        return f"{address} = unknown"

    def name_addresses(self, addresses: Iterable[str] | None) -> str:
        if addresses is None:
            return "no such cluster"
        return "[" + "; ".join(self.name_address(a) for a in addresses) + "]"

    # Objects

    def write_cluster_objects(self, gateway_services: Iterable[str] = ("network1", "network2")) -> None:
        for cluster in CLUSTERS:
            self.put_helloworld(cluster)
        for network in GATEWAY_IPS:
            self.put_gateway(network)
        for network in gateway_services:
            self.put_gateway_service(network)

    def put_helloworld(self, cluster: str) -> None:
        """The cluster's istio-system and sample Namespaces, helloworld's Service, and its pods and slices."""
        objects = [system_namespace(cluster, self.label_namespaces), namespace(NAMESPACE),
                   helloworld_service(cluster, self.ports.service, kube=self.kube),
                   *self.extra_objects.get(cluster, [])]
        for version in (v for v in self.versions if VERSION_CLUSTER[v] == cluster):
            objects.append(helloworld_pod(version, kube=self.kube, extra_labels=self.extra_pod_labels.get(version)))
            objects.append(helloworld_slice(version, self.ports.apps[version],
                                            "discovery.k8s.io/v1beta1" if self.kube else "discovery.k8s.io/v1"))
        self.sink.put(cluster, "helloworld", objects)

    def put_gateway(self, network: str) -> None:
        api_version = self.gateway_api_versions[network]
        cluster = self.gateways_in[network]
        if self.kube:
            self.sink.put(cluster, f"gateway-{network}", [cross_network_gateway(network, self.ports.gateways[network],
                                                                                api_version)])
        else:
            self.sink.put_yaml(cluster, f"gateway-{network}",
                               cross_network_gateway_yaml(network, self.ports.gateways[network], api_version))

    def gateway_service_object(self, network: str) -> dict:
        addresses = [self.gateway_addresses[network], *self.extra_gateway_addresses.get(network, [])]
        return gateway_service(CLUSTER_OF[network], self.ports.gateways[network], self.ports.gateway_service,
                               addresses, self.address_kind_of.get(network, self.gateway_address_kind), kube=self.kube)

    def put_gateway_service(self, network: str) -> None:
        self.sink.put(CLUSTER_OF[network], f"gateway-service-{network}", [self.gateway_service_object(network)])

    def delete_gateway_service(self, network: str) -> None:
        self.sink.delete(CLUSTER_OF[network], f"gateway-service-{network}")

    # Processes

    def start(self, gateway_services: Iterable[str] = ("network1", "network2")) -> None:
        """Objects, backends, Sextant, both gateway Envoys, the pod sidecars and the client; waits only for what does
        not depend on network awareness (every Envoy LIVE, the pods' inbound listeners)."""
        self.write_cluster_objects(gateway_services)
        for version in self.versions:
            host = "127.0.0.1" if version in MTLS_VERSIONS else POD_IPS[version]
            self._start_backend(host, self.ports.apps[version], f"helloworld {version}")
        self.sextant = self.sextant_factory(self)
        sextant = self.sextant
        add_sextant_network_diagnostics(self.processes, sextant)

        for network, ip in GATEWAY_IPS.items():
            envoy = self._start_envoy(sextant, router_node_id(ip, f"{GATEWAY_SERVICE}-{network}"),
                                      f"{GATEWAY_SERVICE}.{SYSTEM_NAMESPACE}",
                                      router_metadata(CLUSTER_OF[network], network), name=f"envoy-gateway-{network}")
            self.gateways[network] = envoy
            add_envoy_network_diagnostics(self.processes, envoy, [self.sni])
        for version in self.versions:
            if version not in MTLS_VERSIONS:
                continue
            ca = self.pki.cluster1 if VERSION_CLUSTER[version] == "cluster1" else self.pki.cluster2
            workload = self.pki.workload(ca, NAMESPACE, SERVICE, kind="ecdsa" if ca is self.pki.cluster1 else "rsa")
            self.pods[version] = self._start_envoy(
                sextant, pod_node_id(version), f"{SERVICE}.{NAMESPACE}", pod_metadata(version),
                xds_tls=envoy_xds_tls(self.tmp_path, f"pod-{version}", sextant.root_pem, workload),
                name=f"envoy-{version}")
        self.client = self._start_envoy(
            sextant, CLIENT_NODE, f"client.{NAMESPACE}", network_client_metadata("cluster1"),
            xds_tls=envoy_xds_tls(self.tmp_path, "client", sextant.root_pem,
                                  self.pki.workload(self.pki.cluster1, NAMESPACE, "client")),
            name="envoy-client")
        add_envoy_network_diagnostics(self.processes, self.client, [self.cluster_name])

        for version, envoy in self.pods.items():
            listener = self.inbound_listener(version)
            wait_until(lambda envoy=envoy, listener=listener: listener in envoy.listener_names(), ENVOY_CONFIG_TIMEOUT,
                       f"{version}'s sidecar to get its inbound listener {listener} (pod {POD_IPS[version]} is "
                       f"mTLS-capable in {VERSION_CLUSTER[version]})", processes=self.watched())
        wait_until(lambda: all(envoy_live(e) for e in [*self.pods.values(), self.client]), ENVOY_CONFIG_TIMEOUT,
                   "the pod sidecars and the client LIVE (SDS default/ROOTCA over the secure port)",
                   processes=self.watched())

    def watched(self) -> list[ManagedProcess]:
        envoys = [*self.gateways.values(), *self.pods.values(), *([self.client] if self.client else [])]
        return [self.sextant.process, *(e.process for e in envoys)]

    # Checks that do not depend on network awareness

    def check_v1_path(self) -> None:
        """v1's sidecar terminates mutual TLS for a mesh client certificate and forwards to v1's backend, and the
        client lists v1's pod (same network) among helloworld's endpoints."""
        status, body, _ = mtls_http_get(POD_IPS["v1"], self.ports.apps["v1"], self.sextant.root_pem,
                                        self.pki.workload(self.pki.cluster1, NAMESPACE, "client"), self.tmp_path)
        assert (status, body) == (200, "helloworld v1"), (
            f"mTLS GET to v1's inbound listener {self.inbound_listener('v1')} answered {(status, body)}")
        wait_until(lambda: self.pod_endpoint("v1") in (self.client.host_addresses(self.cluster_name) or []),
                   ENVOY_CONFIG_TIMEOUT, f"the client's {self.cluster_name} to list v1's pod {self.pod_endpoint('v1')}",
                   processes=self.watched())

    # Network-aware checks

    def wait_gateway_listeners(self, networks: Iterable[str] = ("network1", "network2")) -> None:
        for network in networks:
            envoy, name = self.gateways[network], self.gateway_listener(network)

            def present(envoy=envoy, name=name):
                return name in envoy.listener_names()

            try:
                wait_until(present, ENVOY_CONFIG_TIMEOUT, f"{network}'s gateway Envoy to get listener {name}",
                           processes=self.watched())
            except WaitTimeout as error:
                raise WaitTimeout(
                    f"{error}; the router ({envoy.node_id}, LABELS {gateway_labels(network)}) lists "
                    f"{envoy.listener_names()}: Gateway cross-network-gateway-{network} (selector "
                    f"{ {**EASTWEST_LABEL, NETWORK_LABEL: network} }, AUTO_PASSTHROUGH on "
                    f"{self.ports.gateways[network]}) was not turned into a listener") from None
        wait_until(lambda: all(envoy_live(self.gateways[n]) for n in networks), ENVOY_CONFIG_TIMEOUT,
                   f"gateway Envoys {list(networks)} LIVE", processes=self.watched())

    def client_hosts(self) -> list[str] | None:
        return self.client.host_addresses(self.cluster_name)

    def wait_client_hosts(self, expected: list[str], what: str, timeout: float = ENVOY_CONFIG_TIMEOUT) -> float:
        """Waits until the client's helloworld cluster lists exactly `expected`; returns the seconds it took."""
        expected = sorted(expected)
        started = time.monotonic()
        try:
            wait_until(lambda: self.client_hosts() == expected, timeout, what, processes=self.watched())
        except WaitTimeout as error:
            raise WaitTimeout(
                f"{error}\n  expected {self.name_addresses(expected)}\n  client holds "
                f"{self.name_addresses(self.client_hosts())}\n  client EDS: "
                f"{eds_endpoints(self.client, self.cluster_name)}"
            ) from None
        return time.monotonic() - started

    def request(self) -> str:
        """One request through the client's outbound listener: the answering version, or a failure description."""
        try:
            status, body = send_request(self.ports.service, FQDN)
        except OSError as error:
            return f"error {error!r}"
        if status == 200 and body.startswith("helloworld "):
            return body.split()[-1]
        return f"HTTP {status}: {body[:120]}"

    def traffic(self, n: int, expect: Iterable[str] = (), limit: int | None = None) -> collections.Counter:
        """`n` requests; with `expect`, more (up to `limit`, default 3n in all) until each of those versions answered
        at least once, so a skewed balancer choice does not read as a missing version."""
        counts = collections.Counter(self.request() for _ in range(n))
        expect, limit = set(expect), limit or 3 * n
        while not expect <= set(counts) and sum(counts.values()) < limit:
            counts[self.request()] += 1
        return counts

    def gateway_traffic(self, network: str) -> dict[str, int]:
        """What went through `network`'s gateway: its listener's downstream connections and its SNI cluster's
        upstream connections."""
        envoy = self.gateways[network]
        return {
            "listener downstream_cx_total": listener_stat(envoy, self.gateway_listener(network), "downstream_cx_total"),
            f"{self.sni} upstream_cx_total": cluster_stat(envoy, self.sni, "upstream_cx_total"),
        }

    def gateway_listener_json(self, network: str) -> dict:
        listeners = dynamic_listeners(self.gateways[network])
        name = self.gateway_listener(network)
        assert name in listeners, f"{network}'s gateway has no active listener {name}: {sorted(listeners)}"
        return listeners[name]

    def gateway_cluster_hosts(self, network: str) -> list[str] | None:
        return self.gateways[network].host_addresses(self.sni)

    def all_envoys(self) -> list[Envoy]:
        return [*self.gateways.values(), *self.pods.values(), self.client]


def assert_auto_passthrough_listener(mesh: NetworkMesh, network: str, mesh_ports: dict[str, int]) -> dict:
    """`network`'s gateway listener: 0.0.0.0:G, tls_inspector, one chain per service port of the mesh
    (`mesh_ports`: hostname → port) matched on SNI outbound_.PORT_._.HOST with a tcp_proxy to the cluster of that
    name. Returns the listener summary."""
    listener = mesh.gateway_listener_json(network)
    summary = listener_summary(listener)
    name = mesh.gateway_listener(network)
    assert summary["address"] == f"0.0.0.0:{mesh.ports.gateways[network]}", f"{name} binds {summary['address']}"
    assert summary["bind_to_port"] in (True, None), f"{name} does not bind its port: {summary}"
    assert any("tls_inspector" in (f or "") for f in summary["listener_filters"]), (
        f"{name} has no tls_inspector listener filter (SNI cannot be read): {summary['listener_filters']}")
    routes = sni_routes(listener)
    for host, port in mesh_ports.items():
        sni = sni_cluster(port, host)
        assert sni in routes, f"{name} has no filter chain for SNI {sni}; SNI chains: {routes}"
        assert routes[sni] == sni, f"{name}: SNI {sni} goes to cluster {routes[sni]!r}, expected {sni!r}"
    return summary


def describe_counts(counts: collections.Counter) -> dict[str, int]:
    return dict(sorted(counts.items()))


class DeferredChecks:
    """Checks of debug views and metrics, collected instead of raised, so that one missing detail does not hide
    what the data path did; `assert_all()` at the end of the test fails with every one of them."""

    def __init__(self):
        self.failures: list[str] = []

    def expect(self, condition: Any, message: str) -> bool:
        if not condition:
            self.failures.append(message)
        return bool(condition)

    def wait(self, predicate: Callable[[], Any], timeout: float, what: str, processes: Iterable[ManagedProcess] = (),
             detail: Callable[[], Any] | None = None) -> bool:
        try:
            wait_until(predicate, timeout, what, processes=processes)
            return True
        except WaitTimeout as error:
            extra = ""
            if detail is not None:
                try:
                    extra = f"; seen: {detail()}"
                except Exception as detail_error:  # noqa: BLE001
                    extra = f"; seen: <{detail_error!r}>"
            self.failures.append(f"{error}{extra}")
            return False

    def call(self, check: Callable[[], Any], what: str) -> Any:
        """Runs `check`; an AssertionError (or any error) is recorded with `what`."""
        try:
            return check()
        except Exception as error:  # noqa: BLE001
            self.failures.append(f"{what}: {type(error).__name__}: {error}")
            return None

    def assert_all(self) -> None:
        assert not self.failures, f"{len(self.failures)} check(s) failed:\n- " + "\n- ".join(self.failures)
