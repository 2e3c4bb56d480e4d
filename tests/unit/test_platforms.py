"""The platform modules: what the collector subscribes to is what the lab's
device serves, ON_CHANGE subscriptions cover only state leaves (no LACPDU
counters streaming on every PDU), every speed of both models is known, and
the admin-state command is valid JSON of the model's type."""
from __future__ import annotations

import json

import pytest

from fabtel import gnmi_paths as gp
from fabtel.platforms import PLATFORMS, base
from fabtel.lab.gnmi_target import snapshot
from fabtel.lab.model import LabFabric

STATE_KINDS = {base.ADMIN, base.OPER, base.MEMBER, base.BGP, base.IFINDEX}


@pytest.fixture(scope="module")
def leaves():
    from conftest import EXAMPLE
    from fabtel.config import load_config
    fabric = LabFabric(load_config(EXAMPLE))
    out = {}
    for name in PLATFORMS:
        node = fabric.nodes["leaf1"]
        node.platform = name
        node.ports["ethernet-1/49"].auto_negotiate = True
        out[name] = snapshot(fabric, node)
    return out


@pytest.mark.parametrize("name", PLATFORMS)
def test_every_subscription_matches_what_the_device_serves(name, leaves):
    served = leaves[name]
    for path, mode in PLATFORMS[name].subscriptions:
        matched = [p for p in served if gp.matches(gp.parse(path), p)]
        assert matched, f"{name}: nothing served under {path}"
        kinds = {PLATFORMS[name].classify(p, served[p][0]).kind for p in matched}
        if mode == "on_change":
            assert kinds <= STATE_KINDS, f"{name}: {path} streams {kinds - STATE_KINDS} on change"
        else:
            assert kinds <= {base.COUNTER, base.SPEED, base.NEGOTIATED_SPEED}, (path, kinds)


@pytest.mark.parametrize("name", PLATFORMS)
def test_every_served_leaf_is_understood(name, leaves):
    p = PLATFORMS[name]
    unknown = [gp.render(path) for path, (value, _) in leaves[name].items() if p.classify(path, value) is None]
    assert not unknown


def test_every_speed_of_both_models():
    srl, oc = PLATFORMS["srlinux"], PLATFORMS["openconfig"]
    assert {"10M", "100M", "200G", "1T"} <= set(srl.speeds)
    assert {"SPEED_10MB", "SPEED_100MB", "SPEED_2500MB", "SPEED_5GB", "SPEED_200GB", "SPEED_600GB",
            "SPEED_1600GB"} <= set(oc.speeds)
    assert srl.speed_bps("200G") == 2 * 10**11 and srl.speed_bps("1T") == 10**12
    assert oc.speed_bps("openconfig-if-ethernet:SPEED_2500MB") == 25 * 10**8
    assert oc.speed_bps("SPEED_UNKNOWN") is None
    for p in (srl, oc):
        for text, bps in p.speeds.items():
            assert p.speed_bps(p.speed_name(bps)) == bps


@pytest.mark.parametrize("name,disable,enable", [("srlinux", '"disable"', '"enable"'), ("openconfig", "false", "true")])
def test_admin_commands_are_json_of_the_models_type(name, disable, enable):
    p = PLATFORMS[name]
    path, value = p.admin_command("ethernet-1/1", up=False)
    assert value == disable and p.admin_command("ethernet-1/1", up=True)[1] == enable
    assert p.admin_target(gp.parse(path)) == "ethernet-1/1"
    assert p.check_admin_value(json.loads(value)) is False
    assert p.check_admin_value("disable" if name == "openconfig" else False) is None


def test_lab_views_carry_the_lacp_state(leaves):
    srl = leaves["srlinux"]
    path = gp.parse("/interface[name=lag1]/lag/member[name=ethernet-1/1]/lacp/synchronization")
    assert srl[path][0] == "IN_SYNC"


def test_the_configuration_offers_exactly_the_platform_modules():
    """fabtel.config imports nothing of fabtel; its platform choices must name every platform module."""
    from fabtel import config, platforms
    assert set(config.PLATFORMS) == set(platforms.PLATFORMS)
