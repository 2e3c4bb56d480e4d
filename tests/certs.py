"""Throw-away certificates for the TLS tests: a CA and certificates it signs."""
from __future__ import annotations

import datetime
import ipaddress
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

PEM = serialization.Encoding.PEM


def cert(subject: str, issuer_key, issuer_name, key, ca: bool, san_ip: str | None = None, san_dns: str | None = None):
    now = datetime.datetime.now(datetime.timezone.utc)
    b = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
         .issuer_name(issuer_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(now - datetime.timedelta(minutes=1)).not_valid_after(now + datetime.timedelta(days=1))
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    names = ([x509.IPAddress(ipaddress.ip_address(san_ip))] if san_ip else []) + ([x509.DNSName(san_dns)] if san_dns else [])
    if names:
        b = b.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return b.sign(issuer_key, hashes.SHA256())


def key_pem(key) -> bytes:
    return key.private_bytes(PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def ca_and_server(directory: Path, name: str = "server") -> dict[str, Path]:
    """A CA and a server certificate for 127.0.0.1/localhost, as PEM files:
    ca.pem, NAME.pem, NAME.key, plus other-ca.pem (a CA that signed nothing)."""
    ca_key, srv_key, other_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fabtel test CA")])
    ca = cert("fabtel test CA", ca_key, ca_name, ca_key, True)
    srv = cert(name, ca_key, ca_name, srv_key, False, "127.0.0.1", "localhost")
    other_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "another CA")])
    other = cert("another CA", other_key, other_name, other_key, True)
    paths = {"ca": directory / "ca.pem", "cert": directory / f"{name}.pem", "key": directory / f"{name}.key",
             "other_ca": directory / "other-ca.pem"}
    paths["ca"].write_bytes(ca.public_bytes(PEM))
    paths["cert"].write_bytes(srv.public_bytes(PEM))
    paths["key"].write_bytes(key_pem(srv_key))
    paths["other_ca"].write_bytes(other.public_bytes(PEM))
    return paths
