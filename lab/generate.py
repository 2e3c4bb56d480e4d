"""Large fabrics for load tests: `--generate leaf-spine:spines=S,leaves=L,ports=P`.

Every leaf has one uplink per spine (ethernet-1/49...), P access ports, and
leaves are paired (1-2, 3-4, ...) into ESI-LAGs towards P dual-homed clients
per pair; each leaf gets an oper-group. gNMI targets listen on 127.0.0.1 from
port 28000, sFlow agent addresses come from 198.18.0.0/15."""
from __future__ import annotations

import re

from fabtel.config import parse_config

SPEC = re.compile(r"leaf-spine:spines=(\d+),leaves=(\d+),ports=(\d+)")


class GenerateError(ValueError):
    pass


def generate(spec: str, base_port: int = 28000) -> str:
    """YAML text of a generated fabric configuration."""
    m = SPEC.fullmatch(spec.strip())
    if not m:
        raise GenerateError(f"expected leaf-spine:spines=S,leaves=L,ports=P, got {spec!r}")
    spines, leaves, ports = map(int, m.groups())
    if not (1 <= spines <= 32 and 2 <= leaves <= 512 and leaves % 2 == 0 and 1 <= ports <= 48):
        raise GenerateError("spines 1-32, leaves an even number 2-512, ports 1-48")
    lines = ["fabric:", "  devices:"]
    port = base_port
    for s in range(1, spines + 1):
        lines.append(f"    - name: spine{s}\n      role: spine\n      gnmi: {{address: \"127.0.0.1:{port}\", insecure: true}}\n"
                     f"      sflow_agent: 198.18.{s // 250}.{s % 250 + 1}\n"
                     f"      fabric_ports: [{', '.join(f'ethernet-1/{i}' for i in range(1, leaves + 1))}]")
        port += 1
    for leaf in range(1, leaves + 1):
        pair = (leaf + 1) // 2
        uplinks = ", ".join(f"ethernet-1/{48 + s}" for s in range(1, spines + 1))
        access = [f"ethernet-1/{p}" for p in range(1, ports + 1)]
        lags = ", ".join(
            f"{{name: lag{p}, members: [ethernet-1/{p}], esi: \"01:00:00:00:{pair >> 8:02x}:{pair & 255:02x}:00:00:00:{p:02x}\"}}"
            for p in range(1, ports + 1))
        lines.append(f"    - name: leaf{leaf}\n      role: leaf\n      gnmi: {{address: \"127.0.0.1:{port}\", insecure: true}}\n"
                     f"      sflow_agent: 198.19.{leaf // 250}.{leaf % 250 + 1}\n"
                     f"      uplinks: [{uplinks}]\n      access: [{', '.join(access)}]\n      lags: [{lags}]")
        port += 1
    lines.append("  clients:")
    for pair in range(1, leaves // 2 + 1):
        for p in range(1, ports + 1):
            lines.append(f"    - {{name: c{pair}-{p}, interfaces: [eth1, eth2], bond: [eth1, eth2]}}")
    lines.append("  links:")
    for leaf in range(1, leaves + 1):
        for s in range(1, spines + 1):
            lines.append(f"    - {{a: \"leaf{leaf}:ethernet-1/{48 + s}\", b: \"spine{s}:ethernet-1/{leaf}\"}}")
        pair, side = (leaf + 1) // 2, 1 if leaf % 2 else 2
        for p in range(1, ports + 1):
            lines.append(f"    - {{a: \"c{pair}-{p}:eth{side}\", b: \"leaf{leaf}:ethernet-1/{p}\"}}")
    lines.append("oper_groups:")
    for leaf in range(1, leaves + 1):
        uplinks = ", ".join(f"ethernet-1/{48 + s}" for s in range(1, spines + 1))
        access = ", ".join(f"ethernet-1/{p}" for p in range(1, ports + 1))
        lines.append(f"  - {{name: og-leaf{leaf}, device: leaf{leaf}, watch: [{uplinks}], down_links: [{access}]}}")
    text = "\n".join(lines) + "\n"
    parse_config(text, f"generated {spec}")      # a generated fabric must be valid
    return text
