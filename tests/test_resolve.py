"""The resolver is hostile input too: what it leaves is checked by both features' own tests, as
the benchmark ships them, and nothing it does to tests or the harness can make a pair solvable."""

from __future__ import annotations

import pytest
from conftest import ROOT
from test_agent import SUBMIT, write_session
from test_hostile import SOURCE_PATCHES_REPORTS

from cooperbench.generation.agent.resolve import resolve_pair
from cooperbench.generation.conflicts.classify import whole_features
from cooperbench.generation.schemas import AgentSettings, ValidationSettings
from cooperbench.generation.tasks.task import load_task, resolve_repo

# Resolve every conflict of durations/core.py by keeping the first side: feature 3's lines are lost.
KEEP_OURS = r"""python - <<'EOF'
import re
from pathlib import Path
path = Path('durations/core.py')
text = re.sub(r'<{7} .*?\n(.*?)(?:\|{7} .*?\n.*?)?={7}\n.*?>{7} .*?\n', r'\1', path.read_text(), flags=re.S)
path.write_text(text)
EOF"""
# ... then every call of parse_duration skips its test: code that raises SkipTest proves nothing.
SKIP_EVERYTHING = KEEP_OURS + """
cat >> durations/core.py <<'EOF'


def parse_duration(text):
    raise __import__("unittest").SkipTest("resolved")
EOF"""
HARNESS = KEEP_OURS + """
printf '[pytest]\\naddopts = -p no:randomly --deselect tests/test_core.py\\n' > pytest.ini"""
DELETE_TESTS = KEEP_OURS + "\nrm tests/test_core.py"
# Both sides dropped (the file back at the base), and the source rewrites every report to passed.
RESET_AND_FORGE = f"""git checkout HEAD -- durations/core.py && cat >> durations/core.py <<'EOF'


{SOURCE_PATCHES_REPORTS}EOF"""


@pytest.fixture
def durations(tmp_path):
    import shutil

    target = tmp_path / "dataset" / "durations_task" / "task1"
    shutil.copytree(ROOT / "dataset" / "durations_task" / "task1", target)
    return target


@pytest.mark.parametrize("commands, problem", [
    ([SUBMIT], "the resolution still holds conflict markers"),
    ([KEEP_OURS, SUBMIT], "tests do not pass with the resolution"),
    ([SKIP_EVERYTHING, SUBMIT], "tests do not pass with the resolution"),
    ([HARNESS, SUBMIT], "the resolution changes the test harness: pytest.ini"),
    ([DELETE_TESTS, SUBMIT], "tests do not pass with the resolution"),  # the tests are not the resolver's to change
    ([RESET_AND_FORGE, SUBMIT], "reaches into the test runner"),
], ids=["markers", "one-side", "skip-test", "harness", "delete-tests", "reset-and-forge"])
@pytest.mark.slow
def test_a_hostile_resolution_is_unsolved(durations, tmp_path, commands, problem):
    write_session(durations / "replays" / "hostile.traj.json", commands)
    task = load_task(durations)
    wholes = whole_features(task)  # features 2 and 3: a hard pair (parse_duration's sum and sign)
    record = resolve_pair(task, resolve_repo(task), wholes[2], wholes[3], {f.id: f.description for f in task.features},
                          AgentSettings.of("replay/hostile"), ValidationSettings(), tmp_path / "trajectory.json")
    assert record["status"] == "unsolved" and problem in record["evidence"]["problem"], record["evidence"]
    assert record["patch"] == ""
