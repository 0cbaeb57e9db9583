"""Every DVC stage depends on exactly the code it runs: the import closure of its script inside
the package (and the package data those modules open), no more and no less, listed with hashes in
the manifest the `code` stage writes for it."""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import ROOT

from cooperbench.generation.core.codeversion import import_closure
from cooperbench.generation.errors import GenerationError
from cooperbench.generation.pipeline.code import closure, manifest, manifest_path
from cooperbench.generation.pipeline.dvcfile import render

STAGES = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]


def declared_code(name: str) -> set[str]:
    """The package files in the manifest stage `name` depends on."""
    return {path for path in manifest(name) if path.startswith("src/")}


def test_dvc_yaml_is_what_the_stage_declarations_write():
    """dvc.yaml cannot drift from the code: it is written from each stage's declaration; each
    stage depends on its manifest, and the `code` stage that writes the manifests on the folders
    they list from (pipeline/dvcfile.py)."""
    assert (ROOT / "dvc.yaml").read_text() == render(), \
        "dvc.yaml differs from the stage declarations: run `python -m cooperbench.generation.pipeline.dvcfile`"
    assert {"stages", "src/cooperbench/generation"} == set(STAGES["code"]["deps"])
    for name, stage in STAGES.items():
        if name == "code":
            continue
        body = stage.get("do", stage)
        assert [d for d in body["deps"] if d.startswith(("src/", "stages", "generated/code"))] == [str(manifest_path(name))]
        listed = set(closure(name))
        assert f"stages/{name}.py" in listed and {str(p.relative_to(ROOT)) for p in import_closure(
            ROOT / "stages" / f"{name}.py") if p.is_file()} <= listed


def test_the_code_stage_writes_each_stages_manifest(tmp_path):
    """The manifests name every file a stage runs with the hash of its bytes: a byte changed in
    one of them changes that stage's manifest only, and DVC reruns that stage alone."""
    proc = subprocess.run([sys.executable, str(ROOT / "stages" / "code.py")], cwd=tmp_path, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    assert proc.returncode == 0, proc.stderr
    written = {p.stem: json.loads(p.read_text()) for p in (tmp_path / "generated" / "code").glob("*.json")}
    assert set(written) == set(STAGES) - {"code"}
    assert written["split"]["files"] == manifest("split")
    assert "src/cooperbench/generation/sandbox/support/sitecustomize.py" in written["agent"]["files"]
    assert not {p for p in written["split"]["files"] if "/sandbox/" in p or "/agent/" in p}


def test_a_module_that_does_not_parse_stops_the_code_stage_in_one_line(tmp_path):
    """Our own source broken: one line naming the file, and no manifest written."""
    from conftest import assert_one_line_error

    src = package_copy(tmp_path)
    (tmp_path / "stages").mkdir()
    shutil.copy(ROOT / "stages" / "code.py", tmp_path / "stages" / "code.py")
    shutil.copy(ROOT / "stages" / "agent.py", tmp_path / "stages" / "agent.py")
    verify = src / "cooperbench" / "generation" / "agent" / "verify.py"
    verify.write_text(verify.read_text() + "\ndef broken(:\n")
    proc = subprocess.run([sys.executable, "stages/code.py"], cwd=tmp_path, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(src)})
    assert_one_line_error(proc, "agent/verify.py", "not valid Python")
    assert not (tmp_path / "generated" / "code").exists()


def test_a_stage_reads_only_the_params_it_declares():
    """What a stage reads of params.yaml is what dvc.yaml gives it: any other key is our error."""
    from cooperbench.generation.pipeline.common import Declared
    from cooperbench.generation.pipeline.validate import STAGE
    from cooperbench.generation.schemas import Params, read_yaml

    params = read_yaml(ROOT / "params.yaml", Params)
    view = Declared(params, frozenset(STAGE.params + STAGE.reads), STAGE.name)
    assert view.validation.require == params.validation.require and view.attempts == params.attempts
    assert view.onboard.grow == params.onboard.grow
    for read in (lambda: view.strategy, lambda: view.onboard.max_tasks, lambda: view.resolver.model):
        with pytest.raises(GenerationError, match="does not declare"):
            read()


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
               for p in declared_code("split") if p.endswith(".py")}
    assert set(loaded) - {"cooperbench"} <= allowed
    assert not {m for m in loaded if m.startswith(("cooperbench.generation.sandbox.", "cooperbench.generation.agent"))} - {
        "cooperbench.generation.core.contract"}  # places only, no sandbox code


