"""Support for test_multicluster.py: two real kube-apiservers (cluster1 primary, cluster2 remote) sharing one etcd,
helloworld deployed into them, remote secrets, and a `sextant serve --kubeconfig` watching them.

Nothing here sleeps a fixed time: every wait polls a condition against a deadline (conftest.wait_until).
"""

from __future__ import annotations

import base64
import collections
import json
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from conftest import (
    CLIENT_IP,
    ENVOY_CONFIG_TIMEOUT,
    REPO_ROOT,
    ContractViolation,
    Envoy,
    ManagedProcess,
    ProcessGroup,
    Sextant,
    free_port,
    http_get,
    outbound_cluster,
    parse_prometheus,
    send_request,
    wait_for_listener,
    wait_until,
)
from kube.harness import ApiServer, Etcd, kube_apiserver_binary

PRIMARY = "cluster1"
REMOTE = "cluster2"
SYSTEM_NAMESPACE = "istio-system"
MULTICLUSTER_LABEL = {"istio/multiCluster": "true"}
MULTICLUSTER_SELECTOR = "istio/multiCluster=true"
SLICE_API = "discovery.k8s.io/v1beta1"  # the only EndpointSlice version kube-apiserver 1.20 serves
SERVICE = "helloworld"
PORT_NAME = "http"
TARGET_PORT = 8080  # the Service's targetPort; slices carry the backends' real port, resolved by port name
# Versions of helloworld and the loopback address each one's backend listens on.
BACKEND_IPS = {"v1": "127.0.0.2", "v2": "127.0.0.3", "v3": "127.0.0.4", "v4": "127.0.0.5", "v5": "127.0.0.6"}

# The remote cluster's ServiceAccount (as `istioctl create-remote-secret` uses) that gets cluster-admin, so a
# second, different credential for cluster2 exists besides the static admin token.
READER_SERVICE_ACCOUNT = "istio-reader-service-account"

CLUSTER_STATES = {"syncing", "synced", "timeout", "error", "closed"}
CLUSTERZ_KEYS = ("id", "state", "reason", "has_synced", "services", "endpoints", "objects")
ENDPOINTZ_KEYS = ("address", "port", "service_port", "health", "locality", "cluster", "network", "tls_mode", "workload")


# --------------------------------------------------------------------------------------------------------------
# The API servers


@dataclass
class KubeClusters:
    """One etcd and two kube-apiservers, cluster1 under /cluster1 and cluster2 under /cluster2 (module scoped).

    cluster2 runs with --watch-cache=false, so its watches are served by etcd directly and an etcd compaction makes
    a watch from an older resourceVersion fail with 410 Gone (with the watch cache the server would keep serving
    it from memory and the relist path would never run).
    """

    workdir: Path
    binary: Path
    etcd: Etcd
    c1: ApiServer
    c2: ApiServer
    extra: list[ApiServer] = field(default_factory=list)

    REMOTE_ARGS = ("--watch-cache=false",)

    @classmethod
    def start(cls, workdir: Path) -> "KubeClusters":
        binary = kube_apiserver_binary()
        etcd = Etcd(workdir=workdir / "etcd")
        etcd.start()
        c1 = ApiServer(etcd, "/cluster1", PRIMARY, workdir=workdir / PRIMARY, binary=binary)
        c2 = ApiServer(etcd, "/cluster2", REMOTE, workdir=workdir / REMOTE, binary=binary, extra_args=cls.REMOTE_ARGS)
        clusters = cls(workdir, binary, etcd, c1, c2)
        try:
            # One after the other, from this (the main) thread: the harness sets PR_SET_PDEATHSIG in each child,
            # which fires when the *thread* that started it exits, so a server started from a pool thread is
            # terminated as soon as that thread ends.
            c1.start()
            c2.start()
            for server in (c1, c2):
                server.create_namespace(SYSTEM_NAMESPACE)
            # A second credential for cluster2: a ServiceAccount bound to cluster-admin (TokenRequest tokens).
            c2.apply({"apiVersion": "v1", "kind": "ServiceAccount",
                      "metadata": {"name": READER_SERVICE_ACCOUNT, "namespace": SYSTEM_NAMESPACE}})
            c2.apply({
                "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                "metadata": {"name": "sextant-e2e-reader"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
                "subjects": [{"kind": "ServiceAccount", "name": READER_SERVICE_ACCOUNT, "namespace": SYSTEM_NAMESPACE}],
            })
        except BaseException:
            clusters.close()
            raise
        return clusters

    @property
    def servers(self) -> dict[str, ApiServer]:
        return {PRIMARY: self.c1, REMOTE: self.c2}

    def shadow(self, name: str = "cluster2-shadow") -> ApiServer:
        """A second API server over cluster2's etcd data (not started). Sextant does not know its address, so what
        is written through it is, for Sextant, a change made while it could not watch cluster2."""
        server = ApiServer(self.etcd, self.c2.prefix, name, service_cluster_ip_range=self.c2.service_cluster_ip_range,
                           workdir=self.workdir / name, binary=self.binary, extra_args=self.REMOTE_ARGS)
        self.extra.append(server)
        return server

    def reader_token(self) -> str:
        """A fresh TokenRequest token of cluster2's reader ServiceAccount, once RBAC lets it list cluster-wide."""
        token = self.c2.service_account_token(SYSTEM_NAMESPACE, READER_SERVICE_ACCOUNT, expiration_seconds=3600)
        wait_until(lambda: self.c2.get("/api/v1/pods", token=token, query={"limit": "1"}) is not None, 10.0,
                   "cluster2's reader token to be allowed to list pods")
        return token

    def ensure_running(self) -> None:
        for server in (self.c1, self.c2):
            if not server.alive():
                server.start()

    def close(self) -> None:
        for server in [*self.extra, self.c2, self.c1]:
            try:
                server.close()
            except Exception:  # noqa: BLE001 - keep closing the others
                pass
        self.etcd.close()


