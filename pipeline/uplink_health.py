"""Uplink health of a leaf. Pure.

An uplink can forward when its link is up and a BGP session is established
on it; we match sessions to uplinks by count (usable = min(links up,
sessions established)) because telemetry does not say which peer rides
which port. States: healthy, degraded (some uplinks lost, or the survivors
cannot carry the load), isolated (no uplink can forward) and unknown (no
telemetry from the device within stale_after_ms: never isolated on silence).
"""
from __future__ import annotations

from fabtel.config import Device, Thresholds
from fabtel.records import UplinkHealth
from fabtel.pipeline.fabric_view import DeviceView


def usable_uplinks(view: DeviceView, uplinks: tuple[str, ...], require_bgp: bool = True) -> tuple[int, int, list[str]]:
    """(links up, usable uplinks, names of the uplinks up) among `uplinks`.
    The one judgement of "can forward", for the health and the oper-groups: a
    link up counts when a BGP session is established for it, or, for a device
    that sends no BGP telemetry at all (or when BGP is not required), by itself."""
    up = [u for u in uplinks if view.interface(u).oper == "up"]
    established, _ = view.established()
    usable = min(len(up), established) if view.bgp and require_bgp else len(up)
    return len(up), usable, up


def is_stale(view: DeviceView, thresholds: Thresholds, now_ns: int) -> bool:
    return view.last_seen_ns == 0 or now_ns - view.last_seen_ns > thresholds.stale_after_ms * 1_000_000


def evaluate(view: DeviceView, device: Device, thresholds: Thresholds, now_ns: int) -> UplinkHealth:
    total = len(device.uplinks)
    links_up, usable, up_names = usable_uplinks(view, device.uplinks)
    established, _ = view.established()
    speeds = {u: view.interface(u).speed_bps or 0 for u in device.uplinks}
    capacity = int(sum(sorted((speeds[u] for u in up_names), reverse=True)[:usable]))
    # The load the uplinks must carry: what arrives on the access side.
    access = set(device.access) | {m for lag in device.lags for m in lag.members}
    load = sum(view.interface(a).in_bps for a in access)
    carries = load <= capacity * thresholds.utilisation
    newest = max((v.ts_ns for v in view.interfaces.values()), default=0)
    if is_stale(view, thresholds, now_ns):
        state, reason = "unknown", f"no telemetry from {device.name} for over {thresholds.stale_after_ms} ms"
    elif any(view.interface(u).oper is None for u in device.uplinks):
        missing = [u for u in device.uplinks if view.interface(u).oper is None]
        state, reason = "unknown", f"no state seen yet for {', '.join(missing)}"
    elif usable == 0:
        state = "isolated"
        reason = (f"no uplink can forward: {links_up} of {total} links up, {established} BGP sessions established")
    elif usable < total or not carries:
        state = "degraded"
        reason = (f"{usable} of {total} uplinks can forward" if usable < total else "all uplinks up") + \
                 ("" if carries else f"; load {load / 1e9:.2f} Gb/s exceeds {thresholds.utilisation:.0%} of {capacity / 1e9:.0f} Gb/s")
    else:
        state, reason = "healthy", f"{usable} of {total} uplinks can forward"
    return UplinkHealth(device.name, usable, total, established, capacity, load, carries, state, reason,
                        now_ns, newest)
