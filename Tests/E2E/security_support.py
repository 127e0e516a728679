"""Support for the mesh-trust tests (test_security.py, test_mtls.py, test_cacerts.py): the session's PKI, gRPC
credentials, Istio's CreateCertificate over grpcio without generated code, a raw TLS probe of the secure port, and
cluster files whose pods are mTLS capable.

Nothing here sleeps a fixed time: waits poll a condition against a deadline (conftest.wait_until).
"""

from __future__ import annotations

import json
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import grpc
from cryptography import x509
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, struct_pb2

from conftest import (
    Envoy,
    ManagedProcess,
    Sextant,
    XdsTls,
    http_get,
    namespace_yaml,
    wait_until,
    write_file_atomically,
)
from pki import ISTIOD_SAN, MeshPKI, Workload, cert_pem, load_pem_chain

SDS = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret"
TLS_MODE_LABEL = "security.istio.io/tlsMode"

# Node metadata NAMESPACE must equal the caller identity's namespace, else PERMISSION_DENIED.
UNAUTHENTICATED = grpc.StatusCode.UNAUTHENTICATED
PERMISSION_DENIED = grpc.StatusCode.PERMISSION_DENIED


# --------------------------------------------------------------------------------------------------------------
# Credentials


def channel_credentials(root_pem: str, workload: Workload | None = None) -> grpc.ChannelCredentials:
    """TLS credentials validating the server with `root_pem`, presenting `workload`'s chain when given."""
    if workload is None:
        return grpc.ssl_channel_credentials(root_certificates=root_pem.encode())
    return grpc.ssl_channel_credentials(root_certificates=root_pem.encode(), private_key=workload.key_pem.encode(),
                                        certificate_chain=workload.chain_pem.encode())


def envoy_xds_tls(tmp_path: Path, stem: str, root_pem: str, workload: Workload | None,
                  initial_metadata: dict[str, str] | None = None) -> XdsTls:
    """Files for an Envoy's TLS connection to the secure port: STEM-root.pem, STEM-chain.pem, STEM-key.pem."""
    directory = tmp_path / "envoy-certs"
    directory.mkdir(parents=True, exist_ok=True)
    root_path = directory / f"{stem}-root.pem"
    root_path.write_text(root_pem)
    chain_path = key_path = None
    if workload is not None:
        chain_path, key_path = workload.write(directory, stem)
    return XdsTls(root_path=root_path, chain_path=chain_path, key_path=key_path,
                  initial_metadata=dict(initial_metadata or {}))


def rpc_error(call) -> grpc.RpcError:
    """The RpcError `call()` raises (AssertionError when it succeeds)."""
    try:
        result = call()
    except grpc.RpcError as error:
        return error
    raise AssertionError(f"the call succeeded but an error status was expected: {str(result)[:300]}")


# --------------------------------------------------------------------------------------------------------------
# istio.v1.auth.IstioCertificateService/CreateCertificate, messages built from a hand-written descriptor


CREATE_CERTIFICATE = "/istio.v1.auth.IstioCertificateService/CreateCertificate"


def _certificate_messages():
    pool = descriptor_pool.DescriptorPool()
    struct_file = descriptor_pb2.FileDescriptorProto()
    struct_pb2.DESCRIPTOR.CopyToProto(struct_file)
    pool.Add(struct_file)
    ca = descriptor_pb2.FileDescriptorProto(name="security/v1alpha1/ca.proto", package="istio.v1.auth",
                                            syntax="proto3", dependency=["google/protobuf/struct.proto"])
    F = descriptor_pb2.FieldDescriptorProto
    request = ca.message_type.add(name="IstioCertificateRequest")
    request.field.add(name="csr", number=1, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL)
    request.field.add(name="validity_duration", number=3, type=F.TYPE_INT64, label=F.LABEL_OPTIONAL)
    request.field.add(name="metadata", number=4, type=F.TYPE_MESSAGE, label=F.LABEL_OPTIONAL,
                      type_name=".google.protobuf.Struct")
    response = ca.message_type.add(name="IstioCertificateResponse")
    response.field.add(name="cert_chain", number=1, type=F.TYPE_STRING, label=F.LABEL_REPEATED)
    pool.Add(ca)
    return (message_factory.GetMessageClass(pool.FindMessageTypeByName("istio.v1.auth.IstioCertificateRequest")),
            message_factory.GetMessageClass(pool.FindMessageTypeByName("istio.v1.auth.IstioCertificateResponse")))


IstioCertificateRequest, IstioCertificateResponse = _certificate_messages()


def secure_channel(sextant: Sextant, credentials: grpc.ChannelCredentials, sni: str = ISTIOD_SAN) -> grpc.Channel:
    return grpc.secure_channel(sextant.secure_grpc_target, credentials,
                               options=[("grpc.ssl_target_name_override", sni), ("grpc.default_authority", sni)])