def apiserver_requests(server: ApiServer, verb: str, resource: str) -> float:
    """Sum of kube-apiserver's apiserver_request_total for `verb` (LIST, WATCH, ...) on `resource` (completed
    requests since the server started; a WATCH counts when it ends)."""
    text = server.get("/metrics", raw=True)
    return sum(value for name, labels, value in parse_prometheus(text)
               if name == "apiserver_request_total" and labels.get("verb") == verb and labels.get("resource") == resource)


# --------------------------------------------------------------------------------------------------------------
# Objects


def remote_secret(name: str, data: dict[str, str], cluster: str | None = None) -> dict:
    """A remote secret as `istioctl create-remote-secret` writes it: data key = cluster ID, value = kubeconfig."""
    meta: dict[str, Any] = {"name": name, "namespace": SYSTEM_NAMESPACE, "labels": dict(MULTICLUSTER_LABEL)}
    if cluster:
        meta["annotations"] = {"networking.istio.io/cluster": cluster}
    return {
        "apiVersion": "v1", "kind": "Secret", "metadata": meta, "type": "Opaque",
        "data": {key: base64.b64encode(value.encode()).decode() for key, value in data.items()},
    }


def exec_kubeconfig(server: ApiServer, cluster: str, marker: Path) -> str:
    """A kubeconfig whose user runs an exec credential plugin (which would create `marker`)."""
    ca_data = base64.b64encode(server.ca_pem.encode()).decode()
    return (
        "apiVersion: v1\n"
        "kind: Config\n"
        "clusters:\n"
        f"- name: {cluster}\n"
        "  cluster:\n"
        f"    server: {server.url}\n"
        f"    certificate-authority-data: {ca_data}\n"
        "users:\n"
        "- name: exec-user\n"
        "  user:\n"
        "    exec:\n"
        "      apiVersion: client.authentication.k8s.io/v1beta1\n"
        "      command: /bin/sh\n"
        f"      args: [\"-c\", \"touch {marker}; echo '{{}}'\"]\n"
        "contexts:\n"
        f"- name: {cluster}\n"
        "  context:\n"
        f"    cluster: {cluster}\n"
        "    user: exec-user\n"
        f"current-context: {cluster}\n"
    )


MALFORMED_KUBECONFIG = (
    "apiVersion: v1\n"
    "kind: Config\n"
    "clusters:\n"
    "- name: \"cluster4\n"
    "  cluster: {server: [https://127.0.0.1:6443\n"
    "users: }\n"
)


