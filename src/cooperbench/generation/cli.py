"""The command line: the seed's flags plus one subcommand per part of the pipeline.

Every failure the user can fix ends as one line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from cooperbench.generation import atomic, conflicts as conflicts_mod
from cooperbench.generation import prompt as prompt_mod
from cooperbench.generation import generator, splitter, validator
from cooperbench.generation.agent import AgentSettings
from cooperbench.generation.errors import GenerationError
from cooperbench.generation.promote import promote as promote_feature
from cooperbench.generation.task import (
    check_patches_apply,
    load_dataset,
    load_task,
    resolve_repo,
)

app = typer.Typer(
    add_completion=False,
    no_args_is_help=False,
    pretty_exceptions_enable=False,
    help="Generate new conflicting CooperBench features with an LLM agent, and check them.",
)


class Backend(str, Enum):
    local = "local"
    docker = "docker"
    modal = "modal"


TaskOption = Annotated[
    Optional[str], typer.Option("--task", help="Task folder, or <repo>_task/task<N> under --dataset.")
]
DatasetOption = Annotated[Path, typer.Option("--dataset", help="Dataset root for short task names.")]
RepoOption = Annotated[
    Optional[Path], typer.Option("--repo", help="Local clone holding the task's base commit.")
]


@app.callback(invoke_without_command=True)
def seed(
    ctx: typer.Context,
    task: TaskOption = None,
    prompt_only: Annotated[bool, typer.Option("--prompt-only", help="Print the prompt and stop.")] = False,
    validate: Annotated[
        Optional[tuple[Path, Path]],
        typer.Option("--validate", metavar="FEATURE_PATCH TESTS_PATCH", help="Validate two patches."),
    ] = None,
    attempts: Annotated[int, typer.Option("--attempts", min=1, help="Generation attempts.")] = 1,
    output: Annotated[Path, typer.Option("--output", help="Where generated features go.")] = Path("generated"),
    model: Annotated[str, typer.Option("--model", help="litellm model name, or replay/<session>.")] = AgentSettings.model,
    backend: Annotated[Backend, typer.Option("--backend", help="Sandbox backend.")] = Backend.local,
    dataset: DatasetOption = Path("dataset"),
    repo: RepoOption = None,
    timeout: Annotated[float, typer.Option("--timeout", help="Time limit per test run, seconds.")] = 300.0,
    jobs: Annotated[int, typer.Option("--jobs", min=1, help="Attempts run at the same time.")] = 1,
    step_limit: Annotated[int, typer.Option("--step-limit", min=1, help="Agent steps per attempt.")] = 75,
    cost_limit: Annotated[float, typer.Option("--cost-limit", min=0, help="Model dollars per attempt.")] = 2.0,
) -> None:
    """Seed-compatible entry: `--task T [--prompt-only | --validate F T | generation flags]`."""
    if ctx.invoked_subcommand is not None:
        return
    if task is None:
        typer.echo(ctx.get_help())
        raise typer.Exit(2)
    loaded = load_task(task, dataset)
    if prompt_only:
        hotspots = prompt_mod.find_hotspots(loaded)
        sys.stdout.write(prompt_mod.render_prompt(loaded, hotspots))
        return
    if validate is not None:
        verdict = _validate(loaded, validate[0], validate[1], backend.value, timeout, repo)
        typer.echo(validator.describe(verdict), nl=False)
        return
    results = generator.generate_features(
        loaded,
        AgentSettings(model=model, step_limit=step_limit, cost_limit=cost_limit),
        backend=backend.value,
        attempts=attempts,
        output=output,
        jobs=jobs,
        repo=repo,
        validation=validator.ValidationSettings(backend=backend.value, timeout=timeout),
    )
    typer.echo(generator.render_summary(results), nl=False)


@app.command()
def tasks(
    root: Annotated[Path, typer.Argument(help="Dataset root or one task folder.")] = Path("dataset"),
    check: Annotated[bool, typer.Option("--check", help="Also check base commits and that patches apply.")] = False,
    repo: RepoOption = None,
) -> None:
    """List tasks and their features."""
    for task in load_dataset(root):
        status = ""
        if check:
            check_patches_apply(task, resolve_repo(task, repo))
            status = "  [ok: base commit present, every patch applies]"
        typer.echo(f"{task.name}  base {task.base_commit[:12]}  image {task.image}{status}")
        for feature in task.features:
            typer.echo(f"  feature{feature.id}: {feature.title}")


@app.command()
def prompt(
    task: Annotated[str, typer.Argument(help="Task folder, or <repo>_task/task<N> under --dataset.")],
    out: Annotated[Path, typer.Option("--out", help="Folder for prompt.md and hotspots.json.")],
    max_hotspots: Annotated[int, typer.Option(min=1, help="Hot spots listed per kind.")] = 8,
    dataset: DatasetOption = Path("dataset"),
) -> None:
    """Write the agent's prompt (prompt.md) and the task's hot spots (hotspots.json)."""
    written = prompt_mod.write_prompt(load_task(task, dataset), out, max_hotspots=max_hotspots)
    typer.echo(" ".join(str(p) for p in written))


@app.command()
def split(
    diff: Annotated[Path, typer.Argument(help="The agent's whole diff against the base commit.")],
    out: Annotated[Path, typer.Option("--out", help="Folder for feature.patch, tests.patch, feature.md.")],
    task: TaskOption = None,
    description: Annotated[
        Optional[Path], typer.Option("--description", help="Description file, if not in the diff.")
    ] = None,
    repo: RepoOption = None,
    dataset: DatasetOption = Path("dataset"),
) -> None:
    """Split a diff into feature.patch, tests.patch and feature.md (with --task: check they apply)."""
    loaded = load_task(task, dataset) if task else None
    result = splitter.split_diff(
        _read(diff),
        origin=str(diff),
        test_patterns=loaded.test_patterns if loaded else splitter.diffs.DEFAULT_TEST_PATTERNS,
        description=_read(description) if description else None,
    )
    if result.problems:
        raise GenerationError(f"{diff}: {'; '.join(result.problems)}")
    if loaded:
        splitter.check_applies(result, resolve_repo(loaded, repo), loaded.base_commit)
    splitter.write_split(result, out)
    dropped = f", dropped {len(result.dropped)}" if result.dropped else ""
    typer.echo(f"{out}: {len(result.source_files)} source file(s), {len(result.test_files)} test file(s){dropped}")


@app.command()
def validate(
    task: Annotated[str, typer.Argument(help="Task folder, or <repo>_task/task<N> under --dataset.")],
    feature_patch: Annotated[Path, typer.Argument(help="The candidate's source patch.")],
    tests_patch: Annotated[Path, typer.Argument(help="The candidate's tests patch.")],
    out: Annotated[Optional[Path], typer.Option("--out", help="Write the verdict here (JSON).")] = None,
    backend: Annotated[Backend, typer.Option("--backend", help="Sandbox backend.")] = Backend.local,
    timeout: Annotated[float, typer.Option("--timeout", help="Time limit per test run, seconds.")] = 300.0,
    repo: RepoOption = None,
    dataset: DatasetOption = Path("dataset"),
) -> None:
    """Validate a candidate feature: applies, fail-to-pass, pass-to-pass, conflicts, novelty."""
    verdict = _validate(load_task(task, dataset), feature_patch, tests_patch, backend.value, timeout, repo)
    if out:
        atomic.write_json(out, verdict)
    typer.echo(validator.describe(verdict), nl=False)


def _validate(task, feature_patch: Path, tests_patch: Path, backend: str, timeout: float, repo: Path | None) -> dict:
    return validator.validate_candidate(
        task, _read(feature_patch), _read(tests_patch), git_dir=resolve_repo(task, repo),
        settings=validator.ValidationSettings(backend=backend, timeout=timeout),
    )


@app.command()
def conflicts(
    task: Annotated[str, typer.Argument(help="Task folder, or <repo>_task/task<N> under --dataset.")],
    candidate: Annotated[Optional[Path], typer.Option("--candidate", help="Also a candidate's feature.patch.")] = None,
    json_out: Annotated[Optional[Path], typer.Option("--json", help="Write [{f1, f2, has_conflict, files, regions}] here.")] = None,
    repo: RepoOption = None,
    dataset: DatasetOption = Path("dataset"),
) -> None:
    """The pairwise conflict matrix of a task's features (git merge of their source patches)."""
    loaded = load_task(task, dataset)
    results = conflicts_mod.conflict_matrix(loaded, resolve_repo(loaded, repo), _read(candidate) if candidate else None)
    if json_out:
        atomic.write_json(json_out, [r.to_dict() for r in results])
    typer.echo(conflicts_mod.render_table(results), nl=False)


