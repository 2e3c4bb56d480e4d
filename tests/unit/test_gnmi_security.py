"""Secure by default: plaintext gNMI is said once per device and process when
it carries credentials, never for a TLS device or one without credentials."""
from __future__ import annotations

import dataclasses
import logging

from conftest import EXAMPLE
from fabtel.config import load_config
from fabtel.connectors.gnmi import client


def test_credentials_in_clear_are_said_once_per_device(caplog, monkeypatch):
    monkeypatch.setattr(client, "_warned_clear", set())
    cfg = load_config(EXAMPLE)
    leaf1, leaf2 = cfg.fabric.device("leaf1"), cfg.fabric.device("leaf2")
    tls = dataclasses.replace(leaf2, gnmi=dataclasses.replace(leaf2.gnmi, insecure=False, tls_ca="/etc/ca.pem"))
    with caplog.at_level(logging.WARNING, logger="fabtel.gnmi"):
        for _ in range(3):                  # reconnects build the client again
            client.GnmiClient(leaf1)
            client.GnmiClient(tls)
        anonymous = dataclasses.replace(leaf1, name="anon", gnmi=dataclasses.replace(leaf1.gnmi, username=None,
                                                                                   password=None))
        client.GnmiClient(anonymous)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1, lines
    assert "leaf1" in lines[0] and "in clear" in lines[0] and "127.0.0.1:57411" in lines[0]
    assert "fabtel-lab-password" not in lines[0]