def closed_port_kubeconfig(server: ApiServer, cluster: str, port: int) -> str:
    """`server`'s kubeconfig (valid token and CA) pointed at 127.0.0.1:`port`, where nothing listens."""
    return server.kubeconfig(cluster=cluster).replace(server.url, f"https://127.0.0.1:{port}")


def closed_port() -> int:
    """A port on 127.0.0.1 nobody listens on (found free now and never handed out again by conftest.free_port)."""
    return free_port()


@dataclass
class Helloworld:
    """helloworld in one namespace of both clusters: a ClusterIP Service (the API server allocates each cluster's
    VIP from its own range) and EndpointSlices written by the test (no controller-manager runs)."""

    namespace: str
    service_port: int
    backend_port: int
    vips: dict[str, str] = field(default_factory=dict)  # clusterIP per cluster, once deployed

    @property
    def hostname(self) -> str:
        return f"{SERVICE}.{self.namespace}.svc.cluster.local"

    @property
    def cluster_name(self) -> str:
        return outbound_cluster(self.service_port, self.hostname)

    @property
    def listener_name(self) -> str:
        return f"{CLIENT_IP}_{self.service_port}"  # INTERCEPTION_MODE NONE: the sidecar's node id IP

    def endpoint(self, version: str) -> str:
        return f"{BACKEND_IPS[version]}:{self.backend_port}"

    def endpoints(self, versions: Iterable[str]) -> list[str]:
        return sorted(self.endpoint(v) for v in versions)

    def service(self) -> dict:
        return {
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": SERVICE, "namespace": self.namespace, "labels": {"app": SERVICE}},
            "spec": {
                "type": "ClusterIP",
                "selector": {"app": SERVICE},
                "ports": [{"name": PORT_NAME, "port": self.service_port, "targetPort": TARGET_PORT, "protocol": "TCP"}],
            },
        }

    def slice(self, name: str, versions: Iterable[str]) -> dict:
        return {
            "apiVersion": SLICE_API, "kind": "EndpointSlice",
            "metadata": {
                "name": name, "namespace": self.namespace,
                "labels": {"kubernetes.io/service-name": SERVICE, "endpointslice.kubernetes.io/managed-by": "e2e"},
            },
            "addressType": "IPv4",
            "ports": [{"name": PORT_NAME, "port": self.backend_port, "protocol": "TCP"}],
            "endpoints": [{"addresses": [BACKEND_IPS[v]], "conditions": {"ready": True}} for v in versions],
        }

    def set_slice(self, server: ApiServer, name: str, versions: Iterable[str]) -> dict:
        return server.apply(self.slice(name, list(versions)))

    def delete_slice(self, server: ApiServer, name: str) -> None:
        server.delete(f"/apis/{SLICE_API}/namespaces/{self.namespace}/endpointslices/{name}")

    def deploy(self, server: ApiServer, slices: dict[str, list[str]]) -> str:
        """Namespace, Service and slices in `server`; returns the Service's allocated clusterIP."""
        server.create_namespace(self.namespace)
        service = server.apply(self.service())
        for name, versions in slices.items():
            self.set_slice(server, name, versions)
        return service["spec"]["clusterIP"]

    def remove(self, server: ApiServer) -> None:
        """Deletes the Service and every slice of the namespace (the Namespace itself would stay Terminating
        forever without a namespace controller, so it is left)."""
        if not server.alive():
            return
        for item in server.list(SLICE_API, "EndpointSlice", self.namespace):
            self.delete_slice(server, item["metadata"]["name"])
        server.delete(f"/api/v1/namespaces/{self.namespace}/services/{SERVICE}")

    def api_endpoints(self, servers: dict[str, ApiServer]) -> list[tuple[str, int, str]]:
        """What the API servers hold: sorted (address, port, cluster) of every ready endpoint of helloworld."""
        result = []
        for cluster, server in servers.items():
            for item in server.list(SLICE_API, "EndpointSlice", self.namespace,
                                    labelSelector=f"kubernetes.io/service-name={SERVICE}"):
                ports = [p["port"] for p in item.get("ports") or [] if p.get("name") == PORT_NAME]
                for endpoint in item.get("endpoints") or []:
                    if (endpoint.get("conditions") or {}).get("ready") is False:
                        continue
                    for address in endpoint.get("addresses") or []:
                        result.extend((address, port, cluster) for port in ports)
        return sorted(result)

    def expected(self, by_cluster: dict[str, list[str]]) -> list[tuple[str, int, str]]:
        return sorted((BACKEND_IPS[v], self.backend_port, c) for c, versions in by_cluster.items() for v in versions)


