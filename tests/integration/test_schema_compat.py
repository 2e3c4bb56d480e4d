"""Schema evolution enforced: every schema in schemas/ against its version of
the last release (schemas/released/<version>/) under Avro's FULL rules, by
Apache Avro's own SchemaCompatibility (tests/java, Java 17). A deliberately
incompatible edit fails the check; a compatible one passes."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import java_tools

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ROOT / "schemas"


def last_release() -> Path:
    return max((p for p in (SCHEMAS / "released").iterdir() if p.is_dir()),
               key=lambda p: tuple(int(x) for x in p.name.split(".")))


def test_every_schema_is_full_compatible_with_the_last_release():
    out = java_tools.run("Compat", str(last_release()), str(SCHEMAS))
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    assert len(lines) == len(list(SCHEMAS.glob("*.avsc")))
    assert all(line.endswith(("FULL compatible", "added")) for line in lines)


def edited(tmp_path: Path, change) -> Path:
    work = tmp_path / "schemas"
    shutil.copytree(SCHEMAS, work, ignore=shutil.ignore_patterns("released", "*.py", "*.md", "__pycache__"))
    path = work / "interface_state.avsc"
    schema = json.loads(path.read_text())
    change(schema["fields"])
    path.write_text(json.dumps(schema))
    return work


def test_removing_a_field_without_a_default_fails(tmp_path):
    work = edited(tmp_path, lambda fields: fields.remove(next(f for f in fields if f["name"] == "device_ts_ns")))
    out = java_tools.run("Compat", str(last_release()), str(work))
    assert out.returncode == 1
    assert any(line.startswith("interface_state.avsc: INCOMPATIBLE") and "device_ts_ns" in line
               for line in out.stdout.splitlines()), out.stdout


def test_adding_a_field_with_a_default_passes(tmp_path):
    work = edited(tmp_path, lambda fields: fields.append(
        {"name": "vendor_note", "type": ["null", "string"], "default": None, "doc": "A test field."}))
    out = java_tools.run("Compat", str(last_release()), str(work))
    assert out.returncode == 0, out.stdout
    assert "interface_state.avsc: FULL compatible" in out.stdout


def test_a_type_change_fails(tmp_path):
    def to_string(fields):
        next(f for f in fields if f["name"] == "device_ts_ns")["type"] = "string"
    out = java_tools.run("Compat", str(last_release()), str(edited(tmp_path, to_string)))
    assert out.returncode == 1 and "interface_state.avsc: INCOMPATIBLE" in out.stdout
