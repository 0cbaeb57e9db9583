"""Splitting agent diffs made by real git, in each of the dataset's languages."""

from __future__ import annotations

import pytest
from conftest import DEMO, assert_one_line_error, git, run_cli

from cooperbench.generation import GenerationError, load_task, split_diff
from cooperbench.generation.patches.splitter import check_applies, write_split
from cooperbench.generation.tasks.task import resolve_repo

DESCRIPTION = "**Title**: X\n\n**Description**: y\n"


def paths(patch: str) -> list[str]:
    return [line.split(" b/")[-1] for line in patch.splitlines() if line.startswith("diff --git ")]


@pytest.mark.parametrize(
    "before, after, source, tests",
    [
        (  # Python: tests/ folder, test_*.py, *_test.py and conftest anywhere
            {"pkg/core.py": "a = 1\n", "tests/test_core.py": "x\n"},
            {"pkg/core.py": "a = 2\n", "tests/test_core.py": "y\n", "pkg/test_util.py": "t\n",
             "pkg/util_test.py": "t\n", "pkg/conftest.py": "c\n"},
            ["pkg/core.py"], ["pkg/conftest.py", "pkg/test_util.py", "pkg/util_test.py", "tests/test_core.py"],
        ),
        (  # Go: *_test.go beside the code, testdata/
            {"mux.go": "package chi\n", "mux_test.go": "package chi\n"},
            {"mux.go": "package chi\n// x\n", "mux_test.go": "package chi\n// t\n", "testdata/a.txt": "d\n"},
            ["mux.go"], ["mux_test.go", "testdata/a.txt"],
        ),
        (  # Rust: tests/ folder
            {"src/lib.rs": "fn a() {}\n", "tests/it.rs": "#[test]\nfn t() {}\n"},
            {"src/lib.rs": "fn a() { }\n", "tests/it.rs": "#[test]\nfn t() { }\n"},
            ["src/lib.rs"], ["tests/it.rs"],
        ),
        (  # JS / TS: *.test.*, *.spec.*, __tests__/
            {"src/form.ts": "export {}\n"},
            {"src/form.ts": "export const a = 1\n", "src/form.test.ts": "t\n", "src/form.spec.tsx": "t\n",
             "src/__tests__/x.js": "t\n"},
            ["src/form.ts"], ["src/__tests__/x.js", "src/form.spec.tsx", "src/form.test.ts"],
        ),
    ],
    ids=["python", "go", "rust", "js-ts"],
)
def test_mixed_diffs_split_by_language(make_diff, before, after, source, tests):
    _, diff = make_diff(before, {**after, ".feature_description.md": DESCRIPTION})
    split = split_diff(diff)
    assert sorted(split.source_files) == source
    assert sorted(split.test_files) == tests
    assert sorted(paths(split.feature_patch)) == source
    assert sorted(paths(split.tests_patch)) == tests
    assert split.feature_md == DESCRIPTION
    assert split.problems == []


def test_task_patterns_override_the_defaults(make_diff):
    _, diff = make_diff({"lib/a.py": "1\n"}, {"lib/a.py": "2\n", "spec/a_check.py": "t\n"})
    split = split_diff(diff, test_patterns=("spec/*",))
    assert split.test_files == ["spec/a_check.py"]