def delete_remote_secrets(server: ApiServer) -> list[str]:
    """Deletes every remote secret in the system namespace of `server`; returns their names."""
    if not server.alive():
        return []
    names = [item["metadata"]["name"] for item in server.list("v1", "Secret", SYSTEM_NAMESPACE,
                                                              labelSelector=MULTICLUSTER_SELECTOR)]
    for name in names:
        server.delete(f"/api/v1/namespaces/{SYSTEM_NAMESPACE}/secrets/{name}")
    return names


# --------------------------------------------------------------------------------------------------------------
# Sextant over Kubernetes


class KubeSextant(Sextant):
    """`sextant serve --kubeconfig`, with the multicluster debug views (log_text/log_lines are Sextant's)."""

    def clusterz(self) -> list[dict]:
        body = self.monitoring_get("/debug/clusterz")
        data = json.loads(body)
        if not isinstance(data, list):
            raise ContractViolation(f"/debug/clusterz is not a JSON list: {body[:500]}")
        for entry in data:
            missing = [key for key in CLUSTERZ_KEYS if key not in entry]
            if missing:
                raise ContractViolation(f"/debug/clusterz entry lacks {missing}: {entry}")
            if entry["state"] not in CLUSTER_STATES:
                raise ContractViolation(f"/debug/clusterz state {entry['state']!r} is not one of {sorted(CLUSTER_STATES)}")
        ids = [entry["id"] for entry in data]
        if len(ids) != len(set(ids)):
            raise ContractViolation(f"/debug/clusterz lists a cluster twice: {ids}")
        return data

    def clusters(self) -> dict[str, dict]:
        return {entry["id"]: entry for entry in self.clusterz()}

    def cluster_states(self) -> dict[str, str]:
        return {entry["id"]: entry["state"] for entry in self.clusterz()}

    def endpointz(self) -> dict[str, list[dict]]:
        body = self.monitoring_get("/debug/endpointz")
        data = json.loads(body)
        if not isinstance(data, dict):
            raise ContractViolation(f"/debug/endpointz is not a JSON object: {body[:500]}")
        return data

    def endpoints_of(self, hostname: str) -> list[tuple[str, int, str]]:
        """Sorted (address, port, cluster) of `hostname` in /debug/endpointz; duplicates are kept."""
        entries = self.endpointz().get(hostname, [])
        for entry in entries:
            missing = [key for key in ENDPOINTZ_KEYS if key not in entry]
            if missing:
                raise ContractViolation(f"/debug/endpointz entry of {hostname} lacks {missing}: {entry}")
        return sorted((e["address"], e["port"], e["cluster"]) for e in entries)

    def registryz(self) -> list[dict]:
        data = json.loads(self.monitoring_get("/debug/registryz"))
        if not isinstance(data, list):
            raise ContractViolation(f"/debug/registryz is not a JSON list: {str(data)[:500]}")
        return data


