"""The import contracts (tests/import_rules.py) hold for every module of
fabtel, and the checker catches a deliberate violation of each kind."""
from __future__ import annotations

import import_rules as rules


def test_every_module_keeps_its_layer_and_its_docstring_contract():
    modules = rules.all_modules()
    assert len(modules) > 80
    problems = [p for m in modules.values() for p in rules.layer_problems(m, modules) + rules.docstring_problems(m, modules)]
    assert problems == []


def test_there_are_no_import_cycles():
    assert rules.cycles(rules.all_modules()) == []


def test_the_room_graph_has_no_cycle_and_every_room_is_used():
    graph = rules.room_graph(rules.all_modules())
    assert rules.strongly_connected(graph) == []
    assert graph["fabtel.shell"] >= {"fabtel.lab", "fabtel.demo", "fabtel.bench", "fabtel.localstack"}
    assert "fabtel.localstack" in graph["fabtel.lab"] and "fabtel.localstack" in graph["fabtel.bench"]
    assert graph["fabtel.localstack"] <= {"core"}


def test_a_lab_that_imports_the_shell_fails_both_ways():
    modules = rules.all_modules()
    mod, modules = _with(modules, "fabtel.lab.frr.run", '"""Lab."""\nfrom fabtel.shell.cli import main\n')
    [problem] = rules.layer_problems(mod, modules)
    assert "fabtel.lab.frr.run imports fabtel.shell.cli: the fabtel.lab room imports no room above it" in problem
    assert any({"fabtel.lab", "fabtel.shell"} <= set(group) for group in rules.strongly_connected(rules.room_graph(modules)))
    mod, modules = _with(rules.all_modules(), "fabtel.localstack.stack", '"""Stack."""\nimport fabtel.demo.run\n')
    assert "the fabtel.localstack room imports no room above it (fabtel.demo)" in rules.layer_problems(mod, modules)[0]


def _with(modules, name: str, source: str):
    path = rules.ROOT / (name.replace("fabtel.pipeline", "pipeline").replace("fabtel.connectors", "connectors")
                         .replace(".", "/") + ".py")
    mod = rules.read_module(path, name, source)
    return mod, {**modules, name: mod}


def test_a_deliberate_layer_violation_fails():
    modules = rules.all_modules()
    mod, modules = _with(modules, "fabtel.pipeline.oper_group",
                         '"""Pure."""\nfrom fabtel.connectors.remediation.executor import Executor\n')
    [problem] = rules.layer_problems(mod, modules)
    assert "fabtel.pipeline.oper_group imports fabtel.connectors.remediation.executor" in problem
    mod, modules = _with(modules, "fabtel.records", '"""Records."""\nimport fabtel.shell.cli\n')
    assert "the core room imports no room above it (fabtel.shell)" in rules.layer_problems(mod, modules)[0]


def test_a_deliberate_docstring_violation_fails():
    modules = rules.all_modules()
    mod, modules = _with(modules, "fabtel.lacp", '"""LACP.\n\nMay import: the standard library.\n"""\nfrom fabtel.config import Lag\n')
    [problem] = rules.docstring_problems(mod, modules)
    assert 'fabtel.lacp imports fabtel.config, which its docstring\'s "May import:" does not name' in problem


def test_a_deliberate_cycle_fails():
    modules = rules.all_modules()
    _, modules = _with(modules, "fabtel.config", '"""Config."""\nfrom fabtel.kafka import tail\n')
    assert ["fabtel.config", "fabtel.kafka"] in rules.cycles(modules)


def test_the_worker_writes_every_record_it_sends_to_a_topic_it_holds():
    from fabtel.pipeline.topics import WRITTEN
    from fabtel.pipeline.worker import OUTPUTS
    from fabtel.topics import TOPIC_OF
    sent = {t.__name__ for t in OUTPUTS} | {"InterfaceCounters", "LagMemberState", "DeadLetter"}
    assert {TOPIC_OF[name] for name in sent} == set(WRITTEN)


def test_the_pipeline_and_the_configuration_stay_short():
    """The shapes issue 27 set: app.py only builds the app (under 80 lines),
    no pipeline function over 50 lines, no configuration module over 300."""
    import ast
    assert len((rules.ROOT / "pipeline" / "app.py").read_text().splitlines()) < 80
    for path in (rules.ROOT / "pipeline").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                assert node.end_lineno - node.lineno + 1 <= 50, f"{path.name}: {node.name}"
    for path in (rules.ROOT / "fabtel" / "config").glob("*.py"):
        assert len(path.read_text().splitlines()) <= 300, path.name
