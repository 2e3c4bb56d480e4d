"""tshark as an independent BMP decoder: the routes of each BMP message of a
capture, in a canonical form that fabtel's records are compared with."""
from __future__ import annotations

import ipaddress
import json
import re
import subprocess
from pathlib import Path

from fabtel.connectors.bmp.nlri import family, rd_text

PREFIX_KEYS = {"bgp.nlri_prefix": "announce", "bgp.withdrawn_prefix": "withdraw",
               "bgp.mp_reach_nlri_ipv4_prefix": "announce", "bgp.mp_unreach_nlri_ipv4_prefix": "withdraw",
               "bgp.mp_reach_nlri_ipv6_prefix": "announce", "bgp.mp_unreach_nlri_ipv6_prefix": "withdraw"}


# tshark 4.0 writes labeled and VPN IPv6 routes only as text lines, without fields
IPV6_LABELED = re.compile(r"^\s*(?:Path Id (\d+) )?Label Stack=([\d,]+) \((?:bottom|withdrawn)\)(?: RD=([^,]+),)? IPv6=(\S+)$")


WARNING = 0x00600000                 # tshark's expert severity: warnings and errors, not notes


def route_key(r) -> tuple:
    """The fields both decoders must agree on, from a fabtel Route or BmpRoute."""
    return (r.family, r.action, r.path_id, r.route_type, r.rd, r.esi, r.ethernet_tag, r.mac, r.ip, r.prefix,
            tuple(r.labels))


def mine(msg, tshark: dict) -> list[tuple]:
    """fabtel's routes of one message in tshark's terms (its label reading of VXLAN EVPN routes included)."""
    keys = []
    for r in (msg.bgp.routes if msg.bgp else []):
        k = route_key(r)
        if r.family == "evpn" and tshark["evpn_vni_as_label"] and r.route_type in (1, 2):
            k = k[:-1] + (tuple(x >> 4 for x in r.labels),)
        keys.append(k)
    return sorted(keys, key=repr)


def _get(pairs, key, default=None):
    return next((v for k, v in pairs if k == key), default)


def _labels(text: str) -> list[int]:
    return [int(x) for x in text.replace("(bottom)", "").replace("(withdrawn)", "").strip().split(",") if x.strip()]


def _prefix_route(pairs, fam: str, action: str, path_id) -> tuple:
    key = next(k for k, _ in pairs if k in PREFIX_KEYS)
    addr = ipaddress.ip_address(_get(pairs, key))
    bits = int(_get(pairs, "bgp.prefix_length", addr.max_prefixlen))
    labels = _labels(_get(pairs, "bgp.label_stack", ""))
    rd = _get(pairs, "bgp.rd")
    bits -= 24 * len(labels) + (64 if rd else 0)
    pid = _get(pairs, "bgp.nlri_path_id", path_id)
    return (fam, action, int(pid) if pid is not None else None, None, rd, None, None, None, None, f"{addr}/{bits}",
            tuple(labels))


def _evpn_route(pairs, action: str, path_id, state: dict) -> tuple:
    kind = int(_get(pairs, "bgp.evpn.nlri.rt"))
    rd = rd_text(bytes.fromhex(_get(pairs, "bgp.evpn.nlri.rd").replace(":", "")))
    esi = _get(pairs, "bgp.evpn.nlri.esi") if kind in (1, 2, 4, 5) else None
    tag = _get(pairs, "bgp.evpn.nlri.etag")
    mac = _get(pairs, "bgp.evpn.nlri.mac_addr")
    ip = _get(pairs, "bgp.evpn.nlri.ip.addr") or _get(pairs, "bgp.evpn.nlri.ipv6.addr")
    prefix = None
    if kind == 5:
        prefix = f"{ip}/{_get(pairs, 'bgp.evpn.nlri.prefix_len')}"
        gw = _get(pairs, "bgp.evpn.nlri.ipv4.gtw_addr") or _get(pairs, "bgp.evpn.nlri.ipv6.gtw_addr")
        ip = None if gw in ("0.0.0.0", "::") else gw
    labels = [int(v) for k, v in pairs if k in ("bgp.evpn.nlri.vni", "bgp.evpn.nlri.mpls_ls1", "bgp.evpn.nlri.mpls_ls2")]
    if any(k.startswith("bgp.evpn.nlri.mpls_ls") for k, _ in pairs):
        state["mpls_labels"] = True
    raw = _get(pairs, "bgp.update.path_attribute.mpls_label")          # type 5 over MPLS: the raw 24 bits
    if raw is not None:
        labels = [int(_get(raw, "bgp.update.path_attribute.mpls_label_value")) >> 4]
    return ("evpn", action, int(path_id) if path_id is not None else None, kind, rd, esi,
            int(tag) if tag is not None else None, mac, ip, prefix, tuple(labels))