def create_certificate(channel: grpc.Channel, csr_pem: str, validity_seconds: int,
                       metadata: Iterable[tuple[str, str]] = (), timeout: float = 10.0) -> list[str]:
    """Calls CreateCertificate; returns cert_chain (PEM strings). Raises grpc.RpcError on an error status."""
    call = channel.unary_unary(CREATE_CERTIFICATE, request_serializer=lambda m: m.SerializeToString(),
                               response_deserializer=IstioCertificateResponse.FromString)
    request = IstioCertificateRequest(csr=csr_pem, validity_duration=validity_seconds)
    response = call(request, timeout=timeout, metadata=list(metadata) or None)
    return list(response.cert_chain)


def parse_chain(cert_chain: list[str]) -> list[x509.Certificate]:
    certs = []
    for index, text in enumerate(cert_chain):
        parsed = load_pem_chain(text)
        assert parsed, f"cert_chain[{index}] holds no PEM certificate: {text[:200]!r}"
        certs.extend(parsed)
    return certs


# --------------------------------------------------------------------------------------------------------------
# A raw TLS probe of the secure port (Python's ssl, ALPN h2)


H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"  # + empty SETTINGS


@dataclass
class TlsProbe:
    server_cert: x509.Certificate | None
    alpn: str | None
    handshake_error: str | None
    # What the server did after the handshake with our HTTP/2 preface: "settings" (it answered with a SETTINGS
    # frame, so the connection was accepted) or a description of the error / close.
    after_handshake: str | None


def tls_probe(port: int, root_pem: str, server_hostname: str = ISTIOD_SAN, client: Workload | None = None,
              tmp_path: Path | None = None, host: str = "127.0.0.1", timeout: float = 5.0) -> TlsProbe:
    """Connects to host:port with TLS (verifying the server against `root_pem` and `server_hostname`, a DNS name or
    an IP address), optionally with a client certificate, then sends the HTTP/2 preface and reads the answer.

    With TLS 1.3 a server refusing the client certificate does so after the client's handshake completed, so the
    refusal shows as an alert or a close on the first read: `after_handshake` tells which."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(cadata=root_pem)
    context.set_alpn_protocols(["h2"])
    if client is not None:
        assert tmp_path is not None, "tls_probe needs tmp_path to write the client certificate files"
        chain_path, key_path = client.write(tmp_path / "probe-certs", f"probe-{abs(hash(client.chain_pem))}")
        context.load_cert_chain(chain_path, key_path)
    raw = socket.create_connection((host, port), timeout=timeout)
    try:
        try:
            tls = context.wrap_socket(raw, server_hostname=server_hostname)
        except (ssl.SSLError, OSError) as error:
            return TlsProbe(None, None, f"{type(error).__name__}: {error}", None)
        try:
            der = tls.getpeercert(binary_form=True)
            server_cert = x509.load_der_x509_certificate(der) if der else None
            alpn = tls.selected_alpn_protocol()
            try:
                tls.sendall(H2_PREFACE)
                data = b""
                while len(data) < 9:
                    chunk = tls.recv(9 - len(data))
                    if not chunk:
                        break
                    data += chunk
                if len(data) >= 9 and data[3] == 0x04:
                    after = "settings"
                elif not data:
                    after = "closed by the server without data"
                else:
                    after = f"unexpected bytes {data!r}"
            except (ssl.SSLError, OSError) as error:
                after = f"{type(error).__name__}: {error}"
            return TlsProbe(server_cert, alpn, None, after)
        finally:
            tls.close()
    finally:
        raw.close()


# --------------------------------------------------------------------------------------------------------------
# Sextant with mesh trust


def wait_secure_port(sextant: Sextant, timeout: float = 15.0) -> None:
    """Waits until the secure port accepts TCP connections."""

    def accepting() -> bool:
        with socket.create_connection(("127.0.0.1", sextant.secure_grpc_port), timeout=1.0):
            return True

    wait_until(accepting, timeout, f"sextant's secure gRPC port 127.0.0.1:{sextant.secure_grpc_port} to accept",
               processes=[sextant.process])


def wait_exit(process: ManagedProcess, timeout: float = 10.0) -> int:
    wait_until(lambda: not process.alive, timeout, f"{process.name} (pid {process.pid}) to exit")
    return process.returncode


def metrics_mentioning(sextant: Sextant, *words: str) -> dict[str, float]:
    """Every /metrics sample whose name contains one of `words` (for figures, not assertions)."""
    from conftest import parse_prometheus

    result = {}
    for name, labels, value in parse_prometheus(sextant.monitoring_get("/metrics")):
        if any(word in name for word in words):
            label_text = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
            result[f"{name}{{{label_text}}}"] = value
    return result


# --------------------------------------------------------------------------------------------------------------
# Envoy helpers


def envoy_live(envoy: Envoy) -> bool:
    return http_get(*envoy.admin(), "/ready", timeout=1.0)[0] == 200


def secret_certificates(envoy: Envoy, name: str) -> list[x509.Certificate]:
    """The certificates of SDS secret `name` from Envoy's config_dump (tls_certificate chain, or the
    validation_context's trusted_ca for ROOTCA)."""
    import base64

    entry = envoy.active_secrets().get(name)
    if entry is None:
        return []
    secret = entry.get("secret", {})
    source = (secret.get("tls_certificate", {}).get("certificate_chain")
              or secret.get("validation_context", {}).get("trusted_ca") or {})
    if "inline_bytes" in source:
        text = base64.b64decode(source["inline_bytes"]).decode()
    else:
        text = source.get("inline_string", "")
    return load_pem_chain(text) if text.strip() else []


