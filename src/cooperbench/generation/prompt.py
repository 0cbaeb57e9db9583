"""Build the agent's prompt from a task's features and the code they have in common.

Hot spots are where existing features' source patches meet: files and functions changed by
several features, and base-commit line ranges changed by two or more. A new feature that changes
them will conflict with those features, which is what the benchmark needs. The same task and
settings always give byte-identical text, so DVC can cache on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from string import Template

from cooperbench.generation import atomic, diffs
from cooperbench.generation.layout import DESCRIPTION_FILE, RUNNER_PATH
from cooperbench.generation.task import Task

DESCRIPTION_SECTIONS = ("Title", "Description", "API Changes", "Implementation Details", "Files Modified")


@dataclass(frozen=True)
class Region:
    """A run of changed lines of one feature, in base-commit line numbers (inclusive)."""

    feature: int
    file: str
    function: str | None
    start: int
    end: int


def changed_regions(feature_id: int, patch: str, origin: str) -> list[Region]:
    """Runs of consecutive changed lines in a patch, each named by the definition it changes:
    a removed `def`/`func`/... line in the run, else the nearest one above it, else the name in
    the hunk header."""
    regions = []
    for file_diff in diffs.parse_diff(patch, origin):
        if file_diff.binary:
            continue
        for hunk in file_diff.parsed:
            enclosing = diffs.definition_name(hunk.section_header)
            last_source = hunk.source_start - 1
            run: list[int] = []
            run_function: str | None = None
            for line in hunk:
                if line.is_context:
                    if run:
                        regions.append(_region(feature_id, file_diff.path, run_function, run))
                        run = []
                    last_source = line.source_line_no
                    enclosing = diffs.definition_name(line.value) or enclosing
                    continue
                if not run:
                    run_function = enclosing
                if line.is_added:
                    run += [last_source, last_source + 1]
                else:
                    last_source = line.source_line_no
                    run.append(last_source)
                    removed_definition = diffs.definition_name(line.value)
                    if removed_definition and run_function == enclosing:
                        run_function = removed_definition
            if run:
                regions.append(_region(feature_id, file_diff.path, run_function, run))
    return regions


def _region(feature: int, path: str, function: str | None, lines: list[int]) -> Region:
    return Region(feature, path, function, max(1, min(lines)), max(lines))


def find_hotspots(task: Task) -> dict:
    """Files, functions and line ranges of the base, ranked by how many features change them."""
    regions = [
        region
        for feature in task.features
        for region in changed_regions(feature.id, feature.feature_patch, str(feature.path / "feature.patch"))
        if not diffs.is_test_path(region.file, task.test_patterns)
    ]
    by_file: dict[str, set[int]] = {}
    by_function: dict[tuple[str, str], set[int]] = {}
    for region in regions:
        by_file.setdefault(region.file, set()).add(region.feature)
        if region.function:
            by_function.setdefault((region.file, region.function), set()).add(region.feature)
    files_ranked = [
        {"file": path, "features": sorted(ids)}
        for path, ids in sorted(by_file.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    ]
    functions_ranked = [
        {"file": path, "function": name, "features": sorted(ids)}
        for (path, name), ids in sorted(by_function.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    ]
    return {
        "task": task.name,
        "base_commit": task.base_commit,
        "features": [f.id for f in task.features],
        "files": files_ranked,
        "functions": functions_ranked,
        "line_ranges": _shared_ranges(regions),
    }


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


def render_prompt(
    task: Task,
    hotspots: dict,
    *,
    max_hotspots: int = 8,
    description_file: str = DESCRIPTION_FILE,
) -> str:
    """The agent's instructions for this task, in Markdown."""
    titles = {f.id: f.title for f in task.features}
    example = task.features[0]
    template = Template(files("cooperbench.generation").joinpath("templates/prompt.md").read_text(encoding="utf-8"))
    return template.substitute(
        task=task.name,
        base_commit=task.base_commit,
        n_features=len(task.features),
        feature_list="\n".join(f"- feature{f.id}: {f.title}" for f in task.features),
        hot_files=_bullets(
            f"`{h['file']}` (changed by {_features(h['features'], titles)})" for h in hotspots["files"][:max_hotspots]
        ),
        hot_functions=_bullets(
            f"`{h['function']}` in `{h['file']}` ({_features(h['features'], titles)})"
            for h in hotspots["functions"][:max_hotspots]
        ),
        hot_ranges=_bullets(
            f"`{h['file']}` lines {h['start']}-{h['end']} ({_features(h['features'], titles)})"
            for h in hotspots["line_ranges"][:max_hotspots]
        ),
        example_id=example.id,
        example=example.description.strip(),
        runner_path=RUNNER_PATH,
        test_lines="\n".join(runner_test_lines(task.runner or "")) or "(see the runner)",
        description_file=description_file,
        sections=", ".join(DESCRIPTION_SECTIONS),
    )


TEST_WORDS = ("pytest", "go test", "cargo test", "jest", "vitest", "pnpm test", "npm test", "yarn test", "npm run test")


def runner_test_lines(runner: str) -> list[str]:
    """For the agent's eyes only: the runner's lines that run tests (the runner itself, not these
    lines, is what validation runs)."""
    lines = [line.strip() for line in runner.splitlines()]
    return [line for line in lines if line and not line.startswith(("#", "echo")) and "install" not in line
            and any(word in line for word in TEST_WORDS)]


def _features(ids: list[int], titles: dict[int, str]) -> str:
    return ", ".join(f"feature{i} \"{titles[i]}\"" for i in ids)


def _bullets(lines) -> str:
    text = "\n".join(f"- {line}" for line in lines)
    return text or "- (none: no two features change the same place)"


def write_prompt(task: Task, out_dir: Path, **options) -> tuple[Path, Path]:
    """Write `prompt.md` and `hotspots.json` into `out_dir`."""
    hotspots = find_hotspots(task)
    prompt_path, hotspots_path = Path(out_dir) / "prompt.md", Path(out_dir) / "hotspots.json"
    atomic.write_json(hotspots_path, hotspots)
    atomic.write_text(prompt_path, render_prompt(task, hotspots, **options))
    return prompt_path, hotspots_path
