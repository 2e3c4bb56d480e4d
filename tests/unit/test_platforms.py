"""The platform modules: every path a module subscribes to, reads in
discovery or sets is in its vendor's path table (the published models at a
pinned release), what the lab's device of each platform renders is in that
table with a value its type allows, what the collector subscribes to is
what the lab's device serves, ON_CHANGE subscriptions cover only state
leaves (no LACPDU counters streaming on every PDU), every speed of both
models is known, and the admin-state command is valid JSON of the model's type."""
from __future__ import annotations

import json

import pytest

from fabtel import gnmi_paths as gp
from fabtel.platforms import PLATFORMS, base
from fabtel.lab.gnmi_target import snapshot
from fabtel.lab.model import LabFabric
from fabtel.platforms.path_table import path_table

STATE_KINDS = {base.ADMIN, base.OPER, base.MEMBER, base.BGP, base.IFINDEX, base.LLDP, base.ALIAS}


@pytest.fixture(scope="module")
def leaves():
    """leaf1 of the example, rendered as a device of each platform would serve it."""
    from conftest import EXAMPLE
    from fabtel.config import load_config
    fabric = LabFabric(load_config(EXAMPLE))
    out = {}
    for name in PLATFORMS:
        node = fabric.nodes["leaf1"]
        node.platform = name
        node.alias = {n: f"etp{i + 1}" for i, n in enumerate(node.ports)} if name == "sonic" else {}
        node.ports["ethernet-1/49"].auto_negotiate = name != "sonic"    # SONiC's models have no negotiated speed
        out[name] = snapshot(fabric, node)
    return out


@pytest.mark.parametrize("name", PLATFORMS)
def test_every_path_a_module_uses_is_in_its_vendors_models(name):
    p, table = PLATFORMS[name], path_table(name)
    used = [path for path, _ in p.subscriptions] + list(p.discovery) + [p.admin_path("x")]
    assert [path for path in used if table.lookup(path) is None] == [], table.source
    assert table.lookup(p.admin_path("x")).config, "the admin state is set on a config leaf"
    assert table.source, "the table names the release it came from"


@pytest.mark.parametrize("name", PLATFORMS)
def test_the_lab_renders_each_platform_strictly_per_its_models(name, leaves):
    table = path_table(name)
    problems = [table.problem(path, value) for path, (value, _) in leaves[name].items()]
    assert [x for x in problems if x] == []
    assert len(leaves[name]) > 80


def test_a_value_outside_the_model_is_named():
    table = path_table("srlinux")
    assert "not a enumeration(enable|disable)" in table.problem(gp.parse("/interface[name=e]/admin-state"), "down")
    assert "is not in srlinux's models" in table.problem(gp.parse("/interface[name=e]/no-such-leaf"), 1)
    assert table.problem(gp.parse("/interface[name=e]/ifindex"), 2**32) is not None          # uint32
    assert path_table("sonic").lookup("sonic-db:/APPL_DB/localhost/PORT_TABLE/Ethernet0/oper_status").type == \
        "enumeration(down|up)"


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


@pytest.mark.parametrize("name,disable,enable", [("srlinux", '"disable"', '"enable"'), ("openconfig", "false", "true"),
                                                  ("eos", "false", "true"), ("junos", "false", "true"),
                                                  ("sonic", "false", "true")])
def test_admin_commands_are_json_of_the_models_type(name, disable, enable):
    p = PLATFORMS[name]
    path, value = p.admin_command("ethernet-1/1", up=False)
    assert value == disable and p.admin_command("ethernet-1/1", up=True)[1] == enable
    assert p.admin_target(gp.parse(path)) == "ethernet-1/1"
    assert p.check_admin_value(json.loads(value)) is False
    assert p.check_admin_value("disable" if name != "srlinux" else False) is None


def test_lab_views_carry_the_lacp_state(leaves):
    srl = leaves["srlinux"]
    path = gp.parse("/interface[name=lag1]/lag/member[name=ethernet-1/1]/lacp/synchronization")
    assert srl[path][0] == "IN_SYNC"


def test_the_configuration_offers_exactly_the_platform_modules():
    """fabtel.config imports nothing of fabtel; its platform choices must name every platform module."""
    from fabtel import config, platforms
    assert set(config.PLATFORMS) == set(platforms.PLATFORMS)