def test_scratch_and_binaries_are_dropped_with_reasons(make_diff):
    _, diff = make_diff(
        {"pkg/a.py": "1\n", "setup.py": "s\n", "logo.png": b"\x89PNG\x00\x01"},
        {
            "pkg/a.py": "2\n", "tests/test_a.py": "t\n", "setup.py": "s2\n",
            "repro.py": "print()\n", "notes.txt": "n\n", "pkg/tmp_check.py": "x\n", "debug_run.sh": "x\n",
            "pkg/__pycache__/a.cpython-311.pyc": b"\x00\x01", ".pytest_cache/v/x": "x\n",
            "build/lib/pkg/a.py": "2\n", "pkg/a.py.orig": "1\n", "logo.png": b"\x89PNG\x00\x02",
        },
    )
    split = split_diff(diff)
    assert split.source_files == ["pkg/a.py", "setup.py"]  # an edited root file is kept
    reasons = {d["path"]: d["reason"] for d in split.dropped}
    assert reasons == {
        ".pytest_cache/v/x": "cache",
        "build/lib/pkg/a.py": "build output",
        "debug_run.sh": "scratch file",
        "logo.png": "binary change",
        "notes.txt": "stray file at the repository root",
        "pkg/__pycache__/a.cpython-311.pyc": "cache",
        "pkg/a.py.orig": "editor or merge leftover",
        "pkg/tmp_check.py": "scratch file",
        "repro.py": "stray file at the repository root",
    }


def apply_check(repo, patch: str) -> None:
    """The written patch applies to the base commit of `repo` (git apply --check)."""
    (repo.parent / "check.patch").write_text(patch, newline="")
    git(repo, "stash", "-q") if git(repo, "status", "--porcelain") else None
    git(repo, "reset", "-q", "--hard", "HEAD")
    git(repo, "apply", "--check", str(repo.parent / "check.patch"))


def test_renames_new_and_deleted_files(make_diff):
    repo, diff = make_diff(
        {"pkg/old.py": "".join(f"line {i}\n" for i in range(20)), "pkg/gone.py": "bye\n", "tests/test_old.py": "t\n"},
        {"pkg/new.py": "".join(f"line {i}\n" for i in range(20)) + "more\n", "pkg/gone.py": None,
         "pkg/fresh.py": "hi\n", "tests/test_old.py": None, "tests/test_new.py": "t2\n"},
        renames={"pkg/old.py": "pkg/new.py"},
    )
    split = split_diff(diff)
    assert "rename from pkg/old.py" in split.feature_patch
    assert "deleted file mode" in split.feature_patch and "new file mode" in split.feature_patch
    assert sorted(split.source_files) == ["pkg/fresh.py", "pkg/gone.py", "pkg/new.py"]
    assert sorted(split.test_files) == ["tests/test_new.py", "tests/test_old.py"]
    apply_check(repo, split.feature_patch)
    apply_check(repo, split.tests_patch)


def test_crlf_and_missing_final_newline_survive_byte_for_byte(make_diff):
    repo, diff = make_diff(
        {"win.py": "a = 1\r\nb = 2\r\n", "tests/test_w.py": "t = 1"},
        {"win.py": "a = 1\r\nb = 3\r\n", "tests/test_w.py": "t = 2"},
    )
    split = split_diff(diff)
    assert "+b = 3\r\n" in split.feature_patch
    assert "\\ No newline at end of file" in split.tests_patch
    assert split.tests_patch + split.feature_patch == diff  # git's order; nothing lost or rewritten
    apply_check(repo, split.feature_patch)
    apply_check(repo, split.tests_patch)


@pytest.mark.parametrize(
    "after, problem",
    [
        ({"tests/test_a.py": "t2\n"}, "the diff has no source change"),
        ({"a.py": "2\n"}, "the diff has no test change"),
    ],
)
def test_one_sided_diffs_are_reported(make_diff, after, problem):
    _, diff = make_diff({"a.py": "1\n", "tests/test_a.py": "t\n"}, {**after, ".feature_description.md": "d\n"})
    assert [sentence for _, sentence in split_diff(diff).problems] == [problem]


def test_empty_diff_reports_everything_missing():
    assert [key for key, _ in split_diff("").problems] == ["no_source_change", "no_test_change", "no_description"]