def _walk(pairs, fam: str | None, action: str | None, out: list, state: dict) -> None:
    afi = _get(pairs, "bgp.update.path_attribute.mp_reach_nlri.afi") or _get(pairs, "bgp.update.path_attribute.mp_unreach_nlri.afi")
    if afi is not None:
        safi = _get(pairs, "bgp.update.path_attribute.mp_reach_nlri.safi") or _get(pairs, "bgp.update.path_attribute.mp_unreach_nlri.safi")
        fam = family(int(afi), int(safi))
    if any(k in PREFIX_KEYS for k, _ in pairs):
        out.append(_prefix_route(pairs, fam or "ipv4-unicast", PREFIX_KEYS[next(k for k, _ in pairs if k in PREFIX_KEYS)],
                                 state.pop("path_id", None)))
        return
    for k, v in pairs:
        if k == "bgp.ext_com.tunnel_type":
            state["vxlan"] = int(v) in (8, 9, 12)
        elif k == "bgp.nlri_path_id":
            state["path_id"] = v
        elif k == "bgp.evpn.nlri":
            out.append(_evpn_route(v, action, state.pop("path_id", None), state))
        elif isinstance(v, list):
            sub_action = action
            if k.startswith("bgp.update.path_attribute.mp_reach_nlri"):
                sub_action = "announce"
            elif k.startswith("bgp.update.path_attribute.mp_unreach_nlri"):
                sub_action = "withdraw"
            _walk(v, fam, sub_action, out, state)


def _ipv6_labeled_routes(pcap: Path, port: int) -> list[list[tuple]]:
    """Per frame, the labeled/VPN IPv6 routes of tshark's text view."""
    out = subprocess.run(["tshark", "-r", str(pcap), "-d", f"tcp.port=={port},bmp", "-V"],
                         capture_output=True, text=True, check=True, timeout=300).stdout
    frames: list[list[tuple]] = []
    fam = action = None
    for line in out.splitlines():
        if line.startswith("Frame "):
            frames.append([])
        elif "Path Attribute - MP_REACH_NLRI" in line or "Path Attribute - MP_UNREACH_NLRI" in line:
            action = "announce" if "MP_REACH" in line else "withdraw"
        elif "Subsequent address family identifier (SAFI)" in line:
            fam = {"(4)": "ipv6-labeled-unicast", "(128)": "vpnv6"}.get(line.rsplit(" ", 1)[-1])
        elif (m := IPV6_LABELED.match(line)) and fam:
            pid, labels, rd, prefix = m.groups()
            frames[-1].append((fam, action, int(pid) if pid else None, None, rd, None, None, None, None, prefix,
                               tuple(_labels(labels))))
    return frames


def messages(pcap: Path, port: int) -> list[dict]:
    """Per BMP message: its type number, routes (canonical tuples) and whether tshark flagged it malformed."""
    out = subprocess.run(["tshark", "-r", str(pcap), "-d", f"tcp.port=={port},bmp", "-T", "json"],
                         capture_output=True, text=True, check=True, timeout=300).stdout
    frames = json.loads(out, object_pairs_hook=lambda pairs: pairs)
    text_routes = _ipv6_labeled_routes(pcap, port)
    result = []
    for n, frame in enumerate(frames):
        layers = _get(_get(frame, "_source"), "layers")
        malformed = any(k == "_ws.malformed" for k, _ in layers)
        for k, bmp in layers:
            if k != "bmp":
                continue
            routes: list = []
            state: dict = {}
            _walk(bmp, None, None, routes, state)
            routes += text_routes[n]
            severities = [int(x) for x in re.findall(r'"_ws.expert.severity", "(\d+)"', json.dumps(bmp))]
            result.append({"type": int(_get(bmp, "bmp.type")), "routes": routes, "malformed": malformed,
                           "expert": any(x >= WARNING for x in severities),
                           # tshark 4.0 reads EVPN label fields as VNIs only when the encapsulation
                           # community comes before MP_REACH_NLRI (FRR puts it after): MPLS labels then
                           "evpn_vni_as_label": bool(state.get("vxlan") and state.get("mpls_labels"))})
    return result
