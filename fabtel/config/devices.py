"""A device of the `fabric` section: its role, platform, gNMI target (TLS by
default), sFlow agent, uplinks, access ports, LAGs and ifIndex entries.

May import: the standard library, PyYAML, fabtel.config.reader, fabtel.config.secrets.
"""
from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field

import yaml

from fabtel.config.reader import YamlReader, host_port_ok
from fabtel.config.secrets import SecretRef, read_secret

ROLES = ("leaf", "spine", "border")
PLATFORMS = ("srlinux", "openconfig", "eos", "junos", "sonic")
# platforms whose gNMI gives no BGP session state (a test holds this to the platform modules' subscriptions)
NO_BGP_TELEMETRY = ("sonic",)
LACP_BIT_ORDERS = ("auto", "ieee8021ax", "mib-bits")


@dataclass(frozen=True)
class GnmiTarget:
    address: str
    username: SecretRef | str | None = None
    password: SecretRef | None = None
    insecure: bool = False             # plaintext only when the configuration says so
    tls_ca: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    skip_verify: bool = False
    target: str | None = None          # the gNMI prefix target, for devices that require one


@dataclass(frozen=True)
class Lag:
    name: str
    members: tuple[str, ...]
    esi: str | None = None


@dataclass(frozen=True)
class Device:
    name: str
    role: str
    platform: str = "srlinux"
    gnmi: GnmiTarget | None = None
    sflow_agent: str | None = None
    uplinks: tuple[str, ...] = ()
    access: tuple[str, ...] = ()
    lags: tuple[Lag, ...] = ()
    ifindex: dict[str, int] = field(default_factory=dict)     # stated here: for a device without gNMI (it wins)
    fabric_ports: tuple[str, ...] = ()
    sflow_lacp_bit_order: str | None = None       # auto, ieee8021ax or mib-bits (default: sflow.lacp_bit_order)
    router_id: str | None = None                  # its BGP identifier: names it in BMP (the EVPN wait)

    @property
    def interfaces(self) -> tuple[str, ...]:
        """Every interface the configuration names on this device."""
        names: list[str] = list(self.uplinks) + list(self.access) + list(self.fabric_ports)
        for lag in self.lags:
            names.append(lag.name)
            names.extend(lag.members)
        return tuple(dict.fromkeys(names))

    def lag_of(self, member: str) -> Lag | None:
        return next((lag for lag in self.lags if member in lag.members), None)

    def esi_of(self, interface: str) -> str | None:
        """The ethernet segment of a LAG or of one of its members."""
        lag = self.lag_of(interface) or next((lg for lg in self.lags if lg.name == interface), None)
        return lag.esi if lag else None


def read_gnmi_target(r: YamlReader, node, path: str) -> GnmiTarget | None:
    keys = {"address", "username", "username_env", "username_file", "password_env", "password_file",
            "insecure", "tls_ca", "tls_cert", "tls_key", "skip_verify", "target"}
    f = r.mapping(node, path, keys, {"address"})
    if f is None:
        return None
    address = r.string(f["address"], f"{path}.address") if "address" in f else None
    if address is not None and not host_port_ok(address):
        r.problem(f"{path}.address", f["address"], f"expected HOST:PORT with a port from 1 to 65535, got {address!r}")
    username = r.string(f["username"], f"{path}.username") if "username" in f else read_secret(r, f, path, "username")
    values = {k: r.string(f[k], f"{path}.{k}") for k in ("tls_ca", "tls_cert", "tls_key", "target") if k in f}
    for k in ("insecure", "skip_verify"):
        if k in f:
            values[k] = r.boolean(f[k], f"{path}.{k}")
    if not {"insecure", "tls_ca", "tls_cert", "skip_verify"} & set(f):
        # Secure by default: plaintext gNMI sends the password in clear, so it must be asked for.
        r.problem(path, node, "no TLS settings: give tls_ca (or skip_verify: true) to use TLS, or insecure: true "
                              "to send the credentials in clear")
    return GnmiTarget(address=address or "", username=username, password=read_secret(r, f, path, "password"),
                      **{k: v for k, v in values.items() if v is not None})


