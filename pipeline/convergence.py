"""Sibyl's convergence metrics for one failure or recovery event. Pure: the
Faust agent (pipeline/app.py) and `fabtel convergence analyze` both call
`measure`.

Definitions (README, "Convergence analytics"): for the routing messages an
event triggers, counted once at their receiver (BGP UPDATEs; keepalives,
OPENs and notifications are not counted):
- messaging load: their number and total size in bytes;
- locality L[i]: how many were received over links at distance i from the
  failed element (a link's distance is the hop distance of its nearer end;
  links touching the failed node, and the failed link itself, are at 0), and
  the blast radius sum(L[i] * (i + 1));
- state rounds and state changes: every node that detects the event starts in
  state 0; each message creates a new state of its receiver one round after
  the sender's latest state when it sent (the sender's latest state created
  by a message it received earlier); state rounds is the longest path
  (the deepest state), state changes the number of states, initial ones
  included.

May import: the standard library.
"""
from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

COUNTED_KINDS = frozenset({"update", "announce", "announcement", "withdraw", "withdrawal"})


class TopologyError(ValueError):
    """A topology file or an event name that does not make sense."""


@dataclass(frozen=True)
class Topology:
    links: tuple[tuple[str, str], ...]
    nodes: tuple[str, ...] = ()

    def __post_init__(self):
        names = dict.fromkeys(self.nodes)
        for a, b in self.links:
            names.update({a: None, b: None})
        object.__setattr__(self, "nodes", tuple(names))

    def neighbours(self, node: str) -> list[str]:
        return [b if a == node else a for a, b in self.links if node in (a, b)]

    def has_link(self, a: str, b: str) -> bool:
        return (a, b) in self.links or (b, a) in self.links

    def hops_from(self, sources: tuple[str, ...]) -> dict[str, int]:
        """Hop distance of every node from the nearest of `sources` (BFS)."""
        dist = {s: 0 for s in sources}
        queue = deque(sources)
        while queue:
            n = queue.popleft()
            for m in self.neighbours(n):
                if m not in dist:
                    dist[m] = dist[n] + 1
                    queue.append(m)
        return dist


@dataclass(frozen=True)
class Element:
    """What failed or recovered: a node, or a link between two nodes."""
    nodes: tuple[str, ...]

    @property
    def kind(self) -> str:
        return "node" if len(self.nodes) == 1 else "link"

    @property
    def name(self) -> str:
        return "--".join(self.nodes)


def parse_element(text: str, topology: Topology) -> Element:
    """NODE, or A--B for the link between A and B."""
    parts = tuple(p.strip() for p in text.split("--"))
    unknown = [p for p in parts if p not in topology.nodes]
    if unknown or len(parts) > 2 or not all(parts):
        raise TopologyError(f"{text!r}: not a node or a link (A--B) of the topology"
                            + (f"; unknown node {unknown[0]!r}" if unknown and unknown[0] else ""))
    if len(parts) == 2 and not topology.has_link(*parts):
        raise TopologyError(f"{text!r}: {parts[0]} and {parts[1]} are not linked in the topology")
    return Element(parts)


@dataclass(frozen=True)
class RoutingMessage:
    t: float            # when the receiver got it (any unit; ms in the JSON-lines logs)
    sender: str
    receiver: str
    kind: str
    size: int


@dataclass
class ConvergenceMetrics:
    event: str
    messages: int
    bytes: int
    locality: list[int]
    blast_radius: int
    state_rounds: int
    state_changes: int
    detectors: list[str] = field(default_factory=list)
    first_t: float | None = None
    last_t: float | None = None


def detectors_of(element: Element, topology: Topology) -> list[str]:
    """Who notices first: the failed node's neighbours, or both ends of the link."""
    if element.kind == "node":
        return topology.neighbours(element.nodes[0])
    return list(element.nodes)


def measure(topology: Topology, element: Element, messages: list[RoutingMessage],
            detectors: list[str] | None = None) -> ConvergenceMetrics:
    counted = sorted((m for m in messages if m.kind in COUNTED_KINDS), key=lambda m: m.t)
    detectors = detectors_of(element, topology) if detectors is None else detectors
    hops = topology.hops_from(element.nodes)
    locality: list[int] = []
    depth = {n: 0 for n in detectors}          # each node's latest state (its round)
    states = len(depth)
    for m in counted:
        d = min(hops.get(m.sender, 0), hops.get(m.receiver, 0))
        locality.extend([0] * (d + 1 - len(locality)))
        locality[d] += 1
        if m.sender not in depth:               # a node speaking before it heard anything starts a state of its own
            depth[m.sender] = 0
            states += 1
        depth[m.receiver] = depth[m.sender] + 1
        states += 1
    rounds = max(depth.values(), default=0)
    return ConvergenceMetrics(event=element.name, messages=len(counted), bytes=sum(m.size for m in counted), locality=locality,
                   blast_radius=sum(n * (i + 1) for i, n in enumerate(locality)), state_rounds=rounds,
                   state_changes=states, detectors=sorted(detectors),
                   first_t=counted[0].t if counted else None, last_t=counted[-1].t if counted else None)


# ------------------------------------------------------------ files

def load_topology(path: str | Path) -> Topology:
    """A JSON or YAML file with `links`: [[A, B], ...] or [{a: A, b: B}, ...] (and optional `nodes`)."""
    text = Path(path).read_text()
    try:
        data = json.loads(text)
    except ValueError:
        import yaml
        data = yaml.safe_load(text)
    if not isinstance(data, dict) or not isinstance(data.get("links"), list):
        raise TopologyError(f"{path}: expected a mapping with a list of links")
    links = []
    for i, link in enumerate(data["links"]):
        pair = (link.get("a"), link.get("b")) if isinstance(link, dict) else tuple(link) if isinstance(link, list) else ()
        if len(pair) != 2 or not all(isinstance(x, str) and x for x in pair):
            raise TopologyError(f"{path}: links[{i}] is not a pair of node names")
        links.append((pair[0].split(":")[0], pair[1].split(":")[0]))
    nodes = [n["name"] if isinstance(n, dict) else n for n in data.get("nodes", [])]
    return Topology(tuple(links), tuple(nodes))


def load_messages(path: str | Path) -> list[RoutingMessage]:
    """JSON lines with t, from, to, kind, bytes (one routing message each)."""
    out = []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                d = json.loads(line)
                out.append(RoutingMessage(float(d["t"]), str(d["from"]), str(d["to"]), str(d["kind"]).lower(),
                                          int(d.get("bytes", 0))))
            except (ValueError, KeyError, TypeError) as exc:
                raise TopologyError(f"{path}:{n}: not a routing message ({type(exc).__name__}: {exc})") from None
    return out
