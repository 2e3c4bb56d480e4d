"""Credentials in the configuration: only where they live (an environment
variable or a file), read when used, so that `config check` works without
them and a printed configuration never holds one.

May import: the standard library, fabtel.config.reader.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import yaml

from fabtel.config.reader import YamlReader


class SecretError(Exception):
    """A credential named by the configuration cannot be read."""


@dataclass(frozen=True)
class SecretRef:
    """Where a credential lives: an environment variable or a file."""
    env: str | None = None
    file: str | None = None

    def resolve(self) -> str:
        if self.env:
            value = os.environ.get(self.env)
            if value is None:
                raise SecretError(f"environment variable {self.env} is not set")
            return value
        try:
            return Path(self.file).read_text().strip()
        except OSError as exc:
            raise SecretError(f"cannot read secret file {self.file}: {exc.strerror}") from None

    def __str__(self) -> str:
        return f"${self.env}" if self.env else f"file:{self.file}"


def resolve_secret(ref: "SecretRef | None") -> str | None:
    return ref.resolve() if ref is not None else None


def read_secret(r: YamlReader, fields: dict[str, yaml.Node], path: str, name: str) -> "SecretRef | None":
    """A credential named by `NAME_env` (an environment variable) or `NAME_file`.

    Only the reference is kept; the value is read when it is used, so that
    `config check` works on a machine without the secrets and the value never
    sits in a config object that might be printed."""
    env = r.string(fields[f"{name}_env"], f"{path}.{name}_env") if f"{name}_env" in fields else None
    file = r.string(fields[f"{name}_file"], f"{path}.{name}_file") if f"{name}_file" in fields else None
    if env and file:
        r.problem(f"{path}.{name}_env", fields[f"{name}_env"], f"give {name}_env or {name}_file, not both")
    return SecretRef(env=env, file=file) if (env or file) else None
