"""CA material at start-up: istio plug-in files (`--ca-dir`, RSA and ECDSA) sign the secure port's serving certificate;
a broken set stops `sextant serve` with one message naming the file and the failed check; `--self-signed-ca-dir`
stores a root and reuses it.

Messages asserted on are the stable parts of Sources/SextantPKI/CAMaterialVerification.swift (`FILE: MESSAGE`).
"""

from __future__ import annotations

import datetime
import re
from pathlib import Path

import pytest
from cryptography import x509

from conftest import free_port, wait_until, write_helloworld_clusters
from pki import (
    CA,
    ISTIOD_SAN,
    ISTIOD_SANS,
    cert_pem,
    describe,
    dns_sans,
    ip_sans,
    key_pem,
    load_pem_chain,
    make_intermediate,
    new_key,
    now,
    signed_by,
    spiffe_id,
    uri_sans,
)
from security_support import tls_probe, wait_exit, wait_secure_port

START_FAILURE_SECONDS = 10.0  # a broken CA set must stop start-up within this


@pytest.fixture
def helloworld_files(clusters_dir: Path) -> Path:
    write_helloworld_clusters(clusters_dir, free_port(), backend_port=free_port())
    return clusters_dir


# --------------------------------------------------------------------------------------------------------------
# Valid plug-in sets


@pytest.mark.parametrize("cluster", ["cluster1", "cluster2"], ids=["ecdsa-intermediate", "rsa-intermediate"])
def test_plugin_ca_signs_the_serving_certificate(cluster, pki, cacerts, helloworld_files, start_sextant, figure):
    ca: CA = getattr(pki, cluster)
    ca_dir = cacerts(cluster, ca)
    custom = {"ISTIOD_CUSTOM_HOST": "sextant.example.test,127.0.0.1"}
    sextant = start_sextant(extra_env=custom, secure=True, ca_dir=ca_dir)
    wait_secure_port(sextant)
    root_pem = (ca_dir / "root-cert.pem").read_text()

    probe = tls_probe(sextant.secure_grpc_port, root_pem, ISTIOD_SAN)
    assert probe.handshake_error is None, (
        f"TLS to the secure port failed validating with root-cert.pem and SNI/SAN {ISTIOD_SAN}: {probe.handshake_error}")
    leaf = probe.server_cert
    figure(f"serving certificate ({cluster})", describe(leaf))
    assert probe.alpn == "h2", f"ALPN selected {probe.alpn!r}, expected h2"
    assert leaf.issuer == ca.cert.subject and signed_by(leaf, ca.cert), (
        f"serving certificate not issued by ca-cert.pem ({ca.subject}): {describe(leaf)}")
    missing = [name for name in (*ISTIOD_SANS, "sextant.example.test") if name not in dns_sans(leaf)]
    assert not missing, f"serving certificate lacks DNS SANs {missing}: {describe(leaf)}"
    assert "127.0.0.1" in ip_sans(leaf), f"ISTIOD_CUSTOM_HOST 127.0.0.1 is not an IP SAN: {describe(leaf)}"
    assert "127.0.0.1" not in dns_sans(leaf), f"an IP address became a DNS SAN: {describe(leaf)}"

    # The IP SAN and the custom DNS name validate as server names too.
    for server_name in ("127.0.0.1", "sextant.example.test", "istiod.istio-system.svc.cluster.local"):
        other = tls_probe(sextant.secure_grpc_port, root_pem, server_name)
        assert other.handshake_error is None, f"server name {server_name}: {other.handshake_error}"
    # A client without a certificate completes the handshake (it may still authenticate with a token).
    assert probe.after_handshake == "settings", (
        f"the secure port did not answer the HTTP/2 preface of a client without certificate: {probe.after_handshake}")


def test_self_signed_root_is_stored_and_reused(helloworld_files, start_sextant, tmp_path, figure):
    directory = tmp_path / "self-signed"
    first = start_sextant(secure=True, self_signed_ca_dir=directory)
    wait_secure_port(first)
    present = sorted(p.name for p in directory.iterdir()) if directory.exists() else []
    assert set(present) >= {"ca-cert.pem", "ca-key.pem", "cert-chain.pem", "root-cert.pem"}, (
        f"--self-signed-ca-dir {directory} holds {present}")
    key_mode = (directory / "ca-key.pem").stat().st_mode & 0o777
    figure("ca-key.pem mode", oct(key_mode))
    assert key_mode & 0o077 == 0, f"ca-key.pem is readable by others: {oct(key_mode)}"
    root_text = (directory / "root-cert.pem").read_text()
    (root,) = load_pem_chain(root_text)
    figure("self-signed root", describe(root))
    assert root.subject == root.issuer and signed_by(root, root), f"root-cert.pem is not self-signed: {describe(root)}"
    assert root.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert "cluster.local" in root.subject.rfc4514_string(), f"root subject does not name the trust domain: {root.subject}"
    probe = tls_probe(first.secure_grpc_port, root_text, ISTIOD_SAN)
    assert probe.handshake_error is None, f"serving certificate does not validate with root-cert.pem: {probe.handshake_error}"
    first_serving = probe.server_cert

    first.process.stop()
    second = start_sextant(secure=True, self_signed_ca_dir=directory)
    wait_secure_port(second)
    assert (directory / "root-cert.pem").read_text() == root_text, "the restart replaced the stored root"
    probe = tls_probe(second.secure_grpc_port, root_text, ISTIOD_SAN)
    assert probe.handshake_error is None, f"after the restart: {probe.handshake_error}"
    assert signed_by(probe.server_cert, root), describe(probe.server_cert)
    figure("serving certificate reissued after the restart", probe.server_cert.serial_number != first_serving.serial_number)


