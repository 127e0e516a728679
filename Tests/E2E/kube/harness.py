"""A real etcd + kube-apiserver 1.20.2 on loopback, for Sextant's end-to-end tests.

    with Etcd() as etcd, ApiServer(etcd, "/cluster1", "cluster1") as c1, ApiServer(etcd, "/cluster2", "cluster2") as c2:
        c1.create_namespace("sample")
        c1.apply({"apiVersion": "v1", "kind": "Service", ...})
        secret_text = c2.kubeconfig()            # kubeconfig YAML for istio/multiCluster secrets
        c2.stop(); c2.start()                    # same port, same etcd data

Binaries: etcd is Debian's (package etcd-server, /usr/bin/etcd); kube-apiserver comes from env SEXTANT_KUBE_APISERVER
or from Scripts/kube-apiserver.sh, which builds it from Debian's `kubernetes` source package when its cache is empty
(~6.5 minutes the first time) and installs etcd-server.

Every process is started by this module, tracked by PID, logs into its owner's work directory, and is stopped by
`stop()`/`close()`, by the context managers, and, as a safety net, at interpreter exit (atexit) and when the Python
process dies (PR_SET_PDEATHSIG). Nothing here sleeps a fixed time: readiness is polled against a deadline.

1.20.2 facts this harness relies on: EndpointSlice is only discovery.k8s.io/v1beta1; core v1 Endpoints refuse
loopback addresses but EndpointSlices accept them; without a controller-manager there is no `default` ServiceAccount
(so the ServiceAccount admission plugin is disabled, else every Pod create fails) and nothing schedules Pods (they stay
Pending; `patch_status` sets podIP and conditions).
"""

from __future__ import annotations

import atexit
import base64
import ctypes
import datetime
import ipaddress
import json
import os
import re
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Callable, Iterable

REPO_ROOT = Path(__file__).resolve().parents[3]
BUILD_SCRIPT = REPO_ROOT / "Scripts" / "kube-apiserver.sh"
KUBE_VERSION = "v1.20.2"

ETCD_READY_TIMEOUT = 20.0
APISERVER_READY_TIMEOUT = 90.0  # 3.5-4.5 s on an idle 2-core machine; generous for a loaded CI run
STOP_TIMEOUT = 20.0
BUILD_TIMEOUT = 3600.0  # a clean build is ~6.5 minutes, plus apt-get

__all__ = [
    "ApiError",
    "ApiServer",
    "Etcd",
    "HarnessError",
    "KUBE_VERSION",
    "etcd_binary",
    "free_port",
    "kube_apiserver_binary",
    "wait_for",
]


class HarnessError(RuntimeError):
    """A process of the harness failed to start, exited, or did not become ready in time."""


class ApiError(Exception):
    """A non-2xx answer of the API server. `status` is the HTTP code, `body` the decoded JSON (a Status) or text."""

    def __init__(self, method: str, path: str, status: int, body: Any):
        self.method, self.path, self.status, self.body = method, path, status, body
        self.reason = body.get("reason", "") if isinstance(body, dict) else ""
        message = body.get("message", "") if isinstance(body, dict) else str(body)[:500]
        super().__init__(f"{method} {path}: HTTP {status} {self.reason}: {message}")


# --------------------------------------------------------------------------------------------------------------
# Small utilities