def read_device(r: YamlReader, node, path: str) -> Device | None:
    keys = {"name", "role", "platform", "gnmi", "sflow_agent", "uplinks", "access", "fabric_ports", "lags", "ifindex",
            "sflow_lacp_bit_order", "router_id"}
    f = r.mapping(node, path, keys, {"name", "role"})
    if f is None:
        return None
    name = r.string(f["name"], f"{path}.name") if "name" in f else None
    role = r.choice(f["role"], f"{path}.role", ROLES) if "role" in f else None
    platform = r.choice(f["platform"], f"{path}.platform", PLATFORMS) if "platform" in f else "srlinux"
    gnmi = read_gnmi_target(r, f["gnmi"], f"{path}.gnmi") if "gnmi" in f else None
    agent = r.string(f["sflow_agent"], f"{path}.sflow_agent") if "sflow_agent" in f else None
    lacp_order = (r.choice(f["sflow_lacp_bit_order"], f"{path}.sflow_lacp_bit_order", LACP_BIT_ORDERS)
                  if "sflow_lacp_bit_order" in f else None)
    router_id = r.string(f["router_id"], f"{path}.router_id") if "router_id" in f else None
    if agent is not None:
        try:
            ipaddress.ip_address(agent)
        except ValueError:
            r.problem(f"{path}.sflow_agent", f["sflow_agent"], f"not an IP address: {agent!r}")
    if router_id is not None:
        try:
            ipaddress.IPv4Address(router_id)
        except ValueError:
            r.problem(f"{path}.router_id", f["router_id"], f"a BGP identifier is a dotted quad, got {router_id!r}")
    uplinks = r.strings(f["uplinks"], f"{path}.uplinks") if "uplinks" in f else ()
    access = r.strings(f["access"], f"{path}.access") if "access" in f else ()
    fabric_ports = r.strings(f["fabric_ports"], f"{path}.fabric_ports") if "fabric_ports" in f else ()
    lags = []
    for i, lnode in enumerate(r.seq(f["lags"], f"{path}.lags") if "lags" in f else []):
        lpath = f"{path}.lags[{i}]"
        lf = r.mapping(lnode, lpath, {"name", "members", "esi"}, {"name", "members"})
        if lf is None or "name" not in lf or "members" not in lf:
            continue
        esi = r.string(lf["esi"], f"{lpath}.esi") if "esi" in lf else None
        if esi is not None and not re.fullmatch(r"([0-9A-Fa-f]{2}:){9}[0-9A-Fa-f]{2}", esi):
            r.problem(f"{lpath}.esi", lf["esi"], f"an ESI is 10 bytes as xx:xx:..., got {esi!r}")
        lname = r.string(lf["name"], f"{lpath}.name")
        members = r.strings(lf["members"], f"{lpath}.members")
        if not members:
            r.problem(f"{lpath}.members", lf["members"], "a LAG needs at least one member")
        if lname:
            lags.append(Lag(lname, members, esi))
    ifindex: dict[str, int] = {}
    if "ifindex" in f and isinstance(f["ifindex"], yaml.MappingNode):
        for knode, vnode in f["ifindex"].value:
            key = str(r.loader.construct_object(knode))
            value = r.integer(vnode, f"{path}.ifindex.{key}", minimum=1)
            if value is not None:
                ifindex[key] = value
    elif "ifindex" in f:
        r.problem(f"{path}.ifindex", f["ifindex"], "expected a mapping of interface name to ifIndex")
    if not (name and role):
        return None
    return Device(name=name, role=role, platform=platform or "srlinux", gnmi=gnmi, sflow_agent=agent,
                  uplinks=uplinks, access=access, lags=tuple(lags), ifindex=ifindex,
                  fabric_ports=fabric_ports, sflow_lacp_bit_order=lacp_order, router_id=router_id)
