"""A pyang plugin: the schema paths of the data nodes of the given modules,
one per line, as fabtel's path tables hold them (fabtel/platforms/paths/).

    pyang --plugindir tools -f fabtel-paths --paths-under /interface,/system/lldp \
          -p MODELS [--deviation-module DEV.yang ...] MODULE.yang ...

Each line: path (list keys in brackets, choices and cases left out, as gNMI
addresses them), type (a typedef resolved to its base, an identityref with
its base), config or state, the module that defines the node, and the file
it is in relative to --paths-root. Deviations given with --deviation-module
apply (a `not-supported` node is left out). Run by hand against a vendor's
published models; the tables it makes are committed, the models are not.
"""
from __future__ import annotations

import optparse
import os

from pyang import plugin

DATA = ("container", "list", "leaf", "leaf-list")


def pyang_plugin_init():
    plugin.register_plugin(PathsPlugin())


class PathsPlugin(plugin.PyangPlugin):
    def add_output_format(self, fmts):
        self.multiple_modules = True
        fmts["fabtel-paths"] = self

    def add_opts(self, optparser):
        optparser.add_options([
            optparse.make_option("--paths-under", dest="paths_under", default="",
                                 help="comma-separated path prefixes to keep (default: all)"),
            optparse.make_option("--paths-root", dest="paths_root", default=".",
                                 help="file names are written relative to this directory"),
        ])

    def emit(self, ctx, modules, fd):
        prefixes = [p for p in ctx.opts.paths_under.split(",") if p]
        rows = set()
        for module in modules:
            for child in getattr(module, "i_children", []):
                _walk(child, "", rows, ctx.opts.paths_root)
        for path, kind, config, mod, ref in sorted(rows):
            bare = _bare(path)
            if not prefixes or any(bare == p or bare.startswith(p.rstrip("/") + "/") for p in prefixes):
                fd.write(f"{path}\t{kind}\t{config}\t{mod}\t{ref}\n")


def _bare(path: str) -> str:
    out, depth = [], 0
    for ch in path:
        depth += ch == "["
        if not depth:
            out.append(ch)
        depth -= ch == "]"
    return "".join(out)


def _walk(stmt, parent: str, rows: set, root: str) -> None:
    if stmt.keyword in ("choice", "case"):
        for child in getattr(stmt, "i_children", []):
            _walk(child, parent, rows, root)
        return
    if stmt.keyword not in DATA:
        return
    path = f"{parent}/{stmt.arg}"
    if stmt.keyword == "list":
        keys = stmt.search_one("key")
        if keys is not None:
            path += "".join(f"[{k}]" for k in keys.arg.split())
    kind = _type(stmt) if stmt.keyword in ("leaf", "leaf-list") else stmt.keyword
    config = "config" if getattr(stmt, "i_config", True) else "state"
    ref = os.path.relpath(stmt.pos.ref, root) if stmt.pos and stmt.pos.ref else ""
    rows.add((path, kind, config, stmt.i_module.i_modulename, ref))
    for child in getattr(stmt, "i_children", []):
        _walk(child, path, rows, root)


def _type(stmt) -> str:
    t = stmt.search_one("type")
    seen = 0
    while t is not None and getattr(t, "i_typedef", None) is not None and seen < 20:
        t = t.i_typedef.search_one("type")
        seen += 1
    if t is None:
        return "?"
    if t.arg == "identityref":
        base = t.search_one("base")
        return f"identityref({base.arg})" if base is not None else "identityref"
    if t.arg == "union":
        return "union(" + ",".join(sorted({_leafless(u) for u in t.search("type")})) + ")"
    if t.arg == "leafref":
        return "leafref"
    if t.arg == "enumeration":
        return "enumeration(" + "|".join(e.arg for e in t.search("enum")) + ")"
    return t.arg


def _leafless(t) -> str:
    seen = 0
    while getattr(t, "i_typedef", None) is not None and seen < 20:
        t = t.i_typedef.search_one("type")
        seen += 1
    return t.arg


