"""A task folder in the CooperBench layout, written from a group of real changes and a recipe.

setup.sh, Dockerfile, runner.sh and run_tests.sh take the shapes of the dataset's own (see
docs/onboarding.md); each `feature<K>/` has feature.md written from the pull request's text,
feature.patch and tests.patch against the base, and provenance.json saying where it came from.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

from cooperbench.generation.onboard.group import Group, Member
from cooperbench.generation.onboard.recipe import Recipe
from cooperbench.generation.patches import diffs

MARKER = "onboard.json"  # in every task folder onboarding writes: what it was made from


def test_files(members: list[Member]) -> list[str]:
    """Every test file the group's changes touch, in order: what the task's runner runs."""
    found: list[str] = []
    for member in members:
        for piece in diffs.parse_diff(member.tests_patch, member.change.commit):
            if piece.path not in found:
                found.append(piece.path)
    return found


APPLY = """git apply --ignore-whitespace "{patch}" || git apply --3way "{patch}\""""


def _apply_and_test(recipe: Recipe, tests: list[str], tests_patch: str, feature_patch: str) -> list[str]:
    """The patches applied as the dataset's runners apply them (the feature's when
    $FEATURE_PATCH is given), the installs, the tests."""
    return [APPLY.format(patch=tests_patch), 'if [[ -n "$FEATURE_PATCH" ]]; then',
            "    " + APPLY.format(patch=feature_patch), "fi", *recipe.installs, recipe.test_command(tests), ""]


def runner_sh(recipe: Recipe, tests: list[str]) -> str:
    return "\n".join([
        "#!/bin/bash",
        "# Container entry, derived by `cooperbench-generation onboard` from the repository's own metadata at",
        "# BASE_COMMIT (onboard.json says which file each line came from): runner.sh <tests.patch> [feature.patch],",
        "# patches under /patches, the repository at /workspace/repo.",
        "set -e",
        'TEST_PATCH="$1"',
        'FEATURE_PATCH="$2"',
        "cd /workspace/repo",
        "git reset --hard HEAD",
        "git clean -fdx",
        *_apply_and_test(recipe, tests, "/patches/$TEST_PATCH", "/patches/$FEATURE_PATCH"),
    ])


def run_tests_sh(recipe: Recipe, tests: list[str]) -> str:
    return "\n".join([
        "#!/bin/bash",
        "# The local variant of runner.sh: run_tests.sh <repo_path> <tests.patch> [feature.patch].",
        "set -e",
        'REPO_PATH="$1"',
        'TEST_PATCH="$(realpath "$2")"',
        'FEATURE_PATCH="${3:+$(realpath "$3")}"',
        'cd "$REPO_PATH"',
        *_apply_and_test(recipe, tests, "$TEST_PATCH", "$FEATURE_PATCH"),
    ])


def dockerfile(recipe: Recipe, url: str, base: str) -> str:
    return "\n".join([
        f"FROM python:{recipe.python}-slim",
        "",
        "RUN apt-get update && apt-get install -y --no-install-recommends git ca-certificates \\",
        "    && rm -rf /var/lib/apt/lists/*",
        "",
        "# Clone the repository and check out the base commit",
        "WORKDIR /workspace",
        f"RUN git clone {shlex.quote(url)} repo && cd repo && git checkout {base}",
        "",
        "# The project's own test dependencies (see onboard.json)",
        "WORKDIR /workspace/repo",
        *(f"RUN {line}" for line in recipe.installs),
        "",
        "COPY runner.sh /usr/local/bin/",
        "RUN chmod +x /usr/local/bin/runner.sh",
        'ENTRYPOINT ["/usr/local/bin/runner.sh"]',
        "",
    ])


def setup_sh(name: str, url: str, base: str) -> str:
    return "\n".join([
        "#!/bin/bash",
        "# Onboarded from the repository's history by `cooperbench-generation onboard`.",
        "set -e",
        f"REPO_NAME={name}",
        f"BASE_COMMIT={base}",
        f'git clone {shlex.quote(url)} "$REPO_NAME"',
        'cd "$REPO_NAME"',
        'git checkout "$BASE_COMMIT"',
        "",
    ])


def feature_md(member: Member) -> str:
    """The pull request's text in the dataset's feature.md shape."""
    change = member.change
    files = [p.path for p in diffs.parse_diff(member.feature_patch + member.tests_patch, change.commit)]
    origin = f"pull request #{change.pr}" if change.pr else f"commit {change.commit[:12]}"
    return "\n".join([
        f"**Title**: {change.title}",
        "**Pull Request Details**",
        f"**Description**:\n{change.description or change.title}",
        f"**Technical Background**: merged as {origin} on {change.date[:10]}.",
        "**Files Modified**",
        *(f"- `{path}`" for path in files),
        "",
    ])


def provenance(member: Member, url: str) -> dict:
    change = member.change
    return {"repository": url, "commit": change.commit, "pull_request": change.pr, "merged": change.date,
            "title": change.title, "patch": member.version, "applied": member.applied, "left_out": member.left_out}


def write_task(folder: Path, group: Group, members: list[Member], recipe: Recipe, *, repo_name: str, url: str,
               record: dict) -> None:
    """The task's files into `folder` (a fresh staging folder): features numbered from 1 in
    `members`' order; the runner runs every test file of the whole group, so dropping a feature
    keeps the environment and every run already made."""
    tests = test_files(group.members)
    files = {"setup.sh": setup_sh(repo_name, url, group.base), "Dockerfile": dockerfile(recipe, url, group.base),
             "runner.sh": runner_sh(recipe, tests), "run_tests.sh": run_tests_sh(recipe, tests)}
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
        if name.endswith(".sh"):
            (folder / name).chmod(0o755)
    for k, member in enumerate(members, 1):
        feature = folder / f"feature{k}"
        feature.mkdir()
        (feature / "feature.md").write_text(feature_md(member), encoding="utf-8")
        for name, text in (("feature.patch", member.feature_patch), ("tests.patch", member.tests_patch)):
            (feature / name).write_text(text, encoding="utf-8", errors="surrogateescape")
        (feature / "provenance.json").write_text(json.dumps(provenance(member, url), indent=2) + "\n", encoding="utf-8")
    (folder / MARKER).write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8")
