"""The shared reader of fabtel's YAML configuration: the composed node tree
walked into values, every problem collected with its key path and line, so
that each section's reader (one module per top-level section) reports in the
same words, and `config check` lists every problem in one pass.

May import: the standard library and PyYAML.
"""
from __future__ import annotations

import re
from typing import Any, Callable

import yaml


class ConfigError(Exception):
    """The configuration is invalid; `problems` lists every one found."""

    def __init__(self, problems: list[str], source: str = "configuration"):
        self.problems = problems
        self.source = source
        super().__init__(f"{source}: " + "; ".join(problems))


def host_port_ok(text: str) -> bool:
    m = re.fullmatch(r"(.+):(\d{1,5})", text)
    return bool(m) and 1 <= int(m.group(2)) <= 65535


def child(node: yaml.Node | None, *keys: str) -> yaml.Node | None:
    """The node under `keys` of a mapping node, for a line to point at (None when absent)."""
    for key in keys:
        if not isinstance(node, yaml.MappingNode):
            return None
        node = next((v for k, v in node.value if getattr(k, "value", None) == key), None)
    return node


class YamlReader:
    """Walks the composed YAML node tree, turning nodes into values and
    collecting problems with their key path and line."""

    def __init__(self, loader: yaml.SafeLoader):
        self.loader = loader
        self.problems: list[str] = []

    def problem(self, path: str, node: yaml.Node | None, message: str) -> None:
        where = f" (line {node.start_mark.line + 1})" if node is not None else ""
        self.problems.append(f"{path or '<top>'}{where}: {message}")

    def mapping(self, node: yaml.Node, path: str, allowed: set[str],
                required: set[str] = frozenset()) -> dict[str, yaml.Node] | None:
        if not isinstance(node, yaml.MappingNode):
            self.problem(path, node, "expected a mapping")
            return None
        out: dict[str, yaml.Node] = {}
        for key_node, value_node in node.value:
            key = str(self.loader.construct_object(key_node))
            sub = f"{path}.{key}" if path else key
            if key not in allowed:
                hint = _close_match(key, allowed)
                self.problem(sub, key_node, "unknown key" + (f" (did you mean '{hint}'?)" if hint else ""))
                continue
            if key in out:
                self.problem(sub, key_node, "duplicate key")
            out[key] = value_node
        for key in sorted(required - set(out)):
            self.problem(f"{path}.{key}" if path else key, node, "missing required key")
        return out

    def seq(self, node: yaml.Node, path: str) -> list[yaml.Node]:
        if not isinstance(node, yaml.SequenceNode):
            self.problem(path, node, "expected a list")
            return []
        return list(node.value)

    def scalar(self, node: yaml.Node, path: str, kind: type | tuple, what: str) -> Any:
        if not isinstance(node, yaml.ScalarNode):
            self.problem(path, node, f"expected {what}")
            return None
        value = self.loader.construct_object(node)
        if isinstance(value, bool) and kind is not bool and bool not in (kind if isinstance(kind, tuple) else (kind,)):
            self.problem(path, node, f"expected {what}, got a boolean")
            return None
        if kind is float and isinstance(value, int):
            value = float(value)
        if not isinstance(value, kind):
            self.problem(path, node, f"expected {what}, got {type(value).__name__} {value!r}")
            return None
        return value

    def string(self, node, path):
        return self.scalar(node, path, str, "a string")

    def integer(self, node, path, minimum: int | None = 0):
        value = self.scalar(node, path, int, "an integer")
        if value is not None and minimum is not None and value < minimum:
            self.problem(path, node, f"must be >= {minimum}, got {value}")
            return None
        return value

    def number(self, node, path):
        value = self.scalar(node, path, float, "a number")
        if value is not None and value < 0:
            self.problem(path, node, f"must be >= 0, got {value}")
            return None
        return value

    def fraction(self, node, path):
        """A share of something, as a number above 0 and at most 1 (0.8, not 80)."""
        return self._number_where(node, path, lambda v: 0 < v <= 1, "a fraction is above 0 and at most 1 (0.8 for 80 %)")

    def ratio(self, node, path):
        """A factor over a mean or a baseline: 1 or more."""
        return self._number_where(node, path, lambda v: v >= 1, "a ratio over the mean is 1 or more")

    def _number_where(self, node, path, ok, rule: str):
        value = self.scalar(node, path, float, "a number")
        if value is not None and not ok(value):
            self.problem(path, node, f"{rule}, got {value:g}")
            return None
        return value

    def positive(self, node, path):
        """A count or a time that must not be zero (a window, a timer, a queue)."""
        return self.integer(node, path, minimum=1)

    def endpoint(self, node, path):
        """HOST:PORT with a port from 1 to 65535."""
        value = self.string(node, path)
        if value is not None and not host_port_ok(value):
            self.problem(path, node, f"expected HOST:PORT with a port from 1 to 65535, got {value!r}")
            return None
        return value

    def boolean(self, node, path):
        return self.scalar(node, path, bool, "true or false")

    def choice(self, node, path, options):
        value = self.string(node, path)
        if value is not None and value not in options:
            self.problem(path, node, f"must be one of {', '.join(options)}, got {value!r}")
            return None
        return value

    def strings(self, node, path) -> tuple[str, ...]:
        return tuple(v for i, n in enumerate(self.seq(node, path))
                     if (v := self.string(n, f"{path}[{i}]")) is not None)

    def section(self, node: yaml.Node | None, path: str, cls: type,
                readers: dict[str, Callable[[yaml.Node, str], Any]]):
        """A flat section whose keys map one to one onto a dataclass's fields."""
        if node is None:
            return cls()
        fields = self.mapping(node, path, set(readers)) or {}
        values = {}
        for key, sub in fields.items():
            value = readers[key](sub, f"{path}.{key}")
            if value is not None:
                values[key] = value
        return cls(**values)


def _close_match(key: str, allowed: set[str]) -> str | None:
    import difflib
    match = difflib.get_close_matches(key, sorted(allowed), n=1)
    return match[0] if match else None


def compose(text: str, source: str) -> tuple[yaml.SafeLoader, yaml.Node]:
    """The YAML node tree of `text` (for a YamlReader); ConfigError when the
    text is empty or not YAML. The caller disposes of the loader."""
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
    except yaml.YAMLError as exc:
        loader.dispose()
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError([f"not valid YAML{where}: {getattr(exc, 'problem', None) or exc}"], source) from None
    if root is None:
        loader.dispose()
        raise ConfigError(["the file is empty"], source)
    return loader, root
