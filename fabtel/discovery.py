"""`fabtel discover`'s reasoning, pure: what each device reported (its
leaves, as its platform classifies them) becomes a fabric configuration,
and what cannot be read off the devices is said.

Each device gives its host name, interfaces and speeds, LAG members (and
their LACP partners), ethernet segments, BGP neighbours, ifIndex and alias
maps, and its LLDP neighbours. From them: the devices (named by host
name), their roles (a naming rule; else from their neighbours: a device
that hears hosts is a leaf, one that hears only leaves a spine), uplinks
(a leaf's ports to spines), access ports (ports to hosts), fabric ports (a
spine's ports to leaves), LAGs with their ESIs, the hosts as clients (their
interfaces from LLDP, a bond where they land on a LAG, its LACP system ID),
every link once (its speed where it is not the default), and an oper-group
per leaf with access ports (require_bgp only where the leaf reports BGP).
May import: the standard library, fabtel.config, fabtel.platforms.base.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from fabtel.config.fabric import Link
from fabtel.platforms import base

CLIENT_ORDER = {"client": 0, "leaf": 1, "border": 1, "spine": 2}


@dataclass
class DeviceFacts:
    """What one device reported."""
    address: str
    platform: str
    hostname: str = ""
    speeds: dict[str, int] = field(default_factory=dict)             # interface -> b/s
    interfaces: set[str] = field(default_factory=set)
    lag_members: dict[str, list[str]] = field(default_factory=dict)  # LAG -> members
    partners: dict[str, str] = field(default_factory=dict)           # member -> LACP partner system ID
    segments: dict[str, dict[str, str]] = field(default_factory=dict)  # segment -> {esi, interface}
    bgp: set[str] = field(default_factory=set)                      # neighbour addresses
    ifindex: dict[str, int] = field(default_factory=dict)
    alias: dict[str, str] = field(default_factory=dict)
    lldp: dict[str, dict[str, str]] = field(default_factory=dict)   # interface -> {system-name, port-id, ...}
    sflow_agent: str = ""

    def add(self, leaf: base.Leaf) -> None:
        """One classified update."""
        k = leaf.kind
        if k in (base.ADMIN, base.OPER, base.COUNTER, base.IFINDEX, base.ALIAS, base.SPEED, base.NEGOTIATED_SPEED) \
                and leaf.key:
            self.interfaces.add(leaf.key)
        if k in (base.SPEED, base.NEGOTIATED_SPEED) and leaf.value:
            self.speeds[leaf.key] = leaf.value
        elif k == base.IFINDEX:
            self.ifindex[leaf.key] = leaf.value
        elif k == base.ALIAS:
            self.alias[leaf.key] = leaf.value
        elif k == base.MEMBER:
            members = self.lag_members.setdefault(leaf.key, [])
            if leaf.sub not in members:
                members.append(leaf.sub)
            if leaf.name == "partner-id" and leaf.value:
                self.partners[leaf.sub] = str(leaf.value).lower()
        elif k == base.LAG_OF and leaf.value:
            members = self.lag_members.setdefault(str(leaf.value), [])
            if leaf.key not in members:
                members.append(leaf.key)
        elif k == base.SEGMENT:
            self.segments.setdefault(leaf.key, {})[leaf.name] = leaf.value
        elif k == base.BGP:
            self.bgp.add(leaf.sub)
        elif k == base.LLDP:
            self.lldp.setdefault(leaf.key, {})[leaf.name] = leaf.value
        elif k == base.HOSTNAME:
            self.hostname = leaf.value
        elif k == base.SFLOW_AGENT:
            self.sflow_agent = leaf.value

    @property
    def name(self) -> str:
        return self.hostname or self.address


def platform_of(models: list[str]) -> str:
    """The platform a device's Capabilities models say it is."""
    names = set(models)
    if any(m.startswith("srl_nokia") for m in names):
        return "srlinux"
    if any(m.startswith("arista") for m in names):
        return "eos"
    if any(m.startswith(("jnx-", "junos")) for m in names):
        return "junos"
    if any(m.startswith("sonic-") for m in names):
        return "sonic"
    return "openconfig"


