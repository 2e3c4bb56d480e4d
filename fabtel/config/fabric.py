"""The `fabric` section: the devices (fabtel.config.devices), the clients and
the cabling, each link's ends checked against the devices' interfaces.

May import: the standard library, PyYAML, fabtel.config.reader, fabtel.config.devices.
"""
from __future__ import annotations

from dataclasses import dataclass

import yaml

from fabtel.config.devices import Device, read_device
from fabtel.config.reader import YamlReader, child


@dataclass(frozen=True)
class Client:
    name: str
    interfaces: tuple[str, ...]
    bond: tuple[str, ...] = ()
    system_id: str | None = None


@dataclass(frozen=True)
class Link:
    a: tuple[str, str]
    b: tuple[str, str]
    speed_bps: int = 10_000_000_000


@dataclass(frozen=True)
class Fabric:
    devices: tuple[Device, ...]
    clients: tuple[Client, ...] = ()
    links: tuple[Link, ...] = ()

    def device(self, name: str) -> Device:
        for dev in self.devices:
            if dev.name == name:
                return dev
        raise KeyError(name)

    def device_by_agent(self) -> dict[str, str]:
        return {d.sflow_agent: d.name for d in self.devices if d.sflow_agent}

    def es_members(self, esi: str) -> list[tuple[str, str]]:
        """(device, lag) pairs that belong to one ethernet segment."""
        return [(d.name, lag.name) for d in self.devices for lag in d.lags if lag.esi == esi]


def read_endpoint(r: YamlReader, node, path: str) -> tuple[str, str] | None:
    text = r.string(node, path)
    if text is None:
        return None
    if ":" not in text:
        r.problem(path, node, f"expected DEVICE:INTERFACE, got {text!r}")
        return None
    dev, _, intf = text.partition(":")
    return dev, intf


def read_fabric(r: YamlReader, node) -> tuple[Fabric, dict]:
    f = r.mapping(node, "fabric", {"devices", "clients", "links"}, {"devices"}) or {}
    devices, dev_nodes, broken = [], {}, set()
    for i, dnode in enumerate(r.seq(f["devices"], "fabric.devices") if "devices" in f else []):
        dev = read_device(r, dnode, f"fabric.devices[{i}]")
        name_node = child(dnode, "name")
        if dev is None and isinstance(name_node, yaml.ScalarNode):
            broken.add(str(name_node.value))    # reported already: references to it are not problems of their own
        if dev is not None:
            if dev.name in dev_nodes:
                r.problem(f"fabric.devices[{i}].name", dnode, f"device {dev.name!r} is defined twice")
            devices.append(dev)
            dev_nodes[dev.name] = (f"fabric.devices[{i}]", dnode)
    clients = []
    for i, cnode in enumerate(r.seq(f["clients"], "fabric.clients") if "clients" in f else []):
        path = f"fabric.clients[{i}]"
        cf = r.mapping(cnode, path, {"name", "interfaces", "bond", "system_id"}, {"name", "interfaces"})
        if cf is None or "name" not in cf or "interfaces" not in cf:
            continue
        interfaces = r.strings(cf["interfaces"], f"{path}.interfaces")
        bond = r.strings(cf["bond"], f"{path}.bond") if "bond" in cf else ()
        for m in bond:
            if m not in interfaces:
                r.problem(f"{path}.bond", cf["bond"], f"bond member {m!r} is not one of the client's interfaces")
        sysid = r.string(cf["system_id"], f"{path}.system_id") if "system_id" in cf else None
        name = r.string(cf["name"], f"{path}.name")
        if name:
            clients.append(Client(name, interfaces, bond, sysid))
    links, link_nodes = [], []
    for i, lnode in enumerate(r.seq(f["links"], "fabric.links") if "links" in f else []):
        path = f"fabric.links[{i}]"
        lf = r.mapping(lnode, path, {"a", "b", "speed_bps"}, {"a", "b"})
        if lf is None or "a" not in lf or "b" not in lf:
            continue
        a, b = read_endpoint(r, lf["a"], f"{path}.a"), read_endpoint(r, lf["b"], f"{path}.b")
        speed = r.integer(lf["speed_bps"], f"{path}.speed_bps", minimum=1) if "speed_bps" in lf else None
        if a and b:
            links.append(Link(a, b, speed or Link.speed_bps))
            link_nodes.append((path, lf["a"], lf["b"]))
    fabric = Fabric(tuple(devices), tuple(clients), tuple(links))
    check_links(r, fabric, link_nodes, broken)
    return fabric, dev_nodes, broken


def check_links(r: YamlReader, fabric: Fabric, link_nodes: list, broken: set[str]) -> None:
    """Each end names a known device's or client's interface, cabled once; the
    problem points at that end's line."""
    known: dict[str, set[str]] = {d.name: set(d.interfaces) for d in fabric.devices}
    known.update({c.name: set(c.interfaces) for c in fabric.clients})
    used: set[tuple[str, str]] = set()
    for link, (path, a_node, b_node) in zip(fabric.links, link_nodes):
        for end, side, node in ((link.a, "a", a_node), (link.b, "b", b_node)):
            dev, intf = end
            if dev in broken:
                continue
            if dev not in known:
                r.problem(f"{path}.{side}", node, f"unknown device or client {dev!r}")
            elif intf not in known[dev]:
                r.problem(f"{path}.{side}", node, f"{dev} has no interface {intf!r} (list it under uplinks, access or lags)")
            if end in used:
                r.problem(f"{path}.{side}", node, f"{dev}:{intf} is cabled twice")
            used.add(end)


def check_devices(r: YamlReader, fabric: Fabric, dev_nodes: dict) -> None:
    """Addresses used twice and LAG members that are uplinks, at the line of the second use."""
    agents: dict[str, str] = {}
    addresses: dict[str, str] = {}
    for d in fabric.devices:
        path, node = dev_nodes.get(d.name, (f"fabric.devices[{d.name}]", None))
        if d.sflow_agent:
            if d.sflow_agent in agents:
                r.problem(f"{path}.sflow_agent", child(node, "sflow_agent"),
                          f"agent address {d.sflow_agent} also used by {agents[d.sflow_agent]}")
            agents[d.sflow_agent] = d.name
        if d.gnmi:
            if d.gnmi.address in addresses:
                r.problem(f"{path}.gnmi.address", child(node, "gnmi", "address"),
                          f"gNMI address {d.gnmi.address} also used by {addresses[d.gnmi.address]}")
            addresses[d.gnmi.address] = d.name
        for i, lag in enumerate(d.lags):
            for m in lag.members:
                if m in d.uplinks:
                    lag_node = child(node, "lags")
                    r.problem(f"{path}.lags[{i}].members", lag_node.value[i] if isinstance(lag_node, yaml.SequenceNode)
                              and i < len(lag_node.value) else node, f"member {m!r} of {lag.name} is also an uplink")
