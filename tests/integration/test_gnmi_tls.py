"""gNMI over TLS: a lab target with a certificate signed by a test CA, and the
collector verifying it with tls_ca."""
from __future__ import annotations

import dataclasses
import datetime
import ipaddress
import threading

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from conftest import free_port, wait_until
from fabtel.connectors.gnmi.collector import GnmiCollector
from fabtel.lab.gnmi_target import DeviceTarget
from fabtel.lab.model import LabFabric


def _cert(subject: str, issuer_key, issuer_name, key, ca: bool, san_ip: str | None = None):
    now = datetime.datetime.now(datetime.timezone.utc)
    b = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
         .issuer_name(issuer_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(now - datetime.timedelta(minutes=1)).not_valid_after(now + datetime.timedelta(days=1))
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if san_ip:
        b = b.add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(san_ip))]), critical=False)
    return b.sign(issuer_key, hashes.SHA256())


def _serve_and_collect(config, tmp_path, server_cert, server_key, trusted_ca):
    """A TLS lab target for leaf1 and a collector that trusts `trusted_ca`."""
    pem = serialization.Encoding.PEM
    (tmp_path / "ca.pem").write_bytes(trusted_ca.public_bytes(pem))
    address = f"127.0.0.1:{free_port()}"
    leaf1 = config.fabric.device("leaf1")
    leaf1 = dataclasses.replace(leaf1, gnmi=dataclasses.replace(leaf1.gnmi, address=address, insecure=False,
                                                                tls_ca=str(tmp_path / "ca.pem")))
    fabric = LabFabric(config)
    target = DeviceTarget(fabric, fabric.nodes["leaf1"], address, tls=(
        server_cert.public_bytes(pem),
        server_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())))
    target.start()
    collector = GnmiCollector(config, [leaf1])
    stop = threading.Event()
    collector.start(stop)

    def close():
        stop.set()
        collector.close()
        target.stop()
    return collector, close


def test_collector_subscribes_over_tls(config, tmp_path):
    ca_key, srv_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fabtel test CA")])
    ca = _cert("fabtel test CA", ca_key, ca_name, ca_key, True)
    srv = _cert("leaf1", ca_key, ca_name, srv_key, False, "127.0.0.1")
    collector, close = _serve_and_collect(config, tmp_path, srv, srv_key, ca)
    try:
        assert wait_until(lambda: collector.metrics.get("connected", "leaf1") == 1, 15)
        assert wait_until(lambda: collector.metrics.get("records_total", "leaf1") > 10, 10)
    finally:
        close()


def test_an_untrusted_certificate_is_refused(config, tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _cert("self-signed", key, x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "self-signed")]), key, False,
                 "127.0.0.1")
    other_key = ec.generate_private_key(ec.SECP256R1())
    other_ca = _cert("other CA", other_key, x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "other CA")]),
                     other_key, True)
    collector, close = _serve_and_collect(config, tmp_path, cert, key, other_ca)
    try:
        assert not wait_until(lambda: collector.metrics.get("connected", "leaf1") == 1, 4)
        assert collector.metrics.get("records_total", "leaf1") == 0
    finally:
        close()
