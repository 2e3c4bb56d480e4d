"""`fabtel lab run`: builds the fabric from the configuration, starts a gNMI
target per device, then advances the traffic model in real time, applies the
scenario's events at their times, sends sFlow from every device's agent, and
finally writes the ground truth (one JSON line per second)."""
from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path

from fabtel.config import Config, SecretError
from fabtel.lab.gnmi_target import DeviceTarget
from fabtel.lab.model import LabFabric
from fabtel.lab.scenario import Scenario
from fabtel.lab.sflow_agent import SflowAgent, SflowSender

log = logging.getLogger("fabtel.lab")
DEFAULT_SAMPLING = 256          # 1 in N, when neither the caller nor the scenario says


class LabRunner:
    def __init__(self, cfg: Config, scenario: Scenario | None = None, sflow_to: str | None = None,
                 tick_s: float = 0.1, counter_interval_s: float = 1.0, sampling_rate: int | None = None,
                 bgp_establish_s: float = 3.0, with_gnmi: bool = True):
        self.cfg, self.scenario = cfg, scenario
        self.fabric = LabFabric(cfg, bgp_establish_s)
        self.tick_s, self.counter_interval_s = tick_s, counter_interval_s
        for t in (scenario.traffic if scenario else ()):
            self.fabric.add_flows(t.src, t.dst, t.streams, t.rate_bps, skew=t.skew, elephants=t.elephants,
                                  elephant_factor=t.elephant_factor)
        if scenario:
            self.fabric.polarized = set(scenario.polarize)
            for a, b in scenario.swap_cables:        # miswired from the start: the lab's cabling, not the config's
                self.fabric.swap_cables(a, b)
            self.fabric.set_latency_ns = int(scenario.set_latency_ms * 1e6)
            for port, bps in scenario.link_speeds.items():
                device, name = port.split(":", 1)
                p = self.fabric.nodes[device].ports[name]
                p.speed_bps = bps
                if p.peer is not None:
                    p.peer.speed_bps = bps
            sampling_rate = sampling_rate or scenario.sampling_rate       # an explicit rate wins over the scenario's
        self.targets: dict[str, DeviceTarget] = {}
        if with_gnmi:
            for dev in cfg.fabric.devices:
                if dev.gnmi:
                    self.targets[dev.name] = DeviceTarget(self.fabric, self.fabric.nodes[dev.name], dev.gnmi.address,
                                                          _credentials(dev.gnmi))
        self.sender = SflowSender(sflow_to) if sflow_to else None
        self.agents = [SflowAgent(self.fabric, self.fabric.nodes[d.name], d.sflow_agent, sampling_rate or DEFAULT_SAMPLING)
                       for d in cfg.fabric.devices if d.sflow_agent]
        self.pending = list(scenario.events) if scenario else []
        self.applied: list[dict] = []

    # ------------------------------------------------------------ lifecycle

    def start(self) -> None:
        started = []
        for target in self.targets.values():
            try:
                target.start()
            except OSError:
                for t in started:                # nothing left listening behind the error
                    t.stop()
                raise
            started.append(target)
        self.fabric.begin(time.time_ns())
        log.info("lab: %d devices, %d gNMI targets, %d flows%s", len(self.fabric.nodes) - len(self.cfg.fabric.clients),
                 len(self.targets), len(self.fabric.flows),
                 f", sFlow to {self.sender.addr[0]}:{self.sender.addr[1]}" if self.sender else "")

    def stop(self) -> None:
        for target in self.targets.values():
            target.stop()

    def elapsed_s(self) -> float:
        return (time.time_ns() - self.fabric.start_ns) / 1e9

    def run(self, stop: threading.Event | None = None, duration_s: float | None = None,
            progress=None) -> None:
        """Advance in real time until the scenario's end (or `stop`)."""
        stop = stop or threading.Event()
        duration = duration_s if duration_s is not None else (self.scenario.duration_s if self.scenario else None)
        next_tick = time.monotonic()
        next_counters = next_tick
        next_progress = next_tick + 5
        while not stop.is_set():
            now = time.time_ns()
            elapsed = (now - self.fabric.start_ns) / 1e9
            if duration is not None and elapsed >= duration:
                self.fabric.advance_to(self.fabric.start_ns + int(duration * 1e9))
                break
            self._apply_events(elapsed)
            self.fabric.advance_to(now)
            self.fabric.advance_bgp(now)
            if self.sender:
                self._send_flow_samples()
                if time.monotonic() >= next_counters:
                    for agent in self.agents:
                        self.sender.send(agent.datagrams(agent.counter_samples()))
                    next_counters += self.counter_interval_s
            if progress and time.monotonic() >= next_progress:
                progress(self.summary_line())
                next_progress += 5
            next_tick += self.tick_s
            # wake at the next tick, or at the next event's own time if it comes first
            until_event = (self.pending[0].at_s - self.elapsed_s()) if self.pending else self.tick_s
            stop.wait(max(0.0, min(next_tick - time.monotonic(), until_event)))

    def simulate(self, duration_s: float | None = None, sflow=None) -> None:
        """Run the scenario on a virtual clock, as fast as the model goes (no
        gNMI): the ground truth of a 40 s scenario in a blink. With `sflow`,
        a callable(datagram, ts_ns), the agents' datagrams go to it on the same
        clock (flow samples every tick, counters every counter interval)."""
        duration = duration_s if duration_s is not None else self.scenario.duration_s
        steps = int(round(duration / self.tick_s))
        next_counters = 0.0
        self.fabric.begin(self.fabric.start_ns)
        for i in range(1, steps + 1):
            now = self.fabric.start_ns + int(i * self.tick_s * 1e9)
            self._apply_events(i * self.tick_s)
            self.fabric.advance_to(now)
            self.fabric.advance_bgp(now)
            arrivals = self.fabric.take_arrivals()
            if sflow is None:
                continue
            for agent in self.agents:
                for d in agent.datagrams(agent.flow_samples(arrivals)):
                    sflow(d, now - 1)        # in the same second as the traffic it samples
            if i * self.tick_s >= next_counters:
                for agent in self.agents:
                    for d in agent.datagrams(agent.counter_samples()):
                        sflow(d, now - 1)
                next_counters += self.counter_interval_s

    def _apply_events(self, elapsed: float) -> None:
        """The scenario's events due by `elapsed`, each at its own time exactly."""
        while self.pending and self.pending[0].at_s <= elapsed:
            ev = self.pending.pop(0)
            now = self.fabric.start_ns + int(round(ev.at_s * 1e9))
            for intf in ev.interfaces:
                if ev.admin_state:
                    self.fabric.set_admin(ev.device, intf, ev.admin_state == "enable", now)
                elif ev.link:
                    self.fabric.set_carrier(ev.device, intf, ev.link == "up", now)
                else:
                    self.fabric.set_partner_state(ev.device, intf, None if ev.clear_lacp else ev.lacp_partner_state, now)
            record = {"at_ms": round((now - self.fabric.start_ns) / 1e6), "ts_ns": now, "device": ev.device,
                      "interfaces": list(ev.interfaces), "admin_state": ev.admin_state, "link": ev.link,
                      "lacp_partner_state": ev.lacp_partner_state}
            self.applied.append(record)
            log.info("lab event at %.1f s: %s %s %s", elapsed, ev.device, ",".join(ev.interfaces),
                     ev.admin_state or (f"link {ev.link}" if ev.link else f"lacp partner {ev.lacp_partner_state}"))

    def _send_flow_samples(self) -> None:
        arrivals = self.fabric.take_arrivals()
        for agent in self.agents:
            samples = agent.flow_samples(arrivals)
            if samples:
                self.sender.send(agent.datagrams(samples))

    # ------------------------------------------------------------ output

    def summary_line(self) -> str:
        truth = self.fabric.ground_truth()
        off = sum(s["offered_bytes"] for s in truth)
        bh = sum(s["blackholed_bytes"] for s in truth)
        return (f"lab t={self.elapsed_s():.0f}s offered={off} B delivered={off - bh} B blackholed={bh} B"
                + (f" sflow datagrams={self.sender.sent}" if self.sender else ""))

    def write_ground_truth(self, path: str | Path) -> None:
        """One line per second, then one line per state change at its own time."""
        with open(path, "w") as f:
            for line in self.fabric.ground_truth():
                f.write(json.dumps(line) + "\n")
            for change in self.fabric.changes:
                f.write(json.dumps({"change": change}) + "\n")


def _credentials(target) -> tuple[str, str] | None:
    """The lab enforces a device's credentials when the environment has them."""
    try:
        user = target.username if isinstance(target.username, str) else (target.username.resolve() if target.username else None)
        password = target.password.resolve() if target.password else None
    except SecretError:
        return None
    return (user, password) if user and password else None
