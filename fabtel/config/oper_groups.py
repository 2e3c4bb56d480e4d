"""The `oper_groups` section: which uplinks each group watches, which links
it brings down, its hold timers, checked against the fabric's devices.

May import: the standard library, fabtel.config.reader, fabtel.config.fabric, fabtel.config.devices.
"""
from __future__ import annotations

from dataclasses import dataclass

from fabtel.config.devices import NO_BGP_TELEMETRY
from fabtel.config.fabric import Fabric
from fabtel.config.reader import YamlReader


@dataclass(frozen=True)
class OperGroup:
    name: str
    device: str
    watch: tuple[str, ...]
    down_links: tuple[str, ...]
    required_up_uplinks: int = 1
    hold_down_ms: int = 0
    hold_up_ms: int = 5000
    require_bgp: bool = True
    wait_for_evpn: bool = False    # re-enable only once the segments' EVPN type-1/4 routes are back at the spines (BMP)
    # Before a disable, what if the client's traffic on the down-links would overload the segment's other
    # members or their leaves' uplinks: warn (act, and say so: a blackhole is worse than congestion),
    # propose (record the commands without applying them) or block (hold the decision).
    overload: str = "warn"
    # After a change, how long the outcome is watched (ms; default: two counter intervals and one flow
    # window), and whether a change that made things worse is undone (default: in enforce mode only).
    verify_ms: int | None = None
    rollback: bool | None = None
    rollback_hold_ms: int = 600_000   # after a rollback the group holds this long, or until cleared


OVERLOAD_ACTIONS = ("warn", "propose", "block")


HOLD_TIMER_MAX_MS = {"hold_down_ms": 600_000, "hold_up_ms": 3_600_000, "verify_ms": 600_000,
                     "rollback_hold_ms": 86_400_000}


def read_oper_groups(r: YamlReader, node, fabric: Fabric, broken: set[str] = frozenset()) -> tuple[OperGroup, ...]:
    groups = []
    names = set()
    for i, gnode in enumerate(r.seq(node, "oper_groups") if node is not None else []):
        path = f"oper_groups[{i}]"
        keys = {"name", "device", "watch", "down_links", "required_up_uplinks", "hold_down_ms", "hold_up_ms", "require_bgp",
                "wait_for_evpn", "overload", "verify_ms", "rollback", "rollback_hold_ms"}
        gf = r.mapping(gnode, path, keys, {"name", "device", "watch", "down_links"})
        if gf is None or not {"name", "device", "watch", "down_links"} <= set(gf):
            continue
        name = r.string(gf["name"], f"{path}.name")
        device = r.string(gf["device"], f"{path}.device")
        watch = r.strings(gf["watch"], f"{path}.watch")
        down = r.strings(gf["down_links"], f"{path}.down_links")
        opts = {}
        for key in ("required_up_uplinks", "hold_down_ms", "hold_up_ms", "verify_ms", "rollback_hold_ms"):
            if key in gf:
                opts[key] = r.integer(gf[key], f"{path}.{key}", minimum=0 if key != "required_up_uplinks" else 1)
        for key, most in HOLD_TIMER_MAX_MS.items():        # seconds typed where milliseconds are meant
            if (opts.get(key) or 0) > most:
                r.problem(f"{path}.{key}", gf[key], f"a hold timer is in milliseconds, at most {most} "
                                                    f"({most // 60_000} min), got {opts[key]}")
        for key in ("require_bgp", "wait_for_evpn", "rollback"):
            if key in gf:
                opts[key] = r.boolean(gf[key], f"{path}.{key}")
        if "overload" in gf:
            opts["overload"] = r.choice(gf["overload"], f"{path}.overload", OVERLOAD_ACTIONS)
        if name in names:
            r.problem(f"{path}.name", gf["name"], f"oper-group {name!r} is defined twice")
        names.add(name)
        try:
            dev = fabric.device(device) if device else None
        except KeyError:
            if device not in broken:
                r.problem(f"{path}.device", gf["device"], f"no device named {device!r} in fabric.devices")
            dev = None
        if dev is not None:
            for j, up in enumerate(watch):
                if up not in dev.uplinks:
                    r.problem(f"{path}.watch[{j}]", gf["watch"], f"{up!r} is not an uplink of {device} (its uplinks: {', '.join(dev.uplinks) or 'none'})")
            for j, link in enumerate(down):
                if link not in dev.interfaces:
                    r.problem(f"{path}.down_links[{j}]", gf["down_links"], f"{link!r} is not an interface of {device}")
            if opts.get("require_bgp", True) and dev.platform in NO_BGP_TELEMETRY:
                r.problem(f"{path}.require_bgp", gf.get("require_bgp", gnode),
                          f"{device} is a {dev.platform} device, which reports no BGP session over gNMI (its "
                          "management framework serves no BGP model): require_bgp: true would never find its uplinks "
                          "usable; say require_bgp: false")
            if opts.get("wait_for_evpn"):
                if not dev.router_id:
                    r.problem(f"{path}.wait_for_evpn", gf["wait_for_evpn"],
                              f"waiting for EVPN needs {device}'s router_id (its BGP identifier, as BMP names it)")
                if not any(dev.esi_of(link) for link in down):
                    r.problem(f"{path}.wait_for_evpn", gf["wait_for_evpn"],
                              f"no down-link of {name} is in an ethernet segment (a LAG with an esi)")
        req = opts.get("required_up_uplinks") or 1
        if watch and req > len(watch):
            r.problem(f"{path}.required_up_uplinks", gf.get("required_up_uplinks", gnode),
                      f"requires {req} uplinks up but watches only {len(watch)}")
        if name and device and watch and down:
            groups.append(OperGroup(name, device, watch, down, **{k: v for k, v in opts.items() if v is not None}))
        if opts.get("verify_ms") == 0:
            r.problem(f"{path}.verify_ms", gf["verify_ms"], "an outcome needs some time to be seen: above 0 ms")
    return tuple(groups)