_ports_lock = threading.Lock()
_ports_handed_out: set[int] = set()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now (the kernel's choice), never one this process was given
    before (so servers constructed before any of them listens do not collide)."""
    with _ports_lock:
        for _ in range(100):
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
            if port not in _ports_handed_out:
                _ports_handed_out.add(port)
                return port
    raise HarnessError("no fresh free port on 127.0.0.1")


def wait_for(
    predicate: Callable[[], Any],
    timeout: float,
    what: str,
    interval: float = 0.05,
    alive: Callable[[], bool] | None = None,
    describe: Callable[[], str] | None = None,
) -> Any:
    """Polls `predicate` until it returns something truthy (returned) or `timeout` seconds pass (HarnessError).

    Exceptions from the predicate count as "not yet"; the last one is quoted. `alive` returning False fails at once
    (the process being waited for exited); `describe` adds context (a log tail) to the error.
    """
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except Exception as error:  # noqa: BLE001 - not ready yet
            last = error
        if alive is not None and not alive():
            extra = f"\n{describe()}" if describe else ""
            raise HarnessError(f"{what}: the process exited (last error: {last!r}){extra}")
        if time.monotonic() >= deadline:
            extra = f"\n{describe()}" if describe else ""
            raise HarnessError(f"{what}: not true after {timeout:.0f}s (last error: {last!r}){extra}")
        time.sleep(interval)


def _tail(path: Path, lines: int = 40) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 16384))
            text = f.read().decode("utf-8", "replace")
    except OSError as error:
        return f"(no log: {error})"
    return "\n".join(text.splitlines()[-lines:])


def _run(argv: list[str], timeout: float = 120.0, **kwargs: Any) -> subprocess.CompletedProcess:
    result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kwargs)
    if result.returncode != 0:
        raise HarnessError(f"{' '.join(map(str, argv))} exited {result.returncode}:\n{result.stderr[-4000:]}")
    return result


# --------------------------------------------------------------------------------------------------------------
# Binaries

_binary_lock = threading.Lock()
_apiserver_binary: Path | None = None
_apiserver_error: HarnessError | None = None


def kube_apiserver_binary(timeout: float = BUILD_TIMEOUT) -> Path:
    """The kube-apiserver 1.20.2 binary: env SEXTANT_KUBE_APISERVER, else Scripts/kube-apiserver.sh (builds when
    its cache is empty; asked once per process)."""
    global _apiserver_binary, _apiserver_error
    with _binary_lock:
        if _apiserver_binary is not None:
            return _apiserver_binary
        if _apiserver_error is not None:  # a failed build is not retried in the same process
            raise _apiserver_error
        try:
            _apiserver_binary = _find_or_build_apiserver(timeout)
        except HarnessError as error:
            _apiserver_error = error
            raise
        return _apiserver_binary


def _find_or_build_apiserver(timeout: float) -> Path:
    explicit = os.environ.get("SEXTANT_KUBE_APISERVER")
    if explicit:
        path = Path(explicit)
    else:
        try:
            result = _run(["bash", str(BUILD_SCRIPT)], timeout=timeout)
        except subprocess.TimeoutExpired as error:
            raise HarnessError(f"{BUILD_SCRIPT} did not finish within {timeout:.0f}s") from error
        lines = result.stdout.strip().splitlines()
        if not lines:
            raise HarnessError(f"{BUILD_SCRIPT} printed no path:\n{result.stderr[-4000:]}")
        path = Path(lines[-1])
    if not os.access(path, os.X_OK):
        raise HarnessError(f"kube-apiserver binary {path} is missing or not executable")
    return path


def etcd_binary() -> Path:
    """Debian's etcd (package etcd-server). Scripts/kube-apiserver.sh installs it when it is missing."""
    for candidate in (shutil.which("etcd"), "/usr/bin/etcd"):
        if candidate and os.access(candidate, os.X_OK):
            return Path(candidate)
    kube_apiserver_binary()  # the script installs etcd-server
    found = shutil.which("etcd") or "/usr/bin/etcd"
    if not os.access(found, os.X_OK):
        raise HarnessError("etcd not found (apt-get install etcd-server)")
    return Path(found)


# --------------------------------------------------------------------------------------------------------------
# Processes (by PID) and the exit-time safety net

_live_lock = threading.Lock()
_live: set["_Process"] = set()
_owned_dirs: set[Path] = set()


def _set_pdeathsig() -> None:  # runs in the child between fork and exec
    # The signal fires when the *thread* that started the child exits, not the whole process: start servers from a
    # long-lived thread (the main thread in pytest), never from a short-lived worker thread.
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:  # noqa: BLE001 - best effort
        pass


class _Process:
    """One child process: stdout+stderr appended to `log_path`, stopped by PID (SIGTERM, then SIGKILL)."""

    def __init__(self, name: str, argv: list[str], log_path: Path):
        self.name, self.argv, self.log_path = name, argv, log_path
        self.popen: subprocess.Popen | None = None

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen else None

    def start(self) -> None:
        if self.alive():
            raise HarnessError(f"{self.name} is already running (pid {self.pid})")
        with open(self.log_path, "ab") as log:
            stamp = datetime.datetime.now().isoformat(timespec="milliseconds")
            log.write(f"\n=== {stamp} starting: {' '.join(self.argv)}\n".encode())
            log.flush()
            self.popen = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C in the terminal reaches pytest, which then stops us in order
                preexec_fn=_set_pdeathsig,
                close_fds=True,
            )
        with _live_lock:
            _live.add(self)

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def stop(self, timeout: float = STOP_TIMEOUT) -> int | None:
        """SIGTERM, then SIGKILL when it is still running after `timeout` seconds. Returns the exit status."""
        popen = self.popen
        if popen is None:
            return None
        if popen.poll() is None:
            try:
                popen.send_signal(signal.SIGTERM)
                popen.wait(timeout)
            except subprocess.TimeoutExpired:
                popen.kill()
                popen.wait(10)
        with _live_lock:
            _live.discard(self)
        return popen.returncode

    def tail(self, lines: int = 40) -> str:
        return _tail(self.log_path, lines)


