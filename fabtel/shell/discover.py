"""`fabtel discover --config SEED.yaml`: a fabric configuration written
from what the devices report (fabtel.discovery; the devices read by
fabtel.connectors.gnmi.discover). The seed names the devices to ask:

    discover:
      targets:                            # one per device: its gNMI address, and any gnmi setting of its own
        - {address: "10.0.0.11:57400"}
      gnmi: {username_env: FABTEL_GNMI_USER, password_env: FABTEL_GNMI_PASSWORD, tls_ca: /etc/fabtel/ca.pem}
      roles: {spine: "^spine", leaf: "^leaf"}   # a regular expression on the host name per role
      platform: auto                      # or srlinux, openconfig, eos, junos, sonic for every target
    kafka: {...}                          # every other section is copied to the output as it is

The output starts with what could not be inferred (as comments), then the
seed's other sections, `fabric` and an `oper_groups` proposal; it passes
`fabtel config check` (checked before it is written).

May import: the standard library, yaml, fabtel.config, fabtel.discovery, fabtel.connectors.gnmi.discover.
"""
from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml

from fabtel.config import PLATFORMS, ConfigError, YamlReader, compose, parse_config
from fabtel.config.devices import read_gnmi_target

GNMI_KEYS = ("username", "username_env", "username_file", "password_env", "password_file", "insecure", "tls_ca",
             "tls_cert", "tls_key", "skip_verify", "target")


def read_seed(text: str, source: str):
    """(targets [(GnmiTarget, its gnmi settings as a dict)], roles, platform or None, the other sections)."""
    loader, root = compose(text, source)
    try:
        r = YamlReader(loader)
        top = r.mapping(root, "", set(yaml.safe_load(text) or {}), {"discover"}) or {}
        d = r.mapping(top["discover"], "discover", {"targets", "gnmi", "roles", "platform"}, {"targets"}) \
            if "discover" in top else None
        if d is None:
            raise ConfigError(r.problems, source)
        defaults = {}
        if "gnmi" in d:
            defaults = loader.construct_object(d["gnmi"], deep=True) if isinstance(d["gnmi"], yaml.MappingNode) else {}
            unknown = sorted(set(defaults) - set(GNMI_KEYS))
            if unknown or not isinstance(d["gnmi"], yaml.MappingNode):
                r.problem("discover.gnmi", d["gnmi"], f"gnmi settings are {', '.join(GNMI_KEYS)}"
                          + (f" (unknown: {', '.join(unknown)})" if unknown else ""))
        targets = []
        for i, node in enumerate(r.seq(d["targets"], "discover.targets")):
            own = loader.construct_object(node, deep=True) if isinstance(node, yaml.MappingNode) else {}
            merged = {**defaults, **own}
            target = read_gnmi_target(r, _node(merged), f"discover.targets[{i}]")
            if target is not None:
                targets.append((target, {"address": merged.pop("address", None), **merged}))
        roles = {}
        if "roles" in d:
            roles = loader.construct_object(d["roles"], deep=True) if isinstance(d["roles"], yaml.MappingNode) else {}
            for role in roles:
                if role not in ("leaf", "spine", "border"):
                    r.problem(f"discover.roles.{role}", d["roles"], "a role is leaf, spine or border")
        plat = r.string(d["platform"], "discover.platform") if "platform" in d else "auto"
        if plat not in ("auto", *PLATFORMS):
            r.problem("discover.platform", d["platform"], f"auto or one of {', '.join(PLATFORMS)}")
        if r.problems:
            raise ConfigError(r.problems, source)
        rest = {k: v for k, v in (yaml.safe_load(text) or {}).items() if k != "discover"}
        return targets, roles, None if plat == "auto" else plat, rest
    finally:
        loader.dispose()


def _node(value: dict) -> yaml.Node:
    return yaml.compose(yaml.safe_dump(value))


def run(args) -> int:
    from fabtel.connectors.gnmi.discover import DiscoveryError, discover_device
    from fabtel.discovery import build_fabric
    source = args.config
    try:
        text = Path(source).read_text()
    except OSError as exc:
        raise ConfigError([f"cannot read the seed: {exc.strerror}"], source) from None
    targets, roles, plat, rest = read_seed(text, source)
    for rule in args.role or ():
        role, _, pattern = rule.partition("=")
        if role not in ("leaf", "spine", "border") or not pattern:
            print(f"fabtel discover: --role takes ROLE=REGEX with ROLE leaf, spine or border, got {rule!r}",
                  file=sys.stderr)
            return 2
        roles[role] = pattern
    print(f"discover: asking {len(targets)} device(s)", file=sys.stderr)
    facts, failed = [], []
    with ThreadPoolExecutor(max_workers=min(16, len(targets) or 1)) as pool:
        for target, result in zip(targets, pool.map(lambda t: _try(discover_device, DiscoveryError, t[0], plat),
                                                    targets)):
            (failed if isinstance(result, str) else facts).append(result)
    for reason in failed:
        print(f"discover: {reason}", file=sys.stderr)
    found = build_fabric(facts, {t.address: settings for t, settings in targets}, roles)
    notes = [f"could not read: {reason}" for reason in failed] + found.notes
    out = _render(rest, found, notes)
    try:
        cfg = parse_config(out, args.out or "<discovered>")
    except ConfigError as exc:
        print("discover: the configuration written does not pass config check:\n  " + "\n  ".join(exc.problems),
              file=sys.stderr)
        code = 1
    else:
        code = 0 if not failed else 1
        print(f"discover: {len(cfg.fabric.devices)} devices, {len(cfg.fabric.clients)} clients, "
              f"{len(cfg.fabric.links)} links, {len(cfg.oper_groups)} oper-groups; {len(notes)} note(s)",
              file=sys.stderr)
    if args.out:
        Path(args.out).write_text(out)
        print(f"discover: written to {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(out)
    if args.intent:
        from fabtel.config import load_config
        from fabtel.discovery import cabling_differences
        intended = load_config(args.intent).fabric.links
        differences = cabling_differences(intended, found.fabric["links"])
        for line in differences:
            print(f"cabling: {line}", file=sys.stderr)
        print(f"cabling: {len(differences)} port(s) cabled otherwise than {args.intent} says", file=sys.stderr)
        code = code or (1 if differences else 0)
    return code


def _try(fn, error, target, plat):
    try:
        return fn(target, plat)
    except error as exc:
        return str(exc)
    except OSError as exc:
        return f"{target.address}: {exc}"


def _render(rest: dict, found, notes: list[str]) -> str:
    head = ["# Written by `fabtel discover` from what the devices report."]
    head += [f"# NOTE {n}" for n in notes] or ["# Everything was read off the devices."]
    body = dict(rest)
    body["fabric"] = found.fabric
    if found.oper_groups:
        body["oper_groups"] = found.oper_groups
    return "\n".join(head) + "\n" + yaml.dump(body, Dumper=_Plain, sort_keys=False, width=120)


class _Plain(yaml.SafeDumper):
    """No anchors: a leaf's uplinks are its oper-group's watch list too, written out twice."""

    def ignore_aliases(self, data) -> bool:
        return True
