"""`fabtel discover` against the lab's devices over real gNMI: the
configuration it writes equals the example's fabric up to ordering, passes
`config check`, and a lab whose cables were swapped is reported with both
ends. The lab reports what a device reports (LLDP as each platform sends
it, ifIndex, LAG members and partners, ESIs), nothing more."""
from __future__ import annotations

import dataclasses

import yaml

from conftest import EXAMPLE, fabtel, running_lab
from fabtel.config import load_config, parse_config
from fabtel.lab.scenario import load_scenario


def _seed(cfg, path):
    seed = {"discover": {"targets": [{"address": d.gnmi.address} for d in cfg.fabric.devices],
                         "gnmi": {"username_env": "FABTEL_GNMI_USER", "password_env": "FABTEL_GNMI_PASSWORD",
                                  "insecure": True},
                         "roles": {"spine": "^spine", "leaf": "^leaf"}}}
    path.write_text(yaml.safe_dump(seed))
    return path


def _normal(fabric):
    """A fabric with its lists in one order, the gNMI addresses (the test's free ports) left out."""
    devices = sorted((dataclasses.replace(d, gnmi=dataclasses.replace(d.gnmi, address="-")) for d in fabric.devices),
                     key=lambda d: d.name)
    links = sorted(tuple(sorted((link.a, link.b))) + (link.speed_bps,) for link in fabric.links)
    return devices, sorted(fabric.clients, key=lambda c: c.name), links


def test_discover_on_the_lab_writes_the_examples_fabric(lab_config, tmp_path):
    with running_lab(lab_config, with_gnmi=True):
        out = fabtel("discover", "--config", str(_seed(lab_config, tmp_path / "seed.yaml")), "-o",
                     str(tmp_path / "found.yaml"), "--intent", str(EXAMPLE))
    assert out.returncode == 0, out.stderr[-3000:]
    assert "discover: 5 devices, 2 clients, 9 links, 3 oper-groups; 0 note(s)" in out.stderr
    assert "cabling: 0 port(s) cabled otherwise" in out.stderr
    found = parse_config((tmp_path / "found.yaml").read_text(), "found.yaml")
    assert _normal(found.fabric) == _normal(load_config(EXAMPLE).fabric)
    assert [g.name for g in found.oper_groups] == ["og-leaf1", "og-leaf2", "og-leaf3"]
    check = fabtel("config", "check", str(tmp_path / "found.yaml"))
    assert check.returncode == 0, check.stdout + check.stderr


def test_without_a_naming_rule_the_roles_come_from_the_neighbours_and_are_said(lab_config, tmp_path):
    seed = yaml.safe_load(_seed(lab_config, tmp_path / "seed.yaml").read_text())
    del seed["discover"]["roles"]
    (tmp_path / "seed.yaml").write_text(yaml.safe_dump(seed))
    with running_lab(lab_config, with_gnmi=True):
        out = fabtel("discover", "--config", str(tmp_path / "seed.yaml"))
    assert out.returncode == 0, out.stderr[-3000:]
    found = parse_config(out.stdout, "stdout")
    assert {d.name: d.role for d in found.fabric.devices} == {d.name: d.role for d in load_config(EXAMPLE).fabric.devices}
    assert "# NOTE role of spine1: no naming rule matched; spine from its neighbours" in out.stdout


def test_swapped_cables_are_reported_with_both_ends(lab_config, tmp_path):
    scenario = load_scenario("swapped-cables", lab_config)
    with running_lab(lab_config, scenario, with_gnmi=True):
        out = fabtel("discover", "--config", str(_seed(lab_config, tmp_path / "seed.yaml")), "-o",
                     str(tmp_path / "found.yaml"), "--intent", str(EXAMPLE))
    assert out.returncode == 1, out.stderr[-3000:]
    lines = [x for x in out.stderr.splitlines() if x.startswith("cabling: ") and "intended" in x]
    assert lines == ["cabling: leaf1:ethernet-1/49: cabled to spine1:ethernet-1/2, intended spine1:ethernet-1/1",
                     "cabling: leaf2:ethernet-1/49: cabled to spine1:ethernet-1/1, intended spine1:ethernet-1/2",
                     "cabling: spine1:ethernet-1/1: cabled to leaf2:ethernet-1/49, intended leaf1:ethernet-1/49",
                     "cabling: spine1:ethernet-1/2: cabled to leaf1:ethernet-1/49, intended leaf2:ethernet-1/49"]


def test_a_device_that_does_not_answer_is_said_and_the_rest_written(lab_config, tmp_path):
    seed = yaml.safe_load(_seed(lab_config, tmp_path / "seed.yaml").read_text())
    seed["discover"]["targets"].append({"address": "127.0.0.1:1"})
    (tmp_path / "seed.yaml").write_text(yaml.safe_dump(seed))
    with running_lab(lab_config, with_gnmi=True):
        out = fabtel("discover", "--config", str(tmp_path / "seed.yaml"), timeout=120)
    assert out.returncode == 1 and "127.0.0.1:1: Capabilities failed: UNAVAILABLE" in out.stderr, out.stderr[-2000:]
    assert "# NOTE could not read: 127.0.0.1:1" in out.stdout and len(parse_config(out.stdout).fabric.devices) == 5


def test_a_bad_seed_is_named_line_by_line(tmp_path):
    (tmp_path / "seed.yaml").write_text("discover:\n  targets:\n    - {address: nohost}\n  platform: ios\n")
    out = fabtel("discover", "--config", str(tmp_path / "seed.yaml"))
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "discover.targets[0].address" in out.stderr and "discover.platform" in out.stderr, out.stderr


def test_discover_on_the_mixed_fabric_reads_each_vendor_its_own_way(tmp_path):
    """EOS, Junos, SONiC and SR Linux told apart by their Capabilities; Junos's
    LLDP port IDs (ifIndex numbers) and SONiC's (aliases) named through each
    neighbour's maps; what SONiC cannot say (its ESIs, its BGP) is said."""
    from conftest import MIXED, with_free_gnmi_ports
    cfg = with_free_gnmi_ports(load_config(MIXED))
    with running_lab(cfg, with_gnmi=True):
        out = fabtel("discover", "--config", str(_seed(cfg, tmp_path / "seed.yaml")), "--intent", str(MIXED))
    assert out.returncode == 0, out.stderr[-3000:]
    found = parse_config(out.stdout, "stdout")
    assert {d.name: d.platform for d in found.fabric.devices} == {d.name: d.platform for d in cfg.fabric.devices}
    assert sorted(tuple(sorted((link.a, link.b))) for link in found.fabric.links) == \
        sorted(tuple(sorted((link.a, link.b))) for link in cfg.fabric.links)
    assert "cabling: 0 port(s) cabled otherwise" in out.stderr
    assert "# NOTE leaf1: ESIs not read (sonic's models have no ethernet segments)" in out.stdout
    assert {g.device: g.require_bgp for g in found.oper_groups} == {"leaf1": False, "leaf2": True, "leaf3": True}