@atexit.register
def _stop_everything() -> None:
    with _live_lock:
        processes = list(_live)
    for process in processes:
        try:
            process.stop(timeout=5)
        except Exception:  # noqa: BLE001 - last resort
            pass
    for path in list(_owned_dirs):
        shutil.rmtree(path, ignore_errors=True)


def _make_workdir(workdir: str | os.PathLike | None, prefix: str) -> tuple[Path, bool]:
    """(directory, owned): a given directory is kept (the caller's, e.g. pytest's tmp_path, so logs survive); a
    directory made here is removed at close()."""
    if workdir is not None:
        path = Path(workdir)
        path.mkdir(parents=True, exist_ok=True)
        return path, False
    path = Path(tempfile.mkdtemp(prefix=prefix))
    _owned_dirs.add(path)
    return path, True


# --------------------------------------------------------------------------------------------------------------
# etcd


class _ManagedServer:
    """What Etcd and ApiServer share: closing (stop, then remove an owned workdir), use as a context manager that
    starts the server, and the tail of its log. Subclasses set dir, log_path, _owns_dir, _closed and define start,
    stop and alive."""

    def close(self) -> None:
        if self._closed:
            return
        self.stop()
        self._closed = True
        if self._owns_dir:
            shutil.rmtree(self.dir, ignore_errors=True)
            _owned_dirs.discard(self.dir)

    def __enter__(self):
        if not self.alive():
            try:
                self.start()
            except BaseException:
                self.close()
                raise
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def tail(self, lines: int = 40) -> str:
        return _tail(self.log_path, lines)

    def _describe(self) -> str:
        return f"--- {self.log_path} (tail) ---\n{self.tail()}"


