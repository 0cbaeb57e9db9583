"""Every bash block of README.md and docs/ runs as written, in the built copy of the project that
test_pipeline.py uses (conftest's `project`, on the same worker): an example that breaks fails the
suite."""

from __future__ import annotations

import re
import subprocess

import pytest
from conftest import ROOT
from dvcproject import dvc, env, git, restore

from cooperbench.generation.core.layout import PARAMS_VARIABLE

pytestmark = [pytest.mark.dvc, pytest.mark.xdist_group("dvc-project")]  # test_pipeline.py's worker and copy


SHELL_BLOCK = re.compile(r"(?:^<!-- (?P<marker>[^\n]*?) -->\n)?^```(?:bash|sh)\n(?P<body>.*?)^```$", re.S | re.M)
RUN_BY_CI = ("main-command", "test-command", "docker-setup")  # .ci/run runs these, read from README.md
NOT_RUN = "example: not run: "  # the marker of a block that cannot run here, with the reason


def shell_examples() -> list:
    """Every bash block of README.md and docs/, with the marker comment right above it, if any."""
    found = []
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = doc.read_text(encoding="utf-8")
        for block in SHELL_BLOCK.finditer(text):
            line = text[:block.start("body")].count("\n")
            found.append(pytest.param(block.group("marker") or "", block.group("body"), id=f"{doc.relative_to(ROOT)}:{line}"))
    return found


@pytest.mark.parametrize("marker, body", shell_examples())
def test_every_shell_example_in_the_docs_runs_as_written(project, marker, body):
    """Each bash block of the docs, verbatim, in the built project folder (offline, replays), as a
    user would type it there: it exits 0, and each line of expected output it shows as a `# `
    comment appears. A block that cannot run here says why in its marker."""
    if marker in RUN_BY_CI:
        pytest.skip(".ci/run runs this README command itself")
    if marker.startswith(NOT_RUN):
        pytest.skip(marker.removeprefix(NOT_RUN))
    assert not marker, f"unknown marker above a shell example: {marker}"
    environment = {k: v for k, v in env().items() if k != PARAMS_VARIABLE} | {"PYTHONPATH": str(project / "src")}
    if git(project, "for-each-ref", "refs/exps"):  # the names the docs use, free (other tests make experiments too)
        dvc(project, "exp", "remove", "--all-commits")
    try:
        proc = subprocess.run(["bash", "-euo", "pipefail", "-c", body], cwd=project, env=environment,
                              capture_output=True, text=True, timeout=1200)
        assert proc.returncode == 0, f"{body}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        for expected in (line[2:] for line in body.splitlines() if line.startswith("# ")):
            assert expected in proc.stdout + proc.stderr, expected
    finally:
        restore(project)
