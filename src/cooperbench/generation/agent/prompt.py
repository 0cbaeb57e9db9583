"""Build the agent's prompt from a task's features and the code they have in common.

Hot spots are where two or more existing features' source patches meet: files, the definitions
of the base commit they both change (named from the base file, not from git's hunk headers,
which name the enclosing class or the function above), and base-commit line ranges. A new
feature that changes them will conflict with those features, which is what the benchmark needs.
The same task and settings always give byte-identical text, so DVC can cache on it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from string import Template
from typing import Callable

from cooperbench.generation.core.contract import DESCRIPTION_FILE, RUNNER_PATH
from cooperbench.generation.patches import diffs
from cooperbench.generation.patches.gitutil import read_blob
from cooperbench.generation.schemas import PromptParams
from cooperbench.generation.tasks.task import Task
from cooperbench.generation.util import atomic

DESCRIPTION_SECTIONS = ("Title", "Description", "API Changes", "Implementation Details", "Files Modified")


@dataclass(frozen=True)
class Region:
    """A run of changed lines of one feature, in base-commit line numbers (inclusive)."""

    feature: int
    file: str
    start: int
    end: int


def changed_regions(feature_id: int, patch: str, origin: str) -> list[Region]:
    """Runs of consecutive changed lines in a patch, in base-commit line numbers."""
    regions = []
    for file_diff in diffs.parse_diff(patch, origin):
        if file_diff.binary:
            continue
        for hunk in file_diff.parsed:
            last_source = hunk.source_start - 1
            run: list[int] = []
            for line in hunk:
                if line.is_context:
                    if run:
                        regions.append(_region(feature_id, file_diff.path, run))
                        run = []
                    last_source = line.source_line_no
                elif line.is_added:
                    run += [last_source, last_source + 1]
                elif line.is_removed:  # not "\ No newline at end of file", which is no line
                    last_source = line.source_line_no
                    run.append(last_source)
            if run:
                regions.append(_region(feature_id, file_diff.path, run))
    return regions


def _region(feature: int, path: str, lines: list[int]) -> Region:
    return Region(feature, path, max(1, min(lines)), max(lines))


def find_hotspots(task: Task, base_file: Callable[[str], str | None] = lambda path: None) -> dict:
    """Files, definitions and line ranges of the base that two or more features change, most
    shared first. `base_file` gives a file's text at the base commit (the definitions a change
    sits in are read from it; without it, from the hunks alone)."""
    by_file: dict[str, set[int]] = {}
    by_definition: dict[tuple[str, str], set[int]] = {}
    regions = []
    for feature in task.features:
        origin = str(feature.path / "feature.patch")
        for file_diff in diffs.parse_diff(feature.feature_patch, origin):
            if file_diff.binary or diffs.is_test_path(file_diff.path, task.test_patterns):
                continue
            by_file.setdefault(file_diff.path, set()).add(feature.id)
            if file_diff.status != "modified":
                continue  # a file's new definitions are no place of the base to meet at
            base = base_file(file_diff.path)
            lines = diffs.lines(base) if base else None
            names = diffs.touched_definitions(file_diff, lines)
            if lines:  # definitions the base has (not ones several features add anew)
                names &= {diffs.definition_name(line) for line in lines}
            for name in names:
                by_definition.setdefault((file_diff.path, name), set()).add(feature.id)
        regions += [r for r in changed_regions(feature.id, feature.feature_patch, origin)
                    if not diffs.is_test_path(r.file, task.test_patterns)]
    return {
        "task": task.name,
        "base_commit": task.base_commit,
        "features": [f.id for f in task.features],
        "files": [{"file": path, "features": sorted(ids)} for path, ids in _shared(by_file)],
        "functions": [{"file": path, "function": name, "features": sorted(ids)}
                      for (path, name), ids in _shared(by_definition)],
        "line_ranges": _shared_ranges(regions),
    }


def _shared(places: dict) -> list:
    """The places two or more features change, most shared first, then by name."""
    return sorted(((place, ids) for place, ids in places.items() if len(ids) >= 2), key=lambda kv: (-len(kv[1]), kv[0]))


def _shared_ranges(regions: list[Region]) -> list[dict]:
    """Line ranges that two or more features change, merged per file, most-shared first."""
    shared = []
    for path in sorted({r.file for r in regions}):
        in_file = [r for r in regions if r.file == path]
        lines: dict[int, set[int]] = {}
        for region in in_file:
            for number in range(region.start, region.end + 1):
                lines.setdefault(number, set()).add(region.feature)
        current: dict | None = None
        for number in sorted(lines):
            owners = lines[number]
            if len(owners) < 2:
                current = None
                continue
            if current and current["end"] == number - 1:
                current["end"] = number
                current["features"] = sorted(set(current["features"]) | owners)
            else:
                current = {"file": path, "start": number, "end": number, "features": sorted(owners)}
                shared.append(current)
    return sorted(shared, key=lambda r: (-len(r["features"]), r["file"], r["start"]))


def render_prompt(task: Task, hotspots: dict, settings: PromptParams = PromptParams()) -> str:
    """The agent's instructions for this task, in Markdown (params.yaml `prompt` settings)."""
    max_hotspots = settings.max_hotspots
    example = task.features[0]
    template = Template(files("cooperbench.generation.agent").joinpath("templates/prompt.md").read_text(encoding="utf-8"))
    return template.substitute(
        task=task.name,
        base_commit=task.base_commit,
        n_features=len(task.features),
        feature_list="\n".join(f"- feature{f.id}: {f.title}" for f in task.features),
        hot_files=_bullets(
            f"`{h['file']}` (changed by {_features(h['features'])})" for h in hotspots["files"][:max_hotspots]
        ),
        hot_functions=_bullets(
            f"`{h['function']}` in `{h['file']}` ({_features(h['features'])})"
            for h in hotspots["functions"][:max_hotspots]
        ),
        hot_ranges=_bullets(
            f"`{h['file']}` lines {h['start']}-{h['end']} ({_features(h['features'])})"
            for h in hotspots["line_ranges"][:max_hotspots]
        ),
        example_id=example.id,
        example=example.description.strip(),
        runner_path=RUNNER_PATH,
        test_lines="\n".join(runner_test_lines(task.runner or "")) or "(see the runner)",
        description_file=DESCRIPTION_FILE,
        sections=", ".join(DESCRIPTION_SECTIONS),
    )