class Etcd(_ManagedServer):
    """Debian's etcd 3.4 on 127.0.0.1 (free client and peer ports), data in a temporary directory.

    `stop()` then `start()` keeps the ports and the data. `compact()` compacts the whole keyspace through etcd's v3
    HTTP gateway, so API server watches from older resourceVersions expire.
    """

    def __init__(self, workdir: str | os.PathLike | None = None, name: str = "etcd"):
        self.name = name
        self.dir, self._owns_dir = _make_workdir(workdir, "sextant-etcd-")
        self.data_dir = self.dir / f"{name}.data"
        self.log_path = self.dir / f"{name}.log"
        self.client_port = free_port()
        self.peer_port = free_port()
        self._process: _Process | None = None
        self._closed = False

    # Addresses

    @property
    def url(self) -> str:
        """The client URL, e.g. for --etcd-servers."""
        return f"http://127.0.0.1:{self.client_port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    # Lifecycle

    def start(self, timeout: float = ETCD_READY_TIMEOUT) -> "Etcd":
        if self._closed:
            raise HarnessError("Etcd was closed")
        if self.alive():
            raise HarnessError(f"etcd {self.url} is already running (pid {self.pid})")
        peer = f"http://127.0.0.1:{self.peer_port}"
        argv = [
            str(etcd_binary()),
            f"--name={self.name}",
            f"--data-dir={self.data_dir}",
            f"--listen-client-urls={self.url}",
            f"--advertise-client-urls={self.url}",
            f"--listen-peer-urls={peer}",
            f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster={self.name}={peer}",
            "--initial-cluster-state=new",
            "--initial-cluster-token=sextant-e2e",
            "--logger=zap",
            "--log-outputs=stderr",
            "--quota-backend-bytes=1073741824",
        ]
        self._process = _Process(self.name, argv, self.log_path)
        self._process.start()
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float = ETCD_READY_TIMEOUT) -> None:
        def healthy() -> bool:
            with urllib.request.urlopen(f"{self.url}/health", timeout=2) as response:
                return json.loads(response.read()).get("health") == "true"

        wait_for(healthy, timeout, f"etcd {self.url} healthy", alive=self.alive, describe=self._describe)

    def alive(self) -> bool:
        return self._process is not None and self._process.alive()

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        if self._process is not None:
            self._process.stop(timeout)


    # v3 HTTP gateway (JSON; keys and values are base64)

    def call(self, path: str, body: dict) -> dict:
        """POST to the v3 gateway, e.g. call("/v3/kv/range", {...})."""
        request = urllib.request.Request(
            f"{self.url}{path}", data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as error:
            raise HarnessError(f"etcd {path}: HTTP {error.code}: {error.read()[:500]!r}") from None

    def revision(self) -> int:
        """The current store revision."""
        answer = self.call("/v3/kv/range", {"key": _b64(b"\0"), "count_only": True})
        return int(answer["header"]["revision"])

    def compact(self, revision: int | None = None, physical: bool = True) -> int:
        """Compacts history up to `revision` (default: the current one); returns the revision compacted at."""
        revision = self.revision() if revision is None else revision
        self.call("/v3/kv/compaction", {"revision": str(revision), "physical": physical})
        return revision

    def keys(self, prefix: str) -> list[str]:
        """Keys under `prefix` (e.g. "/cluster1/"), for checking what an API server wrote."""
        raw = prefix.encode()
        end = raw[:-1] + bytes([raw[-1] + 1])
        answer = self.call("/v3/kv/range", {"key": _b64(raw), "range_end": _b64(end), "keys_only": True})
        return [base64.b64decode(kv["key"]).decode("utf-8", "replace") for kv in answer.get("kvs", [])]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# --------------------------------------------------------------------------------------------------------------
# Certificates and keys: `cryptography` when importable, else Debian's openssl CLI


def _write_pki(directory: Path, sans_ips: Iterable[str], sans_dns: Iterable[str]) -> dict[str, Path]:
    """Writes ca.crt/ca.key, server.crt/server.key (signed by the CA, the given SANs) and the service-account key
    pair sa.key (private, PEM) / sa.pub (public, PEM). Returns the paths by name."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = {name: directory / name for name in ("ca.crt", "ca.key", "server.crt", "server.key", "sa.key", "sa.pub")}
    sans_ips, sans_dns = list(sans_ips), list(sans_dns)
    try:
        import cryptography  # noqa: F401
    except ImportError:
        _write_pki_openssl(directory, paths, sans_ips, sans_dns)
    else:
        _write_pki_cryptography(paths, sans_ips, sans_dns)
    for name in ("ca.key", "server.key", "sa.key"):
        os.chmod(paths[name], 0o600)
    return paths


def _write_pki_cryptography(paths: dict[str, Path], sans_ips: list[str], sans_dns: list[str]) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=5)
    until = now + datetime.timedelta(days=3650)

    def pem_key(key: Any) -> bytes:
        return key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
        )

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sextant-e2e-ca")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(until)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False, data_encipherment=False,
                key_agreement=False, key_cert_sign=True, crl_sign=True, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    server_key = ec.generate_private_key(ec.SECP256R1())
    alt_names: list[x509.GeneralName] = [x509.DNSName(d) for d in sans_dns]
    alt_names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in sans_ips]
    server_cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")]))
        .issuer_name(ca_name)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(until)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=True, data_encipherment=False,
                key_agreement=False, key_cert_sign=False, crl_sign=False, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    sa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    paths["ca.crt"].write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    paths["ca.key"].write_bytes(pem_key(ca_key))
    paths["server.crt"].write_bytes(server_cert.public_bytes(serialization.Encoding.PEM))
    paths["server.key"].write_bytes(pem_key(server_key))
    paths["sa.key"].write_bytes(pem_key(sa_key))
    paths["sa.pub"].write_bytes(
        sa_key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )


def _write_pki_openssl(directory: Path, paths: dict[str, Path], sans_ips: list[str], sans_dns: list[str]) -> None:
    openssl = shutil.which("openssl")
    if not openssl:
        raise HarnessError("neither the `cryptography` package nor the openssl CLI is available to make certificates")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _run([openssl, "req", "-x509", *ec, "-keyout", str(paths["ca.key"]), "-out", str(paths["ca.crt"]),
          "-days", "3650", "-subj", "/CN=sextant-e2e-ca",
          "-addext", "basicConstraints=critical,CA:TRUE",
          "-addext", "keyUsage=critical,digitalSignature,keyCertSign,cRLSign",
          "-addext", "subjectKeyIdentifier=hash"])
    csr = directory / "server.csr"
    _run([openssl, "req", "-new", *ec, "-keyout", str(paths["server.key"]), "-out", str(csr),
          "-subj", "/CN=kube-apiserver"])
    san = ",".join([f"DNS:{d}" for d in sans_dns] + [f"IP:{ip}" for ip in sans_ips])
    extfile = directory / "server.ext"
    extfile.write_text(
        "basicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=serverAuth\n"
        "authorityKeyIdentifier=keyid\n"
        f"subjectAltName={san}\n"
    )
    _run([openssl, "x509", "-req", "-in", str(csr), "-CA", str(paths["ca.crt"]), "-CAkey", str(paths["ca.key"]),
          "-CAcreateserial", "-days", "3650", "-sha256", "-extfile", str(extfile), "-out", str(paths["server.crt"])])
    _run([openssl, "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", str(paths["sa.key"])])
    _run([openssl, "pkey", "-in", str(paths["sa.key"]), "-pubout", "-out", str(paths["sa.pub"])])
    for leftover in (csr, extfile, directory / "ca.srl"):
        leftover.unlink(missing_ok=True)


# --------------------------------------------------------------------------------------------------------------
# kube-apiserver


def _yaml_str(value: str) -> str:
    return json.dumps(value)  # a JSON string is a valid YAML double-quoted scalar


_cidr_lock = threading.Lock()
_next_cidr = 0


def _default_service_cidr(name: str) -> str:
    """clusterN -> 10.(95+N).0.0/16 (cluster1 = 10.96.0.0/16, cluster2 = 10.97.0.0/16); other names get the next
    unused /16 from 10.128.0.0 on."""
    global _next_cidr
    match = re.fullmatch(r"cluster(\d+)", name)
    if match and 1 <= int(match.group(1)) <= 31:
        return f"10.{95 + int(match.group(1))}.0.0/16"
    with _cidr_lock:
        n, _next_cidr = _next_cidr, _next_cidr + 1
    return f"10.{128 + n % 128}.0.0/16"


class ApiServer(_ManagedServer):
    """kube-apiserver 1.20.2 on https://127.0.0.1:<free port>, storing under `prefix` in the shared `etcd`.

    Authentication: static tokens (`admin_token`: user admin in system:masters; `limited_token`: user `limited`, no
    group, so RBAC grants it only discovery) and service-account tokens (TokenRequest works). Authorization: RBAC.
    The serving certificate is signed by a CA made here (`ca_pem`) with IP SAN 127.0.0.1.

    `stop()` then `start()` serves again on the same port, from the same etcd data. Use it as a context manager or
    call `close()`; processes left running are stopped at interpreter exit.
    """

    def __init__(
        self,
        etcd: Etcd,
        prefix: str | None = None,
        name: str = "cluster1",
        *,
        service_cluster_ip_range: str | None = None,
        workdir: str | os.PathLike | None = None,
        binary: str | os.PathLike | None = None,
        extra_args: Iterable[str] = (),
        port: int | None = None,
    ):
        self.etcd = etcd
        self.name = name
        self.prefix = "/" + (prefix if prefix is not None else name).strip("/")
        self.service_cluster_ip_range = service_cluster_ip_range or _default_service_cidr(name)
        self.dir, self._owns_dir = _make_workdir(workdir, f"sextant-kube-{name}-")
        self.log_path = self.dir / "kube-apiserver.log"
        self.port = port or free_port()
        self.extra_args = list(extra_args)
        self._binary = Path(binary) if binary else None
        self._process: _Process | None = None
        self._closed = False
        self._resources: dict[tuple[str, str], tuple[str, bool]] = {}

        service_ip = str(next(ipaddress.ip_network(self.service_cluster_ip_range).hosts()))
        self.pki = _write_pki(
            self.dir / "pki",
            sans_ips=["127.0.0.1", service_ip],
            sans_dns=["localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
                      "kubernetes.default.svc.cluster.local"],
        )
        self.ca_pem: str = self.pki["ca.crt"].read_text()
        self.ca_file: Path = self.pki["ca.crt"]
        self.admin_token = f"admin-{secrets.token_hex(16)}"
        self.limited_token = f"limited-{secrets.token_hex(16)}"
        self.tokens: dict[str, str] = {"admin": self.admin_token, "limited": self.limited_token}
        self.token_file = self.dir / "tokens.csv"
        self.token_file.write_text(
            f'{self.admin_token},admin,admin-uid,"system:masters"\n'
            f"{self.limited_token},limited,limited-uid\n"
        )
        os.chmod(self.token_file, 0o600)
        self.service_account_issuer = f"https://kubernetes.default.svc.{name}.local"
        self._ssl = ssl.create_default_context(cadata=self.ca_pem)

    # Addresses

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def argv(self) -> list[str]:
        """The command line. 1.20.2 notes: --insecure-port is not given (1.20 serves no insecure port and only warns
        "has no effect now"); ServiceAccount admission is disabled (no controller-manager makes `default`
        ServiceAccounts or their token Secrets, so every Pod create would fail); TokenRequest needs the
        --service-account-signing-key-file/--service-account-issuer pair; --endpoint-reconciler-type=none keeps the
        server from writing its own `kubernetes` Endpoints (several servers share one etcd, under --etcd-prefix)."""
        binary = self._binary or kube_apiserver_binary()
        return [
            str(binary),
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={self.port}",
            f"--cert-dir={self.dir / 'certs'}",
            f"--tls-cert-file={self.pki['server.crt']}",
            f"--tls-private-key-file={self.pki['server.key']}",
            f"--client-ca-file={self.pki['ca.crt']}",
            f"--etcd-servers={self.etcd.url}",
            f"--etcd-prefix={self.prefix}",
            f"--token-auth-file={self.token_file}",
            "--authorization-mode=RBAC",
            f"--service-account-key-file={self.pki['sa.pub']}",
            f"--service-account-signing-key-file={self.pki['sa.key']}",
            f"--service-account-issuer={self.service_account_issuer}",
            f"--api-audiences={self.service_account_issuer}",
            "--endpoint-reconciler-type=none",
            f"--service-cluster-ip-range={self.service_cluster_ip_range}",
            "--allow-privileged=true",
            "--disable-admission-plugins=ServiceAccount",
            "--profiling=false",
            "--logtostderr=true",
            "--v=1",
            *self.extra_args,
        ]

    # Lifecycle

    def start(self, timeout: float = APISERVER_READY_TIMEOUT) -> "ApiServer":
        """Starts (or restarts, same port and data) the server and waits until /readyz answers ok."""
        if self._closed:
            raise HarnessError(f"ApiServer {self.name} was closed")
        if self.alive():
            raise HarnessError(f"ApiServer {self.name} is already running (pid {self.pid})")
        if not self.etcd.alive():
            raise HarnessError(f"ApiServer {self.name}: etcd is not running")
        self._process = _Process(f"kube-apiserver-{self.name}", self.argv(), self.log_path)
        self._process.start()
        try:
            self.wait_ready(timeout)
        except Exception:
            self.stop()
            raise
        return self

    def wait_ready(self, timeout: float = APISERVER_READY_TIMEOUT) -> None:
        def ready() -> bool:
            return self.request("GET", "/readyz", raw=True, timeout=5) == "ok"

        wait_for(ready, timeout, f"kube-apiserver {self.name} {self.url}/readyz", interval=0.1,
                 alive=self.alive, describe=self._describe)

    def alive(self) -> bool:
        return self._process is not None and self._process.alive()

    def stop(self, timeout: float = STOP_TIMEOUT) -> int | None:
        """SIGTERM, SIGKILL after `timeout`; the port and the etcd data stay for `start()`."""
        if self._process is None:
            return None
        return self._process.stop(timeout)

    def restart(self, timeout: float = APISERVER_READY_TIMEOUT) -> "ApiServer":
        """stop() then start(): same port, same etcd data, new process."""
        self.stop()
        return self.start(timeout)


    # kubeconfig

    def kubeconfig(self, token: str | None = None, user: str = "admin", cluster: str | None = None) -> str:
        """kubeconfig YAML (one cluster, user and context, current-context set) with the CA inline. `token` defaults
        to the static token of `user` (admin or limited); the cluster and context are named `cluster` (default:
        this server's name), as Istio's remote secrets expect."""
        if token is None:
            if user not in self.tokens:
                raise ValueError(f"no token for user {user!r}: pass token=")
            token = self.tokens[user]
        cluster = cluster or self.name
        ca_data = base64.b64encode(self.ca_pem.encode()).decode()
        return (
            "apiVersion: v1\n"
            "kind: Config\n"
            "clusters:\n"
            f"- name: {_yaml_str(cluster)}\n"
            "  cluster:\n"
            f"    server: {_yaml_str(self.url)}\n"
            f"    certificate-authority-data: {_yaml_str(ca_data)}\n"
            "users:\n"
            f"- name: {_yaml_str(user)}\n"
            "  user:\n"
            f"    token: {_yaml_str(token)}\n"
            "contexts:\n"
            f"- name: {_yaml_str(cluster)}\n"
            "  context:\n"
            f"    cluster: {_yaml_str(cluster)}\n"
            f"    user: {_yaml_str(user)}\n"
            f"current-context: {_yaml_str(cluster)}\n"
            "preferences: {}\n"
        )

    def write_kubeconfig(self, path: str | os.PathLike, **kwargs: Any) -> Path:
        path = Path(path)
        path.write_text(self.kubeconfig(**kwargs))
        os.chmod(path, 0o600)
        return path

    # REST

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        token: str | None = None,
        content_type: str = "application/json",
        query: dict[str, Any] | None = None,
        raw: bool = False,
        timeout: float = 30.0,
    ) -> Any:
        """One HTTPS request as `token` (default: admin). Returns the decoded JSON (or text with raw=True); a non-2xx
        answer raises ApiError."""
        url = self.url + path
        if query:
            url += ("&" if "?" in url else "?") + urllib.parse.urlencode(query)
        data = None
        headers = {"Authorization": f"Bearer {token or self.admin_token}", "Accept": "application/json"}
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            headers["Content-Type"] = content_type
        request = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=timeout, context=self._ssl) as response:
                payload = response.read()
        except urllib.error.HTTPError as error:
            payload = error.read()
            try:
                decoded: Any = json.loads(payload)
            except ValueError:
                decoded = payload.decode("utf-8", "replace")
            raise ApiError(method, path, error.code, decoded) from None
        text = payload.decode("utf-8", "replace")
        if raw:
            return text
        return json.loads(text) if text.strip() else None

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, body: Any, **kwargs: Any) -> Any:
        return self.request("POST", path, body, **kwargs)

    def put(self, path: str, body: Any, **kwargs: Any) -> Any:
        return self.request("PUT", path, body, **kwargs)

    def patch(self, path: str, body: Any, content_type: str = "application/merge-patch+json", **kwargs: Any) -> Any:
        """PATCH; `content_type` may also be application/strategic-merge-patch+json or application/json-patch+json."""
        return self.request("PATCH", path, body, content_type=content_type, **kwargs)

    def delete(self, target: str | dict, missing_ok: bool = True, **kwargs: Any) -> Any:
        """DELETE a path, or an object (dict with apiVersion/kind/metadata). A 404 is ignored with missing_ok."""
        path = target if isinstance(target, str) else self.path_for(target)
        try:
            return self.request("DELETE", path, **kwargs)
        except ApiError as error:
            if error.status == 404 and missing_ok:
                return None
            raise

    # Objects

    def resource(self, api_version: str, kind: str) -> tuple[str, bool]:
        """(plural, namespaced) of a kind, from the server's discovery (cached)."""
        key = (api_version, kind)
        if key not in self._resources:
            base = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
            try:
                served = self.get(base)["resources"]
            except ApiError as error:
                if error.status == 404:
                    raise KeyError(f"{api_version} is not served by {self.name}") from None
                raise
            for item in served:
                if "/" not in item["name"]:
                    self._resources[(api_version, item["kind"])] = (item["name"], item["namespaced"])
            if key not in self._resources:
                raise KeyError(f"{api_version} {kind} is not served by {self.name}")
        return self._resources[key]

    def collection_path(self, api_version: str, kind: str, namespace: str | None = None) -> str:
        plural, namespaced = self.resource(api_version, kind)
        base = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
        if namespaced and namespace:
            return f"{base}/namespaces/{namespace}/{plural}"
        return f"{base}/{plural}"

    def path_for(self, obj: dict, subresource: str | None = None) -> str:
        """The REST path of an object (dict with apiVersion, kind, metadata.name[, metadata.namespace])."""
        meta = obj.get("metadata", {})
        _, namespaced = self.resource(obj["apiVersion"], obj["kind"])
        namespace = meta.get("namespace") or ("default" if namespaced else None)
        path = f"{self.collection_path(obj['apiVersion'], obj['kind'], namespace)}/{meta['name']}"
        return f"{path}/{subresource}" if subresource else path

    def list(self, api_version: str, kind: str, namespace: str | None = None, **query: Any) -> list[dict]:
        """Items of a kind (all namespaces when namespace is None); query e.g. labelSelector="a=b"."""
        return self.get(self.collection_path(api_version, kind, namespace), query=query or None)["items"]

    def create(self, obj: dict, **kwargs: Any) -> dict:
        meta = obj.get("metadata", {})
        _, namespaced = self.resource(obj["apiVersion"], obj["kind"])
        namespace = meta.get("namespace") or ("default" if namespaced else None)
        return self.post(self.collection_path(obj["apiVersion"], obj["kind"], namespace), obj, **kwargs)

    def apply(self, obj: dict, attempts: int = 5) -> dict:
        """Create, or replace (PUT with the current resourceVersion) when it exists. A Service keeps its clusterIP
        unless `obj` sets one. Returns the stored object."""
        try:
            return self.create(obj)
        except ApiError as error:
            if error.status != 409:
                raise
        path = self.path_for(obj)
        for attempt in range(attempts):
            current = self.get(path)
            desired = json.loads(json.dumps(obj))
            desired.setdefault("metadata", {})["resourceVersion"] = current["metadata"]["resourceVersion"]
            if obj["kind"] == "Service" and obj["apiVersion"] == "v1":
                spec, current_spec = desired.setdefault("spec", {}), current.get("spec", {})
                for field in ("clusterIP", "clusterIPs"):
                    if field not in spec and field in current_spec:
                        spec[field] = current_spec[field]
            try:
                return self.put(path, desired)
            except ApiError as error:
                if error.status != 409 or attempt == attempts - 1:
                    raise
        raise AssertionError("unreachable")

    def patch_status(self, obj: dict, status: dict) -> dict:
        """Merge-patches the status subresource (e.g. a Pod's podIP/phase/conditions)."""
        return self.patch(self.path_for(obj, "status"), {"status": status})

    def create_namespace(self, name: str, labels: dict[str, str] | None = None) -> dict:
        meta: dict[str, Any] = {"name": name}
        if labels:
            meta["labels"] = labels
        return self.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": meta})

    def service_account_token(
        self, namespace: str, name: str, audiences: list[str] | None = None, expiration_seconds: int = 3600
    ) -> str:
        """A bound token for an existing ServiceAccount (TokenRequest API)."""
        spec: dict[str, Any] = {"expirationSeconds": expiration_seconds}
        if audiences:
            spec["audiences"] = audiences
        answer = self.post(
            f"/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token",
            {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec},
        )
        return answer["status"]["token"]

    def version(self) -> dict:
        return self.get("/version")