# --------------------------------------------------------------------------------------------------------------
# Broken plug-in sets


def _another_ca_key(kind: str) -> str:
    return key_pem(new_key(kind))


def _broken_sets(pki):
    """(id, {file overrides}, file that must be named, regex of the check) per broken set."""
    expired = make_intermediate(pki.root, "cluster1", kind="ecdsa",
                                not_before=now() - datetime.timedelta(days=30),
                                not_after=now() - datetime.timedelta(days=1))
    # root -> middle -> leaf-CA: ca-cert.pem is leaf-CA; cert-chain.pem leaves out `middle`.
    middle = make_intermediate(pki.root, "middle", kind="ecdsa", common_name="Middle CA")
    lower = make_intermediate(middle, "cluster1", kind="ecdsa", common_name="Lower CA")
    root_pem = cert_pem(pki.root.cert)
    return {
        "wrong-key-ecdsa": (pki.cluster1, {"ca_key_pem": key_pem(pki.other.key)}, "ca-key.pem",
                            r"the private key does not match the public key of ca-cert\.pem \("),
        "wrong-key-rsa": (pki.cluster2, {"ca_key_pem": _another_ca_key("rsa")}, "ca-key.pem",
                          r"the private key does not match the public key of ca-cert\.pem \("),
        "wrong-key-type": (pki.cluster2, {"ca_key_pem": key_pem(pki.cluster1.key)}, "ca-key.pem",
                           r"the private key does not match the public key of ca-cert\.pem \("),
        "expired-intermediate-ecdsa": (expired, {}, "ca-cert.pem", r"ca-cert\.pem \(.*\) expired at "),
        "missing-link-with-root": (lower, {"cert_chain_pem": cert_pem(lower.cert) + root_pem}, "ca-cert.pem",
                                   r"does not chain to root-cert\.pem: ca-cert\.pem was issued by .*Middle CA.*"
                                   r"but the next certificate, cert-chain\.pem\[1\], is "),
        "missing-link-no-root": (lower, {"cert_chain_pem": cert_pem(lower.cert)}, "ca-cert.pem",
                                 r"does not chain to root-cert\.pem: .*Middle CA.*which is not in root-cert\.pem"
                                 r".*is an intermediate missing from cert-chain\.pem\?"),
        "root-mismatch-rsa": (pki.cluster2, {"root_cert_pem": cert_pem(pki.other_root.cert)}, "ca-cert.pem",
                              r"does not chain to root-cert\.pem: cert-chain\.pem\[1\] is a root \(.*Root CA.*\) "
                              r"that is not in root-cert\.pem"),
    }


BROKEN_IDS = ["wrong-key-ecdsa", "wrong-key-rsa", "wrong-key-type", "expired-intermediate-ecdsa",
              "missing-link-with-root", "missing-link-no-root", "root-mismatch-rsa"]


@pytest.mark.parametrize("case", BROKEN_IDS)
def test_broken_ca_set_stops_startup(case, pki, cacerts, helloworld_files, start_sextant, figure):
    ca, overrides, named_file, check = _broken_sets(pki)[case]
    ca_dir = cacerts(case, ca, **overrides)
    sextant = start_sextant(secure=True, ca_dir=ca_dir, wait_ready=False)
    code = wait_exit(sextant.process, START_FAILURE_SECONDS)
    stderr = sextant.process.stderr_path.read_text(errors="replace")
    expected_file = f"{ca_dir}/{named_file}"
    lines = [line for line in stderr.splitlines() if expected_file in line]
    figure(f"exit status ({case})", code)
    figure(f"stderr lines naming {named_file} ({case})", lines)
    assert code != 0, f"sextant exited with status 0 on a broken CA set ({case}); stderr:\n{stderr[-2000:]}"
    assert lines, f"stderr does not name {expected_file}; stderr:\n{stderr[-2000:]}"
    matching = [line for line in lines if re.search(check, line)]
    assert matching, (f"no stderr line names {expected_file} with the check /{check}/; lines naming the file:\n"
                      + "\n".join(lines))
    assert len(matching) == 1, f"the message appears {len(matching)} times (expected one):\n" + "\n".join(matching)
    assert "PRIVATE KEY" not in stderr and "BEGIN" not in stderr, "stderr carries PEM material"
    # Nothing was served: the secure port never opened.
    assert not sextant.process.alive


