"""Exports for other harnesses and for the dataset itself: SWE-bench-style JSONL of the
pipeline's attempts, and tasks (promoted features included) in the public release layout.

One line an attempt of every model params.yaml names (its valid ones, or all with `everything`),
with SWE-bench's fields (`instance_id`, `repo`, `base_commit`, `patch`, `test_patch`,
`problem_statement`, and `FAIL_TO_PASS` / `PASS_TO_PASS` as JSON-encoded lists, as its
published datasets keep them) and ours beside them: the model, the rule and the verdict, the
features it conflicts with and their classes. The verdict is the report's: graded under
`validation.require` with the resolver's records.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Iterator

from cooperbench.generation.errors import GenerationError
from cooperbench.generation.pipeline.common import attempts, check_inputs, checked_tasks
from cooperbench.generation.pipeline.report import read_attempt
from cooperbench.generation.schemas import Params
from cooperbench.generation.tasks.task import Task
from cooperbench.generation.util import atomic


def swebench_rows(params: Params, everything: bool = False) -> Iterator[dict]:
    tasks = checked_tasks(params)
    require = params.validation.require
    for slug in params.models:
        check_inputs(slug, "sessions", "split", "verdicts", "resolutions")
        for name, k, paths in attempts(params, slug):
            record = read_attempt(name, k, paths, require)
            verdict = record["verdict"]
            if not (verdict["valid"] or everything):
                continue
            task, checks = tasks[name], verdict["checks"]
            pairs = verdict["conflict_result"]["pairs"]
            yield {
                "instance_id": f"{task.repo_name}__task{task.task_id}-{slug}-attempt{k}",
                "repo": task.repo_name,
                "base_commit": task.base_commit,
                "patch": paths.feature_patch.read_text(encoding="utf-8", errors="surrogateescape"),
                "test_patch": paths.tests_patch.read_text(encoding="utf-8", errors="surrogateescape"),
                "problem_statement": paths.feature_md.read_text(encoding="utf-8", errors="surrogateescape"),
                "FAIL_TO_PASS": json.dumps(checks.get("fail_to_pass", {}).get("tests", [])),
                "PASS_TO_PASS": json.dumps(checks.get("pass_to_pass", {}).get("tests", [])),
                "model": record["usage"]["model"],
                "replay": record["usage"]["replay"],
                "require": require,
                "valid": verdict["valid"],
                "reasons": verdict["reasons"],
                "conflicts": {str(p["feature"]): p.get("class", "conflict") for p in pairs if p.get("has_conflict")},
            }


def export_swebench(params: Params, out: Path, everything: bool = False) -> int:
    """Write the JSONL at once (never half-written); the number of lines."""
    rows = list(swebench_rows(params, everything))
    atomic.write_text(out, "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
    return len(rows)


OURS = ("task.yaml", "onboard.json")  # a task folder's files that are this project's, not the release's
FEATURE_FILES = ("feature.md", "feature.patch", "tests.patch")
MANIFEST = "generated-features.json"


def export_release(tasks: list[Task], out: Path) -> list[dict]:
    """Each task as the public dataset keeps it, under `out/<repo>_task/task<N>/`: its own files
    (Dockerfile, setup.sh, runner.sh, run_tests.sh, combined.patch, whatever else it ships) and
    every feature's three files, nothing of ours (a shipped repository, replays, task.yaml,
    onboard.json, provenance; no symlink, no hidden file). The promoted features are listed in `out/generated-features.json` with their
    provenance (model, rule, key); `combined.patch`, where a task has one, still combines its
    original features only: a generated feature conflicts with some of them by design. A task
    folder already in `out` is never written over. Returns the manifest."""
    taken = [task.name for task in tasks if (out / task.name).exists()]
    if taken:
        raise GenerationError(f"{out / taken[0]}: already exists; nothing was written (export into a new folder)")
    manifest = []
    for task in tasks:
        with atomic.built(out / task.name) as (folder,):  # whole, or not at all
            for file in sorted(task.path.iterdir()):
                if file.is_file() and not file.is_symlink() and file.name not in OURS and not file.name.startswith("."):
                    shutil.copyfile(file, folder / file.name)
            for feature in task.features:
                (folder / f"feature{feature.id}").mkdir()
                for name in FEATURE_FILES:
                    shutil.copyfile(feature.path / name, folder / f"feature{feature.id}" / name)
                record = feature.path / "provenance.json"
                if record.is_file():
                    manifest.append({"task": task.name, "feature": feature.id, **json.loads(record.read_text(encoding="utf-8"))})
    atomic.write_json(out / MANIFEST, manifest)
    return manifest