@dataclass
class Discovered:
    fabric: dict                      # the configuration's fabric section
    oper_groups: list[dict]
    notes: list[str]                  # what it could not infer, and what it inferred how


def _short(name: str) -> str:
    return name.split(".", 1)[0]


def build_fabric(facts: list[DeviceFacts], gnmi_of: dict[str, dict], roles: dict[str, str],
                 default_speed: int = Link.speed_bps) -> Discovered:
    """The fabric section from the devices' facts. `gnmi_of` maps an address
    to its gnmi settings (as the seed gave them); `roles` maps a role to a
    regular expression on device names."""
    notes: list[str] = []
    by_name = {f.name: f for f in facts}
    short = {_short(n): n for n in by_name}

    def device_of(system: str) -> str | None:
        return system if system in by_name else short.get(_short(system))

    def port_of(device: str, nb: dict[str, str]) -> str | None:
        f = by_name[device]
        pid, desc = nb.get("port-id", ""), nb.get("port-description", "")
        if pid in f.interfaces or pid in f.speeds:
            return pid
        for table in ({str(i): n for n, i in f.ifindex.items()}, {a: n for n, a in f.alias.items()}):
            if pid in table:
                return table[pid]
        return desc if desc in f.interfaces else None

    # the far end of every LLDP neighbour: a device of the fabric, or a host
    adjacency: dict[tuple[str, str], tuple[str, str]] = {}
    hosts: dict[str, dict[str, tuple[str, str]]] = {}             # host -> its interface -> (device, port)
    for f in facts:
        for port, nb in sorted(f.lldp.items()):
            system = nb.get("system-name", "")
            far = device_of(system)
            if far is not None:
                far_port = port_of(far, nb)
                if far_port is None:
                    notes.append(f"{f.name}:{port} hears {far} on a port it cannot name ({nb.get('port-id')!r}); "
                                 "the link is left out")
                    continue
                adjacency[(f.name, port)] = (far, far_port)
            elif system:
                host_port = nb.get("port-description") if nb.get("port-id-type") == base.MAC_ADDRESS else \
                    nb.get("port-id")
                hosts.setdefault(_short(system), {})[host_port or port] = (f.name, port)
    role = _roles(facts, adjacency, hosts, roles, notes)
    devices = []
    for f in sorted(facts, key=lambda x: x.name):
        devices.append(_device(f, role, adjacency, hosts, gnmi_of.get(f.address, {}), notes))
    clients = [_client(h, ports, by_name) for h, ports in sorted(hosts.items())]
    links, seen = [], set()
    for (a, pa), (b, pb) in sorted(adjacency.items()):
        ends = frozenset({(a, pa), (b, pb)})
        if ends in seen:
            continue
        seen.add(ends)
        lower, upper = sorted([(a, pa), (b, pb)], key=lambda e: (CLIENT_ORDER.get(role.get(e[0]), 1), e))
        links.append(_link(lower, upper, by_name, default_speed))
    for host, ports in sorted(hosts.items()):
        for intf, (dev, port) in sorted(ports.items()):
            links.append(_link((host, intf), (dev, port), by_name, default_speed))
    groups = [_oper_group(d, by_name[d["name"]]) for d in devices if d["role"] == "leaf" and d.get("access")]
    fabric = {"devices": devices, "clients": clients, "links": links}
    return Discovered(fabric, [g for g in groups if g], notes)


def _roles(facts, adjacency, hosts, rules: dict[str, str], notes: list[str]) -> dict[str, str]:
    heard_hosts = {dev for ports in hosts.values() for dev, _ in ports.values()}
    out = {}
    for f in facts:
        matched = [r for r, pattern in rules.items() if re.search(pattern, f.name)]
        if len(matched) == 1:
            out[f.name] = matched[0]
            continue
        guess = "leaf" if f.name in heard_hosts or f.segments else "spine"
        out[f.name] = guess
        why = "no naming rule matched" if not matched else f"naming rules {matched} all matched"
        notes.append(f"role of {f.name}: {why}; {guess} from its neighbours (it hears "
                     f"{'hosts' if guess == 'leaf' else 'only fabric devices'}): say it with --role or the seed's roles")
    return out


