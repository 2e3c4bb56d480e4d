"""Scenario files (YAML): traffic, timed events and, for the demo, what the
pipeline is expected to do. Loading validates every key and names each
problem with its path and line, like the fabric configuration."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from fabtel.config import Config, ConfigError, YamlReader, compose

SCENARIO_DIR = Path(__file__).resolve().parent / "scenarios"


@dataclass(frozen=True)
class Traffic:
    src: str
    dst: str
    streams: int
    rate_bps: float                       # per stream (the mean, with skew)
    skew: float | None = None             # Pareto shape of the streams' rates (1.2: a few large, many small)
    elephants: int = 0                    # extra streams at elephant_factor x rate_bps
    elephant_factor: float = 10.0


@dataclass(frozen=True)
class Event:
    at_s: float
    device: str
    interfaces: tuple[str, ...]
    admin_state: str | None = None        # enable | disable
    link: str | None = None               # up | down (the cable, both ends)
    lacp_partner_state: int | None = None
    clear_lacp: bool = False


@dataclass(frozen=True)
class Expect:
    disabled: tuple[str, ...] = ()        # device:interface the remediation must disable
    enabled_again: tuple[str, ...] = ()   # ... and bring back after the hold-up time
    suppressed: tuple[str, ...] = ()      # devices whose disable must be suppressed
    no_action: bool = False               # no decision at all
    recovered: bool | None = None         # delivered back to offered after remediation
    miswired: tuple[str, ...] = ()        # device:interface the cabling check must report, far end wrong
    outcome: str | None = None            # the first remediation's verified, not_verified or worse
    rolled_back: tuple[str, ...] = ()     # devices whose change the worker must roll back
    proposed: tuple[str, ...] = ()        # device:interface the executor must record as proposed, not apply


@dataclass(frozen=True)
class Scenario:
    name: str
    duration_s: float
    traffic: tuple[Traffic, ...]
    events: tuple[Event, ...] = ()
    expect: Expect = field(default_factory=Expect)
    description: str = ""
    path: str = ""
    oper_group_overrides: dict = field(default_factory=dict)   # hold_down_ms / hold_up_ms for every group
    sampling_rate: int | None = None      # the agents' flow sampling (1 in N); the runner's default otherwise
    polarize: tuple[str, ...] = ()        # devices that hash with the previous stage's bits (hash polarization)
    swap_cables: tuple[tuple[str, str], ...] = ()   # pairs of device:port whose cables trade places in the lab
    set_latency_ms: float = 0             # how long the lab's devices take to commit a gNMI Set
    link_speeds: dict = field(default_factory=dict)   # device:port -> b/s, both ends of its link (the lab's optics)


def resolve_scenario(name: str | Path) -> Path:
    """A scenario file, or the name of one installed with fabtel (lab/scenarios/NAME.yaml)."""
    path = Path(name)
    installed = SCENARIO_DIR / f"{name}.yaml"         # a name, "mixed/leaf1-uplinks-down" for the mixed fabric's
    if path.exists() or path.suffix in (".yaml", ".yml") or not installed.exists():
        return path
    return installed


def load_scenario(path: str | Path, cfg: Config | None = None) -> Scenario:
    path = resolve_scenario(path)
    try:
        text = Path(path).read_text()
    except OSError as exc:
        known = ", ".join(str(p.relative_to(SCENARIO_DIR).with_suffix("")) for p in sorted(SCENARIO_DIR.rglob("*.yaml")))
        raise ConfigError([f"cannot read the file: {exc.strerror} (give a file, or one of: {known})"], str(path)) from None
    return parse_scenario(text, str(path), cfg)


def parse_scenario(text: str, source: str, cfg: Config | None = None) -> Scenario:
    loader, root = compose(text, source)
    try:
        r = YamlReader(loader)
        top = r.mapping(root, "", {"name", "description", "duration_s", "traffic", "events", "expect",
                                   "oper_group_overrides", "sampling_rate", "polarize", "swap_cables",
                                   "set_latency_ms", "link_speeds"},
                        {"name", "duration_s", "traffic"})
        if top is None:
            raise ConfigError(r.problems, source)
        name = r.string(top["name"], "name") if "name" in top else None
        duration = r.number(top["duration_s"], "duration_s") if "duration_s" in top else None
        desc = r.string(top["description"], "description") if "description" in top else ""
        traffic = []
        tnode = top.get("traffic")
        is_list = isinstance(tnode, yaml.SequenceNode)
        tnodes = r.seq(tnode, "traffic") if is_list else ([tnode] if tnode is not None else [])
        for i, tn in enumerate(tnodes):
            path = f"traffic[{i}]" if is_list else "traffic"
            tf = r.mapping(tn, path, {"from", "to", "streams", "rate_bps", "skew", "elephants", "elephant_factor"},
                           {"from", "to", "rate_bps"})
            if tf is None or not {"from", "to", "rate_bps"} <= set(tf):
                continue
            src, dst = r.string(tf["from"], f"{path}.from"), r.string(tf["to"], f"{path}.to")
            streams = r.integer(tf["streams"], f"{path}.streams", minimum=1) if "streams" in tf else 1
            rate = r.number(tf["rate_bps"], f"{path}.rate_bps")
            if cfg is not None:
                clients = {c.name for c in cfg.fabric.clients}
                for key, value in (("from", src), ("to", dst)):
                    if value is not None and value not in clients:
                        r.problem(f"{path}.{key}", tf[key], f"{value!r} is not a client of the fabric ({', '.join(sorted(clients))})")
            skew = r.number(tf["skew"], f"{path}.skew") if "skew" in tf else None
            if skew is not None and skew <= 1:
                r.problem(f"{path}.skew", tf["skew"], "a Pareto shape above 1 (1.2 is very skewed, 3 nearly even)")
            elephants = r.integer(tf["elephants"], f"{path}.elephants") if "elephants" in tf else 0
            factor = r.number(tf["elephant_factor"], f"{path}.elephant_factor") if "elephant_factor" in tf else 10.0
            if None not in (src, dst, streams, rate, elephants, factor):
                traffic.append(Traffic(src, dst, streams, rate, skew, elephants, factor))
        events = []
        for i, en in enumerate(r.seq(top["events"], "events") if "events" in top else []):
            ev = _event(r, en, f"events[{i}]", cfg, duration)
            if ev:
                events.append(ev)
        expect = Expect()
        if "expect" in top:
            ef = r.mapping(top["expect"], "expect", {"disabled", "enabled_again", "suppressed", "no_action", "recovered",
                                                     "miswired", "outcome", "rolled_back", "proposed"}) or {}
            expect = Expect(
                disabled=r.strings(ef["disabled"], "expect.disabled") if "disabled" in ef else (),
                enabled_again=r.strings(ef["enabled_again"], "expect.enabled_again") if "enabled_again" in ef else (),
                suppressed=r.strings(ef["suppressed"], "expect.suppressed") if "suppressed" in ef else (),
                no_action=bool(r.boolean(ef["no_action"], "expect.no_action")) if "no_action" in ef else False,
                recovered=r.boolean(ef["recovered"], "expect.recovered") if "recovered" in ef else None,
                miswired=r.strings(ef["miswired"], "expect.miswired") if "miswired" in ef else (),
                outcome=r.choice(ef["outcome"], "expect.outcome", ("verified", "not_verified", "worse"))
                if "outcome" in ef else None,
                rolled_back=r.strings(ef["rolled_back"], "expect.rolled_back") if "rolled_back" in ef else (),
                proposed=r.strings(ef["proposed"], "expect.proposed") if "proposed" in ef else ())
        overrides = {}
        if "oper_group_overrides" in top:
            of = r.mapping(top["oper_group_overrides"], "oper_group_overrides",
                           {"hold_down_ms", "hold_up_ms", "required_up_uplinks", "overload", "verify_ms", "rollback"}) or {}
            for k, v in of.items():
                path = f"oper_group_overrides.{k}"
                overrides[k] = (r.boolean(v, path) if k == "rollback" else
                                r.choice(v, path, ("warn", "propose", "block")) if k == "overload" else r.integer(v, path))
        sampling = r.integer(top["sampling_rate"], "sampling_rate", minimum=1) if "sampling_rate" in top else None
        polarize = r.strings(top["polarize"], "polarize") if "polarize" in top else ()
        swaps = []
        for i, pn in enumerate(r.seq(top["swap_cables"], "swap_cables") if "swap_cables" in top else []):
            pair = r.strings(pn, f"swap_cables[{i}]")
            if len(pair) != 2:
                r.problem(f"swap_cables[{i}]", pn, "a pair of device:port whose cables trade places")
                continue
            for port in pair:
                if cfg is not None and not any(port in (":".join(link.a), ":".join(link.b)) for link in cfg.fabric.links):
                    r.problem(f"swap_cables[{i}]", pn, f"{port!r} is no end of a link of the fabric")
            swaps.append(tuple(pair))
        latency = r.number(top["set_latency_ms"], "set_latency_ms") if "set_latency_ms" in top else 0
        speeds = {}
        if "link_speeds" in top:
            sf = top["link_speeds"]
            if isinstance(sf, yaml.MappingNode):
                for knode, vnode in sf.value:
                    port = str(loader.construct_object(knode))
                    speeds[port] = r.integer(vnode, f"link_speeds.{port}", minimum=1)
                    if cfg is not None and not any(port in (":".join(link.a), ":".join(link.b))
                                                   for link in cfg.fabric.links):
                        r.problem(f"link_speeds.{port}", knode, f"{port!r} is no end of a link of the fabric")
            else:
                r.problem("link_speeds", sf, "a mapping of device:port to b/s")
        if cfg is not None:
            names = {d.name for d in cfg.fabric.devices}
            for i, dev in enumerate(polarize):
                if dev not in names:
                    r.problem(f"polarize[{i}]", top["polarize"], f"no device named {dev!r}")
        if r.problems:
            raise ConfigError(r.problems, source)
        return Scenario(name, duration, tuple(traffic), tuple(sorted(events, key=lambda e: e.at_s)), expect, desc,
                        source, overrides, sampling, tuple(polarize), tuple(swaps), latency or 0, speeds)
    finally:
        loader.dispose()


def _event(r: YamlReader, node, path: str, cfg: Config | None, duration: float | None) -> Event | None:
    f = r.mapping(node, path, {"at_s", "device", "interfaces", "admin_state", "link", "lacp_partner_state",
                               "clear_lacp"}, {"at_s", "device", "interfaces"})
    if f is None or not {"at_s", "device", "interfaces"} <= set(f):
        return None
    at = r.number(f["at_s"], f"{path}.at_s")
    if at is not None and duration is not None and at > duration:
        r.problem(f"{path}.at_s", f["at_s"], f"at {at} s is after the end of the scenario ({duration} s)")
    device = r.string(f["device"], f"{path}.device")
    interfaces = r.strings(f["interfaces"], f"{path}.interfaces")
    admin = r.choice(f["admin_state"], f"{path}.admin_state", ("enable", "disable")) if "admin_state" in f else None
    link = r.choice(f["link"], f"{path}.link", ("up", "down")) if "link" in f else None
    lacp = r.integer(f["lacp_partner_state"], f"{path}.lacp_partner_state") if "lacp_partner_state" in f else None
    clear = bool(r.boolean(f["clear_lacp"], f"{path}.clear_lacp")) if "clear_lacp" in f else False
    if lacp is not None and lacp > 255:
        r.problem(f"{path}.lacp_partner_state", f["lacp_partner_state"], "an LACP state is one byte (0-255)")
    if sum(x is not None and x is not False for x in (admin, link, lacp, clear or None)) != 1:
        r.problem(path, node, "an event sets exactly one of admin_state, link, lacp_partner_state, clear_lacp")
    if cfg is not None and device is not None:
        try:
            dev = cfg.fabric.device(device)
            for i, intf in enumerate(interfaces):
                if intf not in dev.interfaces or any(lag.name == intf for lag in dev.lags):
                    r.problem(f"{path}.interfaces[{i}]", f["interfaces"], f"{device} has no physical interface {intf!r}")
        except KeyError:
            r.problem(f"{path}.device", f["device"], f"no device named {device!r}")
    if at is None or device is None:
        return None
    return Event(at, device, interfaces, admin, link, lacp, clear)


def seed_scenarios() -> list[Path]:
    return sorted(SCENARIO_DIR.glob("*.yaml"))