def test_validation_code_reaches_an_attempt_only_through_cooperbench_verify():
    """The agent stage runs the grader (its agents may ask cooperbench-verify), so DVC reruns it
    on a grading change; but the agent's own code version holds no grading code, and an attempt's
    key adds the grader's only when the tool is offered: with `agent.verify_calls: 0` a grading
    change reruns (and re-bills) no attempt."""
    from cooperbench.generation.core.codeversion import module_file
    from cooperbench.generation.core.keys import AGENT, VERIFIER

    grading = ("src/cooperbench/generation/grading/", "src/cooperbench/generation/conflicts/")
    agent = declared_code("agent")
    assert "src/cooperbench/generation/validation/candidate.py" in agent
    assert "src/cooperbench/generation/pipeline/report.py" not in agent
    own = {str(p.relative_to(ROOT)) for p in import_closure(module_file(AGENT))}
    assert not {d for d in own if d.startswith(grading)}
    assert {str(p.relative_to(ROOT)) for p in import_closure(module_file(VERIFIER))} & {
        "src/cooperbench/generation/validation/candidate.py"}


def package_copy(tmp_path: Path) -> Path:
    """A copy of the package's source to edit (the code version reads files, not modules)."""
    src = tmp_path / "src"
    shutil.copytree(ROOT / "src" / "cooperbench", src / "cooperbench", ignore=shutil.ignore_patterns("__pycache__"))
    return src


def versions(src: Path, cache: Path | None = None) -> dict[str, str]:
    """The code versions of an attempt and a verdict on each backend, as the copy at `src` gives
    them (kept in `cache`, default the session's)."""
    probe = ("import json;from cooperbench.generation.core.codeversion import code_version as v;"
             "from cooperbench.generation.core.keys import AGENT, GRADER;"
             "print(json.dumps({f'{e}@{b}': v(e, b) for e in (AGENT, GRADER) for b in ('local', 'docker', 'modal')}))")
    out = subprocess.run([sys.executable, "-c", probe], cwd=src, capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(src), **({"COOPERBENCH_CACHE": str(cache)} if cache else {})}).stdout
    return json.loads(out)


def with_a_docstring(source: str) -> str:
    """`source` with a docstring added to its first function that has none."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef) and node.body[0].lineno > node.lineno:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                continue
            lines = source.splitlines(keepends=True)
            lines.insert(first.lineno - 1, " " * first.col_offset + '"""A docstring."""\n')
            return "".join(lines)
    return source


@pytest.mark.slow
def test_comments_docstrings_and_other_backends_do_not_move_an_attempts_key(tmp_path):
    """A comment and a docstring added to every module of the package move no code version; a
    change to the docker backend moves only what runs on docker; a change to the modules that
    compute keys, which computes the same keys, moves none; the agent's templates and its loop
    move the attempt's."""
    src = package_copy(tmp_path)
    before = versions(src)
    package = src / "cooperbench" / "generation"
    for module in package.rglob("*.py"):
        module.write_text(f"# a comment\n{with_a_docstring(module.read_text())}\n    # an indented comment\n")
    assert versions(src) == before
    docker = package / "sandbox" / "docker_backend.py"
    docker.write_text(docker.read_text() + "\nBEHAVIOUR_CHANGED = True\n")
    after = versions(src)
    moved = {name for name in before if before[name] != after[name]}
    assert moved == {name for name in before if name.endswith("@docker")}
    for computes_keys in (package / "core" / "codeversion.py", package / "core" / "keys.py"):  # the same keys computed
        computes_keys.write_text(computes_keys.read_text() + "\nREFACTORED = True\n")
    assert versions(src) == after
    template = package / "agent" / "templates" / "agent.yaml"
    template.write_text(template.read_text() + "\n# the agent's template changed\n")
    again = versions(src)
    assert {name for name in after if after[name] != again[name]} == {name for name in after if name.startswith("cooperbench.generation.agent")}


def test_a_code_version_is_kept_under_the_digest_of_the_files_it_is_made_of(tmp_path):
    """A process reads a code version the cache keeps for the very same files instead of parsing
    its closure again (a second or two in every stage and CLI process), and a changed file makes
    every version anew."""
    src, cache = package_copy(tmp_path), tmp_path / "cache"
    first = versions(src, cache)
    kept = sorted((cache / "code-versions").iterdir())
    assert len(kept) == len(first) and {p.read_text().strip() for p in kept} == set(first.values())
    planted = "0123456789abcdef"
    for path in kept:
        path.write_text(planted + "\n")
    assert set(versions(src, cache).values()) == {planted}  # what is kept is what is read
    module = src / "cooperbench" / "generation" / "util" / "progress.py"  # record keeping: no version moves
    module.write_text(module.read_text() + "\nCHANGED = True\n")
    assert versions(src, cache) == first and len(list((cache / "code-versions").iterdir())) == 2 * len(first)


def test_a_stage_run_by_hand_without_its_model_is_one_line():
    from conftest import assert_one_line_error

    for args in ([], ["no-such-model"]):
        proc = subprocess.run([sys.executable, "stages/validate.py", *args], cwd=ROOT, capture_output=True, text=True)
        assert_one_line_error(proc, "model")
