"""Certificates for the mesh-trust tests, made with `cryptography` (no openssl command line, nothing cached on disk
between runs).

The layout follows istio's tools/certs/Makefile.selfsigned.mk: one root, one intermediate CA per cluster, and per
cluster the four plug-in files Istio reads from Secret `cacerts` (or `--ca-dir`):

    ca-cert.pem     the cluster's intermediate (the signing certificate)
    ca-key.pem      its private key (PKCS#8)
    cert-chain.pem  the intermediate followed by the root
    root-cert.pem   the root

Workload certificates carry one SPIFFE URI SAN `spiffe://TRUST_DOMAIN/ns/NS/sa/SA`, an empty subject, and
extendedKeyUsage clientAuth+serverAuth, as Istio's CA issues them.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

TRUST_DOMAIN = "cluster.local"
ISTIOD_SAN = "istiod.istio-system.svc"
ISTIOD_SANS = ("istiod", "istiod.istio-system", "istiod.istio-system.svc", "istiod.istio-system.svc.cluster.local")

CA_FILES = ("ca-cert.pem", "ca-key.pem", "cert-chain.pem", "root-cert.pem")


def spiffe_id(namespace: str, service_account: str, trust_domain: str = TRUST_DOMAIN) -> str:
    return f"spiffe://{trust_domain}/ns/{namespace}/sa/{service_account}"


def now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def new_key(kind: str):
    if kind == "ecdsa":
        return ec.generate_private_key(ec.SECP256R1())
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    raise ValueError(f"unknown key kind {kind!r} (ecdsa or rsa)")


def key_kind(key) -> str:
    return "ecdsa" if isinstance(key, ec.EllipticCurvePrivateKey) else "rsa"


def cert_pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def key_pem(key) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def load_pem_chain(text: str) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(text.encode())


def name(common_name: str, organization: str = "Istio", locality: str | None = None) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization)]
    if locality:
        attributes.append(x509.NameAttribute(NameOID.LOCALITY_NAME, locality))
    attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attributes)


@dataclass
class CA:
    """A CA certificate, its key, and the certificates above it up to the root (empty for a root)."""

    cert: x509.Certificate
    key: object
    parents: list[x509.Certificate] = field(default_factory=list)

    @property
    def root(self) -> x509.Certificate:
        return self.parents[-1] if self.parents else self.cert

    @property
    def chain(self) -> list[x509.Certificate]:
        """This certificate, then its issuers, ending with the root (Istio's cert-chain.pem)."""
        return [self.cert, *self.parents]

    @property
    def subject(self) -> str:
        return self.cert.subject.rfc4514_string()

    def write_cacerts(self, directory: Path, **overrides: str) -> Path:
        """Writes istio's four plug-in files for this (intermediate) CA; `overrides` replaces a file's text, keyed
        by file name with '-'/'.' as '_' (ca_cert_pem=..., ca_key_pem=..., cert_chain_pem=..., root_cert_pem=...)."""
        directory.mkdir(parents=True, exist_ok=True)
        files = {
            "ca-cert.pem": cert_pem(self.cert),
            "ca-key.pem": key_pem(self.key),
            "cert-chain.pem": "".join(cert_pem(c) for c in self.chain),
            "root-cert.pem": cert_pem(self.root),
        }
        for key, text in overrides.items():
            file_name = key.replace("_pem", ".pem").replace("_", "-")
            if file_name not in files:
                raise ValueError(f"unknown CA file override {key!r}")
            files[file_name] = text
        for file_name, text in files.items():
            (directory / file_name).write_text(text)
        (directory / "ca-key.pem").chmod(0o600)
        return directory


def _ca_extensions(builder: x509.CertificateBuilder, public_key, issuer_key_public, path_length: int | None):
    return (
        builder.add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(
            x509.KeyUsage(digital_signature=True, content_commitment=True, key_encipherment=True,
                          data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                          encipher_only=False, decipher_only=False),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key_public), critical=False)
    )


def make_root(common_name: str = "Root CA", kind: str = "rsa", organization: str = "Istio",
              days: int = 3650) -> CA:
    key = new_key(kind)
    subject = name(common_name, organization)
    start = now() - datetime.timedelta(hours=1)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject).issuer_name(subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start).not_valid_after(start + datetime.timedelta(days=days))
    )
    builder = _ca_extensions(builder, key.public_key(), key.public_key(), None)
    return CA(builder.sign(key, hashes.SHA256()), key)


def make_intermediate(parent: CA, cluster: str, kind: str = "ecdsa", common_name: str = "Intermediate CA",
                      not_before: datetime.datetime | None = None, not_after: datetime.datetime | None = None,
                      organization: str = "Istio") -> CA:
    """An intermediate CA below `parent` (istio's `Intermediate CA`, O=Istio, L=CLUSTER, SAN istiod's name)."""
    key = new_key(kind)
    start = not_before or (now() - datetime.timedelta(hours=1))
    end = not_after or (now() + datetime.timedelta(days=730))
    builder = (
        x509.CertificateBuilder()
        .subject_name(name(common_name, organization, locality=cluster)).issuer_name(parent.cert.subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(start).not_valid_after(end)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(ISTIOD_SAN)]), critical=False)
    )
    builder = _ca_extensions(builder, key.public_key(), parent.key.public_key(), None)
    return CA(builder.sign(parent.key, hashes.SHA256()), key, parent.chain)