@app.command()
def promote(
    attempt: Annotated[Path, typer.Argument(help="An attempt folder (with feature.patch, tests.patch, feature.md).")],
    task: Annotated[str, typer.Option("--task", help="The task it was generated for.")],
    backend: Annotated[Backend, typer.Option("--backend", help="Sandbox backend for the re-validation.")] = Backend.local,
    timeout: Annotated[float, typer.Option("--timeout", help="Time limit per test run, seconds.")] = 300.0,
    repo: RepoOption = None,
    dataset: DatasetOption = Path("dataset"),
) -> None:
    """Add an accepted generated feature to its task as feature<N+1>/, after validating it again."""
    loaded = load_task(task, dataset)
    folder, verdict = promote_feature(loaded, attempt, resolve_repo(loaded, repo),
                                      validator.ValidationSettings(backend=backend.value, timeout=timeout))
    conflicts_with = ", ".join(f"feature{i}" for i in verdict["conflict_result"]["conflicts"])
    typer.echo(f"{folder}: added (valid; conflicts with {conflicts_with})")


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="surrogateescape")
    except OSError as exc:
        raise GenerationError(f"{path}: {exc.strerror.lower()}") from None


def main() -> None:
    """Console entry point: GenerationError becomes `error: ...` and exit code 1."""
    try:
        app()
    except GenerationError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(1)
    except OSError as exc:  # an output folder that cannot be written, a full disk, ...
        typer.echo(f"error: {exc.filename or 'output'}: {(exc.strerror or str(exc)).lower()}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        typer.echo("interrupted: sandboxes closed, nothing half-written", err=True)
        sys.exit(130)