TEST_WORDS = ("pytest", "go test", "cargo test", "jest", "vitest", "pnpm test", "npm test", "yarn test", "npm run test")


def runner_test_lines(runner: str) -> list[str]:
    """For the agent's eyes only: the runner's lines that run tests (the runner itself, not these
    lines, is what validation runs)."""
    lines = [line.strip() for line in runner.splitlines()]
    return [line for line in lines if line and not line.startswith(("#", "echo")) and "install" not in line
            and any(word in line for word in TEST_WORDS)]


def _features(ids: list[int]) -> str:
    """Features by number: their titles are in the list above, once."""
    return ", ".join(f"feature{i}" for i in ids)


def base_files(task: Task, git_dir: Path) -> Callable[[str], str | None]:
    """A file's text at the task's base commit (None: absent, or not in a partial clone), each
    read once."""
    return functools.cache(lambda path: read_blob(git_dir, task.base_commit, path))


def _bullets(lines) -> str:
    text = "\n".join(f"- {line}" for line in lines)
    return text or "- (none: no two features change the same place)"


def write_prompt(task: Task, git_dir: Path, out_dir: Path, settings: PromptParams = PromptParams()) -> tuple[Path, Path]:
    """Write `prompt.md` and `hotspots.json` into `out_dir` (`git_dir`: the task's repository)."""
    hotspots = find_hotspots(task, base_files(task, git_dir))
    prompt_path, hotspots_path = Path(out_dir) / "prompt.md", Path(out_dir) / "hotspots.json"
    atomic.write_json(hotspots_path, hotspots)
    atomic.write_text(prompt_path, render_prompt(task, hotspots, settings))
    return prompt_path, hotspots_path