def start_kube_sextant(
    processes: ProcessGroup,
    sextant_bin: Path,
    kubeconfig: Path,
    cluster_id: str = PRIMARY,
    extra_args: Iterable[str] = (),
    env: dict[str, str] | None = None,
    secure_grpc_port: int | None = None,
) -> KubeSextant:
    """Without `secure_grpc_port` the secure port is disabled (a fixed 15012 would clash between Sextants); with
    Kubernetes the self-signed root lives in Secret istio-ca-secret, so no --self-signed-ca-dir is given."""
    grpc_port, http_port, monitoring_port = free_port(), free_port(), free_port()
    security_args = ["--secure-grpc-port", str(secure_grpc_port if secure_grpc_port is not None else 0)]
    full_env = dict(os.environ)
    full_env.update({"PILOT_DEBOUNCE_AFTER": "50ms", "PILOT_DEBOUNCE_MAX": "1s"})
    full_env.update(env or {})
    process = processes.start("sextant", [
        sextant_bin, "serve",
        "--kubeconfig", kubeconfig,
        "--cluster-id", cluster_id,
        "--listen-address", "127.0.0.1",
        "--grpc-port", grpc_port,
        "--http-port", http_port,
        "--monitoring-port", monitoring_port,
        *security_args,
        *extra_args,
    ], env=full_env, cwd=REPO_ROOT)
    sextant = KubeSextant(process, None, grpc_port, http_port, monitoring_port,  # type: ignore[arg-type]
                          secure_grpc_port=secure_grpc_port or None)
    for path in ("/debug/clusterz", "/debug/endpointz", "/debug/registryz", "/debug/syncz"):
        processes.add_diagnostic(f"sextant {path}", lambda path=path: sextant.monitoring_get(path)[:8000])
    processes.add_diagnostic("sextant GET /ready", lambda: repr(http_get("127.0.0.1", http_port, "/ready")))
    return sextant


def wait_envoy_serving(envoy: Envoy, sextant: Sextant, app: Helloworld, versions: Iterable[str]) -> None:
    """Waits until Envoy has helloworld's listener, exactly the hosts of `versions`, is LIVE and a request answers."""
    expected = app.endpoints(versions)
    watched = [envoy.process, sextant.process]
    wait_for_listener(envoy, app.listener_name, watched)
    wait_until(lambda: envoy.healthy_host_addresses(app.cluster_name) == expected, ENVOY_CONFIG_TIMEOUT,
               f"envoy /clusters to show {app.cluster_name} with healthy hosts {expected}", processes=watched)
    wait_until(lambda: http_get(*envoy.admin(), "/ready", timeout=1.0)[0] == 200, ENVOY_CONFIG_TIMEOUT,
               "envoy admin /ready to answer 200 (LIVE)", processes=watched)
    wait_until(lambda: send_request(app.service_port, app.hostname)[0] == 200, ENVOY_CONFIG_TIMEOUT,
               f"a first request through {CLIENT_IP}:{app.service_port} to answer 200", processes=watched)


def version_of(body: str) -> str:
    match = re.fullmatch(r"helloworld (v\d+)", body)
    return match.group(1) if match else body


class Traffic:
    """Requests through Envoy's listener, one at a time: answers per version, failures, and the longest run (count
    and seconds) without an answer from `watch` (a version that must keep answering)."""

    def __init__(self, app: Helloworld, watch: str | None = None):
        self.app = app
        self.watch = watch
        self.counts: collections.Counter = collections.Counter()
        self.failures: list[str] = []
        self.sent = 0
        self.longest_streak_without_watch = 0
        self.longest_seconds_without_watch = 0.0
        self._streak = 0
        self._last_watch_answer: float | None = None

    def send(self) -> str:
        self.sent += 1
        try:
            status, body = send_request(self.app.service_port, self.app.hostname)
        except OSError as error:
            status, body = None, repr(error)
        now = time.monotonic()
        if status != 200:
            answer = f"HTTP {status}: {body[:100]}"
            self.failures.append(answer)
        else:
            answer = version_of(body)
        self.counts[answer] += 1
        if self.watch is not None:
            if answer == self.watch:
                if self._last_watch_answer is not None:
                    self.longest_seconds_without_watch = max(self.longest_seconds_without_watch,
                                                             now - self._last_watch_answer)
                self._last_watch_answer = now
                self._streak = 0
            else:
                self._streak += 1
                self.longest_streak_without_watch = max(self.longest_streak_without_watch, self._streak)
        return answer

    def send_many(self, n: int) -> "Traffic":
        for _ in range(n):
            self.send()
        return self

    def summary(self) -> dict:
        return dict(sorted(self.counts.items()))


def timed_wait(predicate: Callable[[], Any], timeout: float, what: str, processes: Iterable[ManagedProcess] = (),
               interval: float = 0.02) -> float:
    """wait_until, returning the seconds it took."""
    started = time.monotonic()
    wait_until(predicate, timeout, what, interval=interval, processes=list(processes))
    return time.monotonic() - started

