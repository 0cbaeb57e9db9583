"""The CLI as a user meets it: bad input is one line and a non-zero exit, never a traceback."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import DEMO, ROOT, assert_one_line_error, run_cli


def test_tasks_lists_and_checks_the_demo():
    proc = run_cli("tasks", "dataset", "--check")
    assert proc.returncode == 0, proc.stderr
    assert "miniconf_task/task1  base 4737bf13454e  image akhatua/cooperbench-miniconf:task1" in proc.stdout
    assert "[ok: base commit present, every patch applies]" in proc.stdout
    assert "  feature6: Strict mode rejects duplicates" in proc.stdout


def test_console_script_runs_the_same_app():
    exe = Path(sys.executable).parent / "cooperbench-generation"
    proc = subprocess.run([str(exe), "tasks"], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "miniconf_task/task1" in proc.stdout


def test_missing_task_path():
    assert_one_line_error(run_cli("--task", "no_such_task/task9", "--prompt-only"), "no_such_task/task9", "no such task folder")


def test_task_folder_without_features(tmp_path):
    folder = tmp_path / "empty_task" / "task1"
    folder.mkdir(parents=True)
    shutil.copy(DEMO / "setup.sh", folder)
    assert_one_line_error(run_cli("prompt", str(folder), "--out", str(tmp_path / "o")), "no feature<K>/ folders")
    assert not (tmp_path / "o").exists()


def test_malformed_feature_patch(demo_copy, tmp_path):
    (demo_copy / "feature2" / "feature.patch").write_text("diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1,9 +1,9 @@\n-a\n")
    assert_one_line_error(run_cli("prompt", str(demo_copy), "--out", str(tmp_path / "o")), "feature2/feature.patch", "malformed patch")


@pytest.mark.parametrize(
    "diff, message",
    [
        ("diff --git a/../outside b/../outside\n--- a/../outside\n+++ b/../outside\n@@ -1 +1 @@\n-a\n+b\n", "outside the repository"),
        ("diff --git a/x b/x\nnew file mode 100644\n--- /dev/null\n+++ /tmp/evil\n@@ -0,0 +1 @@\n+b\n", "absolute path"),
        ("diff --git a/a b/b\nsimilarity index 100%\nrename from a\nrename to ../../b\n", "outside the repository"),
        ("not a diff at all\n", "not a git diff"),
    ],
)
def test_unsafe_or_malformed_agent_diff(tmp_path, diff, message):
    path = tmp_path / "agent.diff"
    path.write_text(diff)
    assert_one_line_error(run_cli("split", str(path), "--out", str(tmp_path / "o")), "agent.diff", message)
    assert not (tmp_path / "o").exists()


def test_missing_diff_file(tmp_path):
    assert_one_line_error(run_cli("split", str(tmp_path / "nope.diff"), "--out", str(tmp_path / "o")), "nope.diff", "no such file")


def test_bad_backend_is_a_usage_error():
    proc = run_cli("--task", "miniconf_task/task1", "--backend", "kubernetes")
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr


def test_unwritable_output_folder(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    proc = run_cli("prompt", "miniconf_task/task1", "--out", str(blocker / "out"))
    assert_one_line_error(proc, "not a directory")