def uri_sans_in_certs(envoy: Envoy) -> set[str]:
    """URI SANs of every certificate chain Envoy's /certs lists (its SDS `default` certificates)."""
    uris = set()
    for context in envoy.certs():
        for chain_entry in context.get("cert_chain", []) or []:
            for san in chain_entry.get("subject_alt_names", []) or []:
                if "uri" in san:
                    uris.add(san["uri"])
    return uris


# --------------------------------------------------------------------------------------------------------------
# Cluster files with mTLS-capable pods


def pod(name: str, namespace: str, ip: str, labels: dict[str, str], service_account: str) -> dict:
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {"serviceAccountName": service_account, "nodeName": "node-1",
                 "containers": [{"name": "app", "image": "helloworld"}]},
        "status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}]},
    }


def service(name: str, namespace: str, cluster_ip: str, port: int, target_port: int | str = 8080,
            port_name: str = "http") -> dict:
    return {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": name}},
        "spec": {"type": "ClusterIP", "clusterIP": cluster_ip, "selector": {"app": name},
                 "ports": [{"name": port_name, "port": port, "targetPort": target_port, "protocol": "TCP"}]},
    }


def slice_with_pods(name: str, namespace: str, service_name: str, port: int, pods: list[dict],
                    port_name: str = "http") -> dict:
    return {
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": name, "namespace": namespace,
                     "labels": {"kubernetes.io/service-name": service_name,
                                "endpointslice.kubernetes.io/managed-by": "e2e"}},
        "addressType": "IPv4",
        "ports": [{"name": port_name, "port": port, "protocol": "TCP"}],
        "endpoints": [{
            "addresses": [p["status"]["podIP"]], "conditions": {"ready": True},
            "targetRef": {"kind": "Pod", "name": p["metadata"]["name"], "namespace": namespace},
        } for p in pods],
    }


def write_objects(path: Path, objects: list[dict[str, Any]]) -> None:
    write_file_atomically(path, json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}, indent=2) + "\n")


def write_namespace(clusters_dir: Path, cluster: str, namespace: str) -> None:
    write_file_atomically(clusters_dir / cluster / f"namespace-{namespace}.yaml", namespace_yaml(namespace))


def root_pem_of(pki: MeshPKI) -> str:
    return cert_pem(pki.root.cert)


def mtls_http_get(host: str, port: int, root_pem: str, client: Workload | None, tmp_path: Path,
                  host_header: str = "helloworld", alpn: tuple[str, ...] = ("istio-peer-exchange", "istio"),
                  timeout: float = 3.0) -> tuple[int, str, x509.Certificate | None]:
    """GET / over TLS to a sidecar's inbound listener as a peer sidecar would connect: ALPN istio, the server's
    chain verified against the mesh root (no host name check: workload certificates carry only a SPIFFE URI), the
    client certificate of `client` when given. Returns (status, body, server leaf); raises on TLS/IO errors."""
    import http.client

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_verify_locations(cadata=root_pem)
    context.set_alpn_protocols(list(alpn))
    if client is not None:
        chain_path, key_path = client.write(tmp_path / "probe-certs", f"mtls-{abs(hash(client.chain_pem))}")
        context.load_cert_chain(chain_path, key_path)
    connection = http.client.HTTPSConnection(host, port, timeout=timeout, context=context)
    try:
        connection.request("GET", "/", headers={"Host": host_header, "Connection": "close"})
        response = connection.getresponse()
        der = connection.sock.getpeercert(binary_form=True) if connection.sock else None
        body = response.read().decode("utf-8", "replace")
        return response.status, body, (x509.load_der_x509_certificate(der) if der else None)
    finally:
        connection.close()


def dynamic_clusters(envoy: Envoy) -> dict[str, dict]:
    """Envoy's active dynamic clusters from /config_dump, by name (the Cluster as JSON)."""
    data = json.loads(envoy.admin_get("/config_dump?resource=dynamic_active_clusters"))
    return {entry["cluster"]["name"]: entry["cluster"] for entry in data.get("configs", []) if "cluster" in entry}


def dynamic_listeners(envoy: Envoy) -> dict[str, dict]:
    """Envoy's active dynamic listeners from /config_dump, by name (the Listener as JSON)."""
    data = json.loads(envoy.admin_get("/config_dump?resource=dynamic_listeners"))
    result = {}
    for entry in data.get("configs", []):
        listener = (entry.get("active_state") or {}).get("listener")
        if listener:
            result[listener["name"]] = listener
    return result
