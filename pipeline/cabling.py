"""The cabling as intended (fabric.links) against the cabling as LLDP hears
it, one port at a time. Pure: LldpNeighbor and InterfaceIndexes records in,
CablingCheck records out (only when a port's verdict changes).

An LLDP neighbour names its far end by system name (a host name, perhaps
with its domain) and a port ID whose meaning is the far device's choice:
the interface's name (SR Linux, EOS), its SNMP ifIndex with the name in the
port description (Junos), its alias (SONiC's lldpd: etpN), or a MAC with
the interface's name in the description (a host's lldpd). The far end is
named by trying, in order: the port ID as a name, the far device's ifIndex
map and alias map (its InterfaceIndexes), then the port description. A
neighbour whose port cannot be named is judged by its device alone.

Verdicts: "as intended"; "miswired" (the far end is not the intended one:
both are named); "unexpected" (a neighbour on a port with no intended link);
"gone" (the neighbour left: the link is down or the cable was pulled; not a
fault by itself, the interface state says which).
May import: the standard library, fabtel.config, fabtel.records.
"""
from __future__ import annotations

from fabtel.config import Fabric
from fabtel.records import CablingCheck, InterfaceIndexes, LldpNeighbor

AS_INTENDED, MISWIRED, UNEXPECTED, GONE = "as intended", "miswired", "unexpected", "gone"


class Cabling:
    def __init__(self, fabric: Fabric):
        self.intended: dict[tuple[str, str], tuple[str, str]] = {}
        for link in fabric.links:
            self.intended[link.a] = link.b
            self.intended[link.b] = link.a
        self.devices = {d.name for d in fabric.devices} | {c.name for c in fabric.clients}
        self.ports = {d.name: set(d.interfaces) for d in fabric.devices}
        self.ports.update({c.name: set(c.interfaces) for c in fabric.clients})
        for (dev, port) in self.intended:
            self.ports.setdefault(dev, set()).add(port)
        self.by_ifindex: dict[str, dict[str, str]] = {}       # device -> ifIndex (as text) -> interface
        self.by_alias: dict[str, dict[str, str]] = {}         # device -> alias -> interface
        self.verdicts: dict[tuple[str, str], tuple[str, str | None]] = {}   # port -> (verdict, far end seen)

    def learn(self, rec: InterfaceIndexes) -> None:
        self.by_ifindex[rec.device] = {str(e.ifindex): e.interface for e in rec.entries}
        self.by_alias[rec.device] = {e.alias: e.interface for e in rec.entries if e.alias}

    def far_end(self, rec: LldpNeighbor) -> tuple[str | None, str | None]:
        """(device, interface) the neighbour names; either None when it cannot be named."""
        name = rec.system_name or ""
        device = name if name in self.devices else name.split(".", 1)[0] if name.split(".", 1)[0] in self.devices \
            else None
        if device is None:
            return None, None
        known = self.ports.get(device, set())
        pid, desc = rec.port_id or "", rec.port_description or ""
        for candidate in (pid if pid in known else None, self.by_ifindex.get(device, {}).get(pid),
                          self.by_alias.get(device, {}).get(pid), desc if desc in known else None):
            if candidate:
                return device, candidate
        return device, None

    def observe(self, rec: LldpNeighbor, ts_ns: int) -> list[CablingCheck]:
        here = (rec.device, rec.interface)
        want = self.intended.get(here)
        intended = ":".join(want) if want else None
        if rec.deleted:
            verdict, seen, detail = GONE, None, f"{_port(here)}: its LLDP neighbour left"
        else:
            device, port = self.far_end(rec)
            seen = f"{device}:{port}" if device and port else device or rec.system_name or rec.chassis_id
            if want is None:
                verdict, detail = UNEXPECTED, f"{_port(here)} hears {seen}, where no link is intended"
            elif device == want[0] and port in (want[1], None):
                verdict = AS_INTENDED
                detail = f"{_port(here)} is cabled to {intended}" + (
                    "" if port else f" (its port ID {rec.port_id!r} names no port of {device})")
            else:
                verdict = MISWIRED
                detail = f"{_port(here)} is cabled to {seen}, not to {intended} as intended"
        if self.verdicts.get(here) == (verdict, seen):
            return []
        first = here not in self.verdicts
        self.verdicts[here] = (verdict, seen)
        if first and verdict == GONE:
            return []
        return [CablingCheck(rec.device, rec.interface, verdict, intended, seen, detail, ts_ns)]

    def miswired(self) -> list[tuple[str, str]]:
        return sorted(p for p, (v, _) in self.verdicts.items() if v == MISWIRED)


def _port(p: tuple[str, str]) -> str:
    return f"{p[0]}:{p[1]}"