@pytest.mark.parametrize(
    "header, message",
    [
        ("diff --git a/../outside b/../outside\n--- a/../outside\n+++ b/../outside\n", "outside the repository"),
        ("diff --git a//etc/passwd b//etc/passwd\n--- /etc/passwd\n+++ /etc/passwd\n", "absolute path"),
        ("diff --git a/.git/config b/.git/config\n--- a/.git/config\n+++ b/.git/config\n", "git internals"),
    ],
)
def test_paths_outside_the_repo_are_refused(header, message):
    with pytest.raises(GenerationError, match=message):
        split_diff(header + "@@ -1 +1 @@\n-a\n+b\n", origin="agent.diff")


def demo_agent_diff() -> str:
    """What an agent's diff looks like: a feature, its tests, a description and some scratch."""
    task = load_task(DEMO)
    scratch = "diff --git a/try.py b/try.py\nnew file mode 100644\nindex 0000000..1111111\n--- /dev/null\n+++ b/try.py\n@@ -0,0 +1 @@\n+print(1)\n"
    description = (
        "diff --git a/.feature_description.md b/.feature_description.md\nnew file mode 100644\n"
        "index 0000000..2222222\n--- /dev/null\n+++ b/.feature_description.md\n@@ -0,0 +1,2 @@\n+**Title**: Typed\n+\n"
    )
    return task.feature(2).tests_patch + scratch + task.feature(2).feature_patch + description


def test_split_of_the_demo_applies_to_the_base():
    task = load_task(DEMO)
    split = split_diff(demo_agent_diff())
    assert split.feature_patch == task.feature(2).feature_patch
    assert split.tests_patch == task.feature(2).tests_patch
    assert split.feature_md == "**Title**: Typed\n"
    check_applies(split, resolve_repo(task), task.base_commit)


def test_split_cli_writes_all_files(tmp_path):
    diff = tmp_path / "agent.diff"
    diff.write_text(demo_agent_diff())
    out = tmp_path / "out"
    proc = run_cli("split", str(diff), "--out", str(out), "--task", "miniconf_task/task1")
    assert proc.returncode == 0, proc.stderr
    assert "1 source file(s), 1 test file(s), dropped 1" in proc.stdout
    assert sorted(p.name for p in out.iterdir()) == ["feature.md", "feature.patch", "split.json", "tests.patch"]


def test_split_cli_reports_a_one_sided_diff_and_writes_nothing(tmp_path):
    diff = tmp_path / "agent.diff"
    diff.write_text(load_task(DEMO).feature(2).feature_patch)
    proc = run_cli("split", str(diff), "--out", str(tmp_path / "out"))
    assert_one_line_error(proc, "agent.diff", "no test change")
    assert not (tmp_path / "out").exists()


def test_split_cli_refuses_a_patch_that_does_not_apply(tmp_path):
    diff = tmp_path / "agent.diff"
    diff.write_text(demo_agent_diff().replace("\n         raise MissingKeyError(self.name, key)\n", "\n         raise KeyError(key)\n"))
    proc = run_cli("split", str(diff), "--out", str(tmp_path / "out"), "--task", "miniconf_task/task1")
    assert proc.returncode != 0
    assert not (tmp_path / "out").exists()


def test_write_split_records_what_went_where(tmp_path):
    split = split_diff(demo_agent_diff())
    write_split(split, tmp_path)
    assert '"reason": "stray file at the repository root"' in (tmp_path / "split.json").read_text()


def test_quoted_paths_are_decided_on_as_git_means_them(make_diff):
    """git C-quotes a non-ASCII name (`"tests/test_\\303\\251t\\303\\251.py"`): every decision reads the
    decoded path, so the test file is a test file, not source."""
    _, diff = make_diff({"pkg/a.py": "x = 1\n"}, {"pkg/a.py": "x = 2\n", "tests/test_été.py": "def test_x():\n    pass\n",
                                                   ".feature_description.md": "**Title**: t\n"})
    assert '"b/tests/test_\\303\\251t\\303\\251.py"' in diff
    split = split_diff(diff)
    assert split.test_files == ["tests/test_été.py"] and split.source_files == ["pkg/a.py"]