def _device(f: DeviceFacts, role: dict, adjacency: dict, hosts: dict, gnmi: dict, notes: list[str]) -> dict:
    r = role[f.name]
    out: dict = {"name": f.name, "role": r, "platform": f.platform}
    if gnmi:
        out["gnmi"] = dict(gnmi)
    if f.sflow_agent:
        out["sflow_agent"] = f.sflow_agent
    elif f.platform in ("sonic",):
        notes.append(f"{f.name}: sflow_agent not read ({f.platform} models no sFlow collector source address here)")
    facing = {port: role.get(far) for (dev, port), (far, _) in adjacency.items() if dev == f.name}
    to_hosts = sorted((port for ports in hosts.values() for dev, port in ports.values() if dev == f.name), key=_natural)
    if r in ("leaf", "border"):
        out["uplinks"] = sorted((p for p, far_role in facing.items() if far_role == "spine"), key=_natural)
        out["access"] = to_hosts
    else:
        out["fabric_ports"] = sorted((p for p, far_role in facing.items() if far_role in ("leaf", "border")),
                                     key=_natural)
    lags = []
    esi_of = {seg.get("interface"): seg.get("esi") for seg in f.segments.values() if seg.get("interface")}
    for lag, members in sorted(f.lag_members.items()):
        entry: dict = {"name": lag, "members": sorted(members, key=_natural)}
        if esi_of.get(lag):
            entry["esi"] = esi_of[lag].lower()
        lags.append(entry)
    if lags:
        out["lags"] = lags
        if not f.segments and f.platform in ("junos", "sonic"):
            notes.append(f"{f.name}: ESIs not read ({f.platform}'s models have no ethernet segments); add each "
                         "LAG's esi by hand if it is multihomed")
    if not out.get("uplinks"):
        out.pop("uplinks", None)
    if not out.get("access"):
        out.pop("access", None)
    return out


def _client(host: str, ports: dict[str, tuple[str, str]], by_name: dict) -> dict:
    out: dict = {"name": host, "interfaces": sorted(ports, key=_natural)}
    bonded = [intf for intf, (dev, port) in ports.items()
              if any(port in members for members in by_name[dev].lag_members.values())]
    if bonded:
        out["bond"] = sorted(bonded, key=_natural)
        partner = next((by_name[dev].partners.get(port) for intf, (dev, port) in sorted(ports.items())
                        if by_name[dev].partners.get(port)), None)
        if partner:
            out["system_id"] = partner
    return out


def _link(a: tuple[str, str], b: tuple[str, str], by_name: dict, default_speed: int) -> dict:
    out: dict = {"a": ":".join(a), "b": ":".join(b)}
    speed = next((by_name[d].speeds.get(p) for d, p in (a, b) if d in by_name and by_name[d].speeds.get(p)), None)
    if speed and speed != default_speed:
        out["speed_bps"] = speed
    return out


def _oper_group(device: dict, f: DeviceFacts) -> dict | None:
    if not device.get("uplinks"):
        return None
    return {"name": f"og-{device['name']}", "device": device["name"], "watch": device["uplinks"],
            "down_links": device["access"], "required_up_uplinks": 1, "hold_down_ms": 0, "hold_up_ms": 5000,
            "require_bgp": bool(f.bgp)}


def _natural(name: str) -> list:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def cabling_differences(intended, found: list[dict]) -> list[str]:
    """Each port whose far end differs between the intended links (config
    Links) and the links found (dicts with a and b as DEVICE:PORT)."""
    want = {}
    for link in intended:
        want[":".join(link.a)] = ":".join(link.b)
        want[":".join(link.b)] = ":".join(link.a)
    have = {}
    for link in found:
        have[link["a"]] = link["b"]
        have[link["b"]] = link["a"]
    out = []
    for port in sorted(set(want) | set(have), key=_natural):
        w, h = want.get(port), have.get(port)
        if w == h or port.split(":", 1)[0] not in {p.split(":", 1)[0] for p in have}:
            continue          # as intended, or a device discover did not read
        if h is None:
            out.append(f"{port}: no LLDP neighbour, intended {w}")
        elif w is None:
            out.append(f"{port}: cabled to {h}, where no link is intended")
        else:
            out.append(f"{port}: cabled to {h}, intended {w}")
    return out
