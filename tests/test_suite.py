"""The suite's own machinery: a module marked `xdist_group` runs on one worker, so its module
fixtures (a whole `dvc repro`, an onboarded history) are built once, not once per worker.

pytest 9.2 silently drops the group marks pytest-xdist 3.8 writes on node ids
(pytest-xdist#1386): nothing fails, the suite only gets slower, hence this check."""

from __future__ import annotations

import subprocess
import sys

MODULE = '''
import os, pytest
pytestmark = pytest.mark.xdist_group("one")

@pytest.fixture(scope="module")
def built():
    with open("builds", "a") as out:
        out.write(os.environ["PYTEST_XDIST_WORKER"] + "\\n")

@pytest.mark.parametrize("i", range(6))
def test_uses_it(built, i):
    pass
'''


def test_a_group_of_tests_runs_on_one_worker(tmp_path):
    (tmp_path / "test_grouped.py").write_text(MODULE)
    (tmp_path / "test_spread.py").write_text("import pytest\n@pytest.mark.parametrize('i', range(6))\ndef test_x(i):\n    pass\n")
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-n", "2", "--dist", "loadgroup", "-p", "no:cacheprovider",
                           "-c", "/dev/null", "--rootdir", str(tmp_path), str(tmp_path)],
                          cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-2000:]
    assert len((tmp_path / "builds").read_text().split()) == 1, "the group ran on both workers: see pytest-xdist#1386"
