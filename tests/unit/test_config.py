"""`fabtel config check`: the example is valid; each case in cases/config/ is
the example with one mistake, and must exit 2 naming the problem at its line
(and, with `count`, listing exactly that many problems)."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from conftest import EXAMPLE, fabtel
from fabtel.config import ConfigError, load_config, parse_config

CASES = sorted((Path(__file__).parent.parent / "cases" / "config").glob("*.yaml"))


def test_example_is_valid():
    out = fabtel("config", "check", str(EXAMPLE))
    assert out.returncode == 0, out.stderr
    assert "5 devices" in out.stdout
    cfg = load_config(EXAMPLE)
    leaf1 = cfg.fabric.device("leaf1")
    assert leaf1.uplinks == ("ethernet-1/49", "ethernet-1/50")
    assert cfg.fabric.es_members("01:11:11:11:11:11:11:00:00:01") == [("leaf1", "lag1"), ("leaf2", "lag1")]
    assert [c.name for c in cfg.fabric.clients] == ["client1", "client2"]


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.stem)
def test_invalid_config_exits_2_and_names_the_problem(case, tmp_path):
    spec = yaml.safe_load(case.read_text())
    text = spec.get("content")
    if text is None:
        text = EXAMPLE.read_text()
        for old, new in spec["replace"]:
            assert old in text, f"{case.name}: the example no longer contains {old!r}"
            text = text.replace(old, new, 1)
    path = tmp_path / "fabric.yaml"
    path.write_text(text)
    out = fabtel("config", "check", str(path))
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    for expected in spec["expect"]:
        assert expected in out.stderr, f"{expected!r} not in {out.stderr!r}"
    if "count" in spec:                       # the root cause once, no cascade of follow-on problems
        listed = [line for line in out.stderr.splitlines() if line.startswith("  - ")]
        assert len(listed) == spec["count"], out.stderr


def test_unreadable_file_exits_2(tmp_path):
    out = fabtel("config", "check", str(tmp_path / "missing.yaml"))
    assert out.returncode == 2 and "cannot read the file" in out.stderr


def test_secrets_are_resolved_late_and_never_printed(monkeypatch, tmp_path):
    secret = tmp_path / "pw"
    secret.write_text("hunter2\n")
    text = EXAMPLE.read_text().replace("password_env: FABTEL_GNMI_PASSWORD", f"password_file: {secret}", 1)
    cfg = parse_config(text)
    spine1 = cfg.fabric.device("spine1")
    assert spine1.gnmi.password.resolve() == "hunter2"
    assert "hunter2" not in repr(cfg)
    monkeypatch.delenv("FABTEL_GNMI_USER", raising=False)
    from fabtel.config import SecretError
    with pytest.raises(SecretError, match="FABTEL_GNMI_USER is not set"):
        spine1.gnmi.username.resolve()


def test_every_problem_is_collected():
    text = EXAMPLE.read_text().replace("partitions: 4", "partitions: 0").replace("utilisation: 0.8", "utilisation: high")
    with pytest.raises(ConfigError) as err:
        parse_config(text)
    assert len(err.value.problems) == 2
