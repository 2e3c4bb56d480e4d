"""The import contracts of fabtel's modules, read from the source (ast), as
CI checks them (tests/unit/test_import_contracts.py):

- rooms: fabtel's modules live in rooms ordered from the top (what a person
  runs) to the bottom (what everything shares): the shell (command line),
  the benchmarks, the demo, the lab, the local stack (broker, InfluxDB,
  registry, supervisor, ports), the pipeline, the connectors, the core. A
  module imports its own room and rooms below it, never above, so the room
  graph has no cycle; the pipeline reaches the connectors only from its Faust
  plumbing, and only their pure codecs;
- each module whose docstring has a "May import:" line imports nothing of
  fabtel beyond what it names;
- no import cycles between fabtel's modules.
"""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = {"fabtel": "fabtel", "pipeline": "fabtel.pipeline", "connectors": "fabtel.connectors", "lab": "fabtel.lab",
           "bench": "fabtel.bench", "schemas": "fabtel.schemas"}
# top first: a room imports only itself and the rooms after it
ROOMS = ("fabtel.shell", "fabtel.bench", "fabtel.demo", "fabtel.lab", "fabtel.localstack", "fabtel.pipeline",
         "fabtel.connectors", "core")
FAUST_PLUMBING = ("fabtel.pipeline.app", "fabtel.pipeline.agents")
CONNECTOR_CODECS = ("fabtel.connectors.sflow.normalize", "fabtel.connectors.sflow.codec")


@dataclass(frozen=True)
class Module:
    name: str
    path: Path
    imports: tuple[tuple[str, int], ...]      # (imported name, line), `from a import b` as a.b
    may_import: tuple[str, ...] | None         # the docstring's "May import:" names, or None


def layer(name: str) -> str:
    """The room of a module: the longest room prefix, else the core."""
    return next((room for room in ROOMS[:-1] if name == room or name.startswith(room + ".")), "core")


def _under(name: str, prefixes) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def read_module(path: Path, name: str, source: str | None = None) -> Module:
    tree = ast.parse(source if source is not None else path.read_text())
    imports = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imports += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from a import b`: module a.b, or attribute b of module a (resolved against the modules)
            imports += [(f"{node.module}.{a.name}", node.lineno) for a in node.names]
    doc = ast.get_docstring(tree) or ""
    m = re.search(r"May import:(.*?)(?:\n\s*\n|\Z)", doc, re.S)
    allowed = None
    if m:
        allowed = tuple(FOLDERS.get(x.split(".")[0], "") + x[len(x.split(".")[0]):] if x.split(".")[0] in FOLDERS
                        and not x.startswith("fabtel") else x
                        for x in (y.strip().rstrip(".") for y in re.split(r",|;|\band\b", m.group(1).replace("\n", " ")))
                        if x)
    return Module(name, path, tuple(i for i in imports if i[0].startswith("fabtel")), allowed)


def all_modules() -> dict[str, Module]:
    out = {}
    for folder, package in FOLDERS.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = list(path.relative_to(ROOT / folder).with_suffix("").parts)
            if parts and parts[-1] == "__init__":
                parts = parts[:-1]
            name = ".".join([package, *parts])
            out[name] = read_module(path, name)
    return out


def _known(name: str, modules) -> str | None:
    """The module an imported name refers to (a.b.c may be attribute c of module a.b)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def layer_problems(mod: Module, modules) -> list[str]:
    out = []
    me = layer(mod.name)
    for imported, line in mod.imports:
        target = _known(imported, modules) or imported
        there = layer(target)
        if there == me or mod.name == "fabtel.__main__":
            continue
        bad = None
        if ROOMS.index(there) < ROOMS.index(me):
            bad = f"the {me} room imports no room above it ({there})"
        elif me == "fabtel.pipeline" and there == "fabtel.connectors" and not (
                _under(mod.name, FAUST_PLUMBING) and _under(target, CONNECTOR_CODECS)):
            bad = "the pipeline reaches the connectors only from its Faust plumbing, and only their pure codecs"
        if bad:
            out.append(f"{mod.path.relative_to(ROOT)}:{line}: {mod.name} imports {target}: {bad}")
    return out


def room_graph(modules) -> dict[str, set[str]]:
    """room -> the rooms its modules import."""
    graph: dict[str, set[str]] = {room: set() for room in ROOMS}
    for name, mod in modules.items():
        if name == "fabtel.__main__":
            continue
        for imported, _ in mod.imports:
            target = _known(imported, modules) or imported
            if layer(target) != layer(name):
                graph[layer(name)].add(layer(target))
    return graph


def docstring_problems(mod: Module, modules) -> list[str]:
    if mod.may_import is None:
        return []
    out = []
    for imported, line in mod.imports:
        target = _known(imported, modules) or imported
        if target == mod.name or _under(target, (mod.name,)) or target in ("fabtel",):
            continue
        if not any(_under(target, (a,)) or _under(imported, (a,)) for a in mod.may_import):
            out.append(f"{mod.path.relative_to(ROOT)}:{line}: {mod.name} imports {target}, "
                       f"which its docstring's \"May import:\" does not name")
    return out


def cycles(modules) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan)."""
    return strongly_connected({n: {t for i, _ in m.imports if (t := _known(i, modules)) and t != n and t != "fabtel"}
                               for n, m in modules.items()})


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """The groups of more than one node that reach each other (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                out.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out
