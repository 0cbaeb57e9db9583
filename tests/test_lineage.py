"""Every DVC stage depends on exactly the code it runs: the import closure of its script inside
the package (and the package data those modules open), no more and no less."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import ROOT

from cooperbench.generation.pipeline.codeversion import import_closure

STAGES = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]


def declared_code(stage: dict) -> set[str]:
    body = stage.get("do", stage)
    return {d for d in body["deps"] if d.startswith("src/")}


@pytest.mark.parametrize("name", sorted(STAGES))
def test_stage_deps_are_the_scripts_import_closure(name):
    script = ROOT / "stages" / f"{name}.py"
    closure = {str(p.relative_to(ROOT)) for p in import_closure(script)}
    declared = declared_code(STAGES[name])
    assert declared == closure, (
        f"dvc.yaml stage {name}: missing {sorted(closure - declared)}, not run {sorted(declared - closure)}"
    )
    assert f"stages/{name}.py" in STAGES[name].get("do", STAGES[name])["deps"]


def test_a_stage_process_loads_only_its_closure():
    """What a stage imports at run time is within what dvc.yaml lists (the lazy package keeps
    the rest out): the split stage, say, never loads the sandbox or the agent."""
    probe = (
        "import sys;"
        "from cooperbench.generation.pipeline import split;"
        "print('\\n'.join(sorted(m for m in sys.modules if m.startswith('cooperbench'))))"
    )
    loaded = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    allowed = {".".join(Path(p).relative_to("src").with_suffix("").parts).removesuffix(".__init__")
               for p in declared_code(STAGES["split"]) if p.endswith(".py")}
    assert set(loaded) - {"cooperbench"} <= allowed
    assert "cooperbench.generation.sandbox" not in loaded and "cooperbench.generation.agent" not in loaded


def test_the_agent_stage_does_not_depend_on_validation_code():
    """A change to validation must not rerun (and re-bill) the agent stage."""
    agent = declared_code(STAGES["agent"])
    for module in ("validator.py", "conflicts.py", "runners.py", "testrun.py", "novelty.py", "harness.py", "report.py"):
        assert f"src/cooperbench/generation/{module}" not in agent
