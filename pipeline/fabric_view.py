"""What the processors know of each device: interface states, BGP sessions,
recent rates and when the device last spoke. Pure; serializable to a dict
so that a Faust table can keep it across restarts and rebalances."""
from __future__ import annotations

from dataclasses import dataclass, field

from fabtel.records import BgpSession, InterfaceState


@dataclass
class InterfaceView:
    admin: str | None = None
    oper: str | None = None
    ts_ns: int = 0                 # device time of the last state change seen
    in_bps: float = 0.0
    out_bps: float = 0.0
    speed_bps: int | None = None
    rate_ts_ns: int = 0            # device time of the counter sample that gave the rates (0: none yet)
    rate_from_ns: int = 0          # ... and of the sample before it: the rates are over [from, ts]


@dataclass
class DeviceView:
    name: str
    interfaces: dict[str, InterfaceView] = field(default_factory=dict)
    bgp: dict[str, tuple[str, int]] = field(default_factory=dict)     # peer -> (state, device ts)
    last_seen_ns: int = 0           # receive time of the newest record from the device
    # ESI -> (routers holding the device's type-1 and type-4 routes, those routes, ts of the change), from BMP
    evpn: dict[str, tuple[list[str], list[str], int]] = field(default_factory=dict)

    def interface(self, name: str) -> InterfaceView:
        view = self.interfaces.get(name)
        if view is None:
            view = self.interfaces[name] = InterfaceView()
        return view

    def apply_state(self, rec: InterfaceState) -> bool:
        """Returns True when the admin or oper state changed."""
        v = self.interface(rec.interface)
        if rec.device_ts_ns < v.ts_ns:
            return False                       # older than what we know (a replay): ignore
        changed = False
        if rec.admin_state is not None and rec.admin_state != v.admin:
            v.admin, changed = rec.admin_state, True
        if rec.oper_state is not None and rec.oper_state != v.oper:
            v.oper, changed = rec.oper_state, True
        if changed:
            v.ts_ns = rec.device_ts_ns
        return changed

    def apply_bgp(self, rec: BgpSession) -> bool:
        prev = self.bgp.get(rec.peer_address)
        if prev is not None and (prev[0] == rec.session_state or rec.device_ts_ns < prev[1]):
            return False
        self.bgp[rec.peer_address] = (rec.session_state, rec.device_ts_ns)
        return True

    def established(self) -> tuple[int, int]:
        """(established sessions, device time of the newest change among them)."""
        up = [ts for state, ts in self.bgp.values() if state == "established"]
        return len(up), max(up, default=0)

    def to_dict(self) -> dict:
        return {"name": self.name, "last_seen_ns": self.last_seen_ns,
                "bgp": {k: list(v) for k, v in self.bgp.items()},
                "evpn": {k: list(v) for k, v in self.evpn.items()},
                "interfaces": {k: [v.admin, v.oper, v.ts_ns, v.in_bps, v.out_bps, v.speed_bps, v.rate_ts_ns,
                                   v.rate_from_ns]
                               for k, v in self.interfaces.items()}}

    @classmethod
    def from_dict(cls, d: dict) -> "DeviceView":
        view = cls(d["name"], last_seen_ns=d["last_seen_ns"],
                   bgp={k: (v[0], v[1]) for k, v in d["bgp"].items()})
        view.interfaces = {k: InterfaceView(*v) for k, v in d["interfaces"].items()}
        view.evpn = {k: (v[0], v[1], v[2]) for k, v in d.get("evpn", {}).items()}
        return view
