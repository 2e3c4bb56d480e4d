"""The README stays true to the tree: every file or folder of the repository
it names exists, and its table of dashboards is the dashboards directory,
each under the title the file gives it."""
from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def tracked_top_level() -> set[str]:
    out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True)
    names = out.stdout.split() if out.returncode == 0 else [p.name for p in ROOT.iterdir()]
    return {n.split("/")[0] for n in names}


def test_every_repository_path_the_readme_names_exists():
    top = tracked_top_level()
    named = {p for p in re.findall(r"`([\w.\-/*]+)`", README) if "/" in p and p.split("/")[0] in top}
    assert len(named) > 30
    missing = [p for p in sorted(named) if not (list(ROOT.glob(p.rstrip("/"))) if "*" in p else (ROOT / p).exists())]
    assert missing == []


def test_the_dashboards_table_is_the_dashboards_directory():
    section = README[README.index("| dashboard | file | what it shows |"):]
    rows = re.findall(r"^\| (fabtel / [^|]+?) \| `([\w.-]+\.json)` \|", section, re.M)
    directory = ROOT / "deploy" / "k8s" / "base" / "dashboards"
    assert {f for _, f in rows} == {p.name for p in directory.glob("*.json")}
    for title, file in rows:
        assert json.loads((directory / file).read_text())["title"] == title, file


def test_every_package_of_the_tree_is_in_the_distribution():
    """pyproject.toml lists the packages (the design card's folders map onto
    fabtel.*): a new package left out would install without its code."""
    import tomllib
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed, dirs = set(project["packages"]), project["package-dir"]
    found = set()
    for package, folder in dirs.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder).parts
            if "tests" not in rel:
                found.add(".".join((package, *rel)))
    assert found <= listed, sorted(found - listed)