@dataclass
class Workload:
    """A workload certificate (leaf) with its key and the issuing CA's chain."""

    cert: x509.Certificate
    key: object
    issuer: CA

    @property
    def chain_pem(self) -> str:
        """Leaf, then the intermediates and the root, as Istio hands out chains."""
        return cert_pem(self.cert) + "".join(cert_pem(c) for c in self.issuer.chain)

    @property
    def key_pem(self) -> str:
        return key_pem(self.key)

    @property
    def root_pem(self) -> str:
        return cert_pem(self.issuer.root)

    def write(self, directory: Path, stem: str) -> tuple[Path, Path]:
        """Writes STEM-chain.pem and STEM-key.pem; returns their paths."""
        directory.mkdir(parents=True, exist_ok=True)
        chain_path, key_path = directory / f"{stem}-chain.pem", directory / f"{stem}-key.pem"
        chain_path.write_text(self.chain_pem)
        key_path.write_text(self.key_pem)
        key_path.chmod(0o600)
        return chain_path, key_path


def make_workload(issuer: CA, uri: str, kind: str = "ecdsa", days: float = 1.0) -> Workload:
    key = new_key(kind)
    start = now() - datetime.timedelta(minutes=5)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([])).issuer_name(issuer.cert.subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start).not_valid_after(start + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=True,
                          data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
                          encipher_only=False, decipher_only=False),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                       critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()), critical=False)
        .add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier(uri)]), critical=True)
    )
    return Workload(builder.sign(issuer.key, hashes.SHA256()), key, issuer)


def make_csr(uri: str, kind: str = "ecdsa") -> tuple[str, object]:
    """A PKCS#10 CSR (PEM) asking for URI SAN `uri`, and its key."""
    key = new_key(kind)
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, TRUST_DOMAIN)]))
        .add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier(uri)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.PEM).decode(), key


# --------------------------------------------------------------------------------------------------------------
# Inspecting certificates


def uri_sans(cert: x509.Certificate) -> list[str]:
    try:
        return cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
            x509.UniformResourceIdentifier)
    except x509.ExtensionNotFound:
        return []


def dns_sans(cert: x509.Certificate) -> list[str]:
    try:
        return cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
            x509.DNSName)
    except x509.ExtensionNotFound:
        return []


def ip_sans(cert: x509.Certificate) -> list[str]:
    try:
        values = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
            x509.IPAddress)
    except x509.ExtensionNotFound:
        return []
    return [str(ipaddress.ip_address(v)) for v in values]


def signed_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """Whether `issuer`'s key verifies `cert`'s signature (and the names link)."""
    if cert.issuer != issuer.subject:
        return False
    public = issuer.public_key()
    try:
        if isinstance(public, rsa.RSAPublicKey):
            public.verify(cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(), cert.signature_hash_algorithm)
        elif isinstance(public, ec.EllipticCurvePublicKey):
            public.verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(cert.signature_hash_algorithm))
        else:
            return False
    except Exception:  # noqa: BLE001 - InvalidSignature and friends
        return False
    return True


def describe(cert: x509.Certificate) -> str:
    return (f"subject={cert.subject.rfc4514_string()!r} issuer={cert.issuer.rfc4514_string()!r} "
            f"uri={uri_sans(cert)} dns={dns_sans(cert)} ip={ip_sans(cert)} "
            f"notAfter={cert.not_valid_after_utc.isoformat()}")


# --------------------------------------------------------------------------------------------------------------
# The test PKI


@dataclass
class MeshPKI:
    """The certificates every mesh-trust test uses (made once per session).

    root: the mesh root (RSA). cluster1: ECDSA P-256 intermediate; cluster2: RSA 2048 intermediate; both below root.
    other_root / other: an unrelated root (ECDSA) and its intermediate (ECDSA), for negative tests.
    """

    root: CA
    cluster1: CA
    cluster2: CA
    other_root: CA
    other: CA

    @classmethod
    def make(cls) -> "MeshPKI":
        root = make_root("Root CA", kind="rsa")
        other_root = make_root("Unrelated Root CA", kind="ecdsa", organization="Elsewhere")
        return cls(
            root=root,
            cluster1=make_intermediate(root, "cluster1", kind="ecdsa"),
            cluster2=make_intermediate(root, "cluster2", kind="rsa"),
            other_root=other_root,
            other=make_intermediate(other_root, "elsewhere", kind="ecdsa", organization="Elsewhere"),
        )

    def workload(self, ca: CA, namespace: str, service_account: str, kind: str = "ecdsa") -> Workload:
        return make_workload(ca, spiffe_id(namespace, service_account), kind=kind)