# --------------------------------------------------------------------------------------------------------------
# A watched --ca-dir


RELOAD_TIMEOUT = 20.0  # the directory is checked every 5 s


def test_ca_dir_replacement_is_checked_and_applied(pki, cacerts, helloworld_files, start_sextant, secure_ads_stream,
                                                  figure):
    """An invalid replacement of --ca-dir is refused (logged, counted) and the CA in use stays; a valid one (cluster2's
    set, same root) is used for new serving certificates and pushed to connected proxies as a new SDS `default`."""
    from conftest import discovery_request, make_node
    from security_support import SDS, channel_credentials
    from envoy.extensions.transport_sockets.tls.v3 import secret_pb2
    import time

    ca_dir = cacerts("rotating", pki.cluster1)
    sextant = start_sextant(secure=True, ca_dir=ca_dir)
    wait_secure_port(sextant)
    root_pem = (ca_dir / "root-cert.pem").read_text()
    client = pki.workload(pki.cluster1, "sample", "client")
    stream = secure_ads_stream(sextant, "SDS across a CA replacement", channel_credentials(root_pem, client))
    node = make_node("sidecar~127.0.0.15~client.sample~sample.svc.cluster.local",
                     metadata={"CLUSTER_ID": "cluster1", "NAMESPACE": "sample", "INTERCEPTION_MODE": "NONE"})
    stream.send(discovery_request(SDS, node=node, names=["default"]))

    def next_default(timeout: float):
        response = stream.recv(SDS, timeout=timeout)
        stream.send(discovery_request(SDS, names=["default"], version_info=response.version_info,
                                      response_nonce=response.nonce))
        for resource in response.resources:
            secret = secret_pb2.Secret()
            resource.Unpack(secret)
            if secret.name == "default":
                return load_pem_chain(secret.tls_certificate.certificate_chain.inline_bytes.decode()
                                      or secret.tls_certificate.certificate_chain.inline_string)[0]
        return None

    first = next_default(10.0)
    assert first is not None and signed_by(first, pki.cluster1.cert), describe(first) if first else None

    # 1. A ca-key.pem of another CA: refused, named in the log, counted; the CA in use stays.
    log_offset = len(sextant.log_text())
    (ca_dir / ".ca-key.pem.tmp").write_text(key_pem(pki.other.key))
    (ca_dir / ".ca-key.pem.tmp").replace(ca_dir / "ca-key.pem")
    started = time.monotonic()
    wait_until(lambda: (sextant.metric("sextant_ca_reloads_total", result="refused") or 0) >= 1, RELOAD_TIMEOUT,
               'sextant_ca_reloads_total{result="refused"} >= 1 after a mismatching ca-key.pem',
               processes=[sextant.process])
    figure("seconds until the bad ca-key.pem was refused", round(time.monotonic() - started, 3))
    lines = sextant.log_lines(f"{ca_dir}/ca-key.pem", "does not match the public key of ca-cert.pem", since=log_offset)
    figure("refusal log line", lines[:1])
    assert lines, "no log line names the refused ca-key.pem and the failed check"
    probe = tls_probe(sextant.secure_grpc_port, root_pem, ISTIOD_SAN)
    assert probe.handshake_error is None and signed_by(probe.server_cert, pki.cluster1.cert), (
        f"after a refused replacement the serving certificate must still come from cluster1's CA: {probe}")

    # 2. cluster2's complete set (same root): new serving certificates and a new SDS default come from it.
    staging = cacerts("staging", pki.cluster2)
    for name in ("ca-key.pem", "cert-chain.pem", "root-cert.pem", "ca-cert.pem"):
        (ca_dir / f".{name}.tmp").write_bytes((staging / name).read_bytes())
        (ca_dir / f".{name}.tmp").replace(ca_dir / name)
    started = time.monotonic()

    def serving_from_cluster2() -> bool:
        leaf = tls_probe(sextant.secure_grpc_port, root_pem, ISTIOD_SAN).server_cert
        return leaf is not None and signed_by(leaf, pki.cluster2.cert)

    wait_until(serving_from_cluster2, RELOAD_TIMEOUT, "new TLS connections to get a serving certificate issued by "
               "cluster2's CA after the replacement", processes=[sextant.process])
    figure("seconds until the serving certificate came from the new CA", round(time.monotonic() - started, 3))
    assert (sextant.metric("sextant_ca_reloads_total", result="ok") or 0) >= 1

    deadline = time.monotonic() + RELOAD_TIMEOUT
    pushed = None
    while time.monotonic() < deadline:
        leaf = next_default(max(0.1, deadline - time.monotonic()))
        if leaf is not None and signed_by(leaf, pki.cluster2.cert):
            pushed = leaf
            break
    assert pushed is not None, "no SDS default issued by the new CA was pushed on the open stream"
    assert uri_sans(pushed) == [spiffe_id("sample", "client")], describe(pushed)
