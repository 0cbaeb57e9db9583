"""The command line: the seed's flags plus one subcommand per part of the pipeline.

Every failure the user can fix ends as one line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import sys
from dataclasses import asdict
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from cooperbench.generation.core.contract import BACKENDS
from cooperbench.generation.core.layout import PARAMS, PARAMS_VARIABLE, RUNS
from cooperbench.generation.errors import GenerationError
from cooperbench.generation.schemas import (
    DEFAULT_MODEL,
    MAX_ATTEMPTS,
    MAX_SECONDS,
    REQUIRES,
    STRATEGIES,
    AgentParams,
    AgentSettings,
    DecomposeParams,
    ModelParams,
    OnboardParams,
    PromptParams,
    ValidationSettings,
)
from cooperbench.generation.tasks.task import check_patches_apply, find_clone, load_task, resolve_repo, scan_dataset
from cooperbench.generation.util import atomic
from cooperbench.generation.util.environment import prepare_environment
from cooperbench.generation.validation import selfcheck

app = typer.Typer(
    add_completion=False,
    no_args_is_help=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    help="Generate new conflicting CooperBench features with an LLM agent, and check them.",
)


Backend = Enum("Backend", {name: name for name in BACKENDS}, type=str)  # the registry's names


def default(schema: type, field: str) -> str:
    """A setting's default, for help texts: the schema holds it, once."""
    return f"default {schema.model_fields[field].default}"


TaskOption = Annotated[Optional[str], typer.Option("--task", help="Task folder, or <repo>_task/task<N> under --dataset.")]
TaskArgument = Annotated[str, typer.Argument(help="Task folder, or <repo>_task/task<N> under --dataset.")]
DatasetOption = Annotated[Path, typer.Option("--dataset", help="Dataset root for short task names.")]
RepoOption = Annotated[Optional[Path], typer.Option("--repo", help="Local clone holding the task's base commit.")]
BackendOption = Annotated[Optional[Backend], typer.Option("--backend", help="Sandbox backend: " + "; ".join(
    f"{name}: {what}" for name, what in BACKENDS.items()) + " (default: params.yaml's `backend`, else local).")]
TimeoutOption = Annotated[Optional[float], typer.Option("--timeout", min=1, max=MAX_SECONDS, help=(
    f"Time limit per test run, seconds ({default(ValidationSettings, 'timeout')})."))]
Strategy = Enum("Strategy", {name: name for name in STRATEGIES}, type=str)
StrategyOption = Annotated[Strategy, typer.Option("--strategy", help=(
    "generate: each attempt a feature of the agent's design; decompose: one planning call splits a large feature "
    "(--feature, else the largest) into parts, each attempt implements one."))]
FeatureOption = Annotated[Optional[int], typer.Option("--feature", min=1, help=(
    "With --strategy decompose: the feature to split (default: the largest of "
    f"{DecomposeParams.model_fields['min_files'].default}+ files or {DecomposeParams.model_fields['min_lines'].default}+ "
    "source lines)."))]
Require = Enum("Require", {name: name for name in REQUIRES}, type=str)
RequireOption = Annotated[Optional[Require], typer.Option("--require", help=(
    "What a candidate's conflicts must be: conflict (the seed's rule), hard (one that git's union merge does not "
    "resolve), solvable (one the resolver solved). Default: params.yaml's `validation.require` where --params "
    f"exists, else {ValidationSettings.model_fields['require'].default}."))]
ResolverOption = Annotated[Optional[str], typer.Option("--resolver", help=(
    "The resolver's model (litellm name or replay/<session>), run on hard pairs under `require: solvable` "
    "(default: params.yaml's `resolver.model`)."))]
ParamsOption = Annotated[Path, typer.Option("--params", envvar=PARAMS_VARIABLE, help=(
    "A project's params.yaml, read when it exists: its `validation`, `backend` and `resolver` are the defaults "
    "here, so a command grades as `dvc repro` does."))]


@app.callback(invoke_without_command=True)
def seed(
    ctx: typer.Context,
    task: TaskOption = None,
    prompt_only: Annotated[bool, typer.Option("--prompt-only", help="Print the prompt and stop.")] = False,
    validate: Annotated[
        Optional[tuple[Path, Path]],
        typer.Option("--validate", metavar="FEATURE_PATCH TESTS_PATCH", help="Validate two patches."),
    ] = None,
    attempts: Annotated[int, typer.Option("--attempts", min=1, max=MAX_ATTEMPTS, help="Generation attempts.")] = 1,
    output: Annotated[Path, typer.Option("--output", help="Where generated attempts go.")] = RUNS,
    model: Annotated[str, typer.Option("--model", help="litellm model name, or replay/<session>.")] = DEFAULT_MODEL,
    backend: BackendOption = None,
    dataset: DatasetOption = Path("dataset"),
    repo: RepoOption = None,
    timeout: TimeoutOption = None,
    require: RequireOption = None,
    resolver: ResolverOption = None,
    params: ParamsOption = PARAMS,
    jobs: Annotated[int, typer.Option("--jobs", min=1, help="Attempts run at the same time.")] = 1,
    step_limit: Annotated[Optional[int], typer.Option("--step-limit", min=1, help=(
        f"Agent steps per attempt ({default(ModelParams, 'step_limit')})."))] = None,
    cost_limit: Annotated[Optional[float], typer.Option("--cost-limit", min=0, help=(
        f"Model dollars per attempt ({default(ModelParams, 'cost_limit')})."))] = None,
    sample: Annotated[Optional[int], typer.Option("--sample", min=0, help=(
        f"Sample number: change it for fresh attempts of the same inputs ({default(AgentParams, 'sample')})."))] = None,
    strategy: StrategyOption = Strategy.generate,
    feature: FeatureOption = None,
    templates: Annotated[Optional[str], typer.Option("--templates", help=(
        "The agent's own mini-swe-agent templates: agents/<name>.yaml, any keys of the shipped agent.yaml "
        "(part of each attempt's key)."))] = None,
) -> None:
    """Seed-compatible entry: `--task T [--prompt-only | --validate F T | generation flags]`."""
    if ctx.invoked_subcommand is not None:
        return
    if task is None:
        typer.echo(ctx.get_help())
        raise typer.Exit(2)
    loaded = load_task(task, dataset)
    if prompt_only:
        from cooperbench.generation.agent.prompt import base_files, find_hotspots, render_prompt

        sys.stdout.write(render_prompt(loaded, find_hotspots(loaded, base_files(loaded, resolve_repo(loaded, repo)))))
        return
    rule = validity_of(params, backend, timeout, require, resolver)
    if validate is not None:
        _print_verdict(_validate(loaded, validate[0], validate[1], rule, repo, None), None)
        return
    from cooperbench.generation.pipeline.attempts import generate_features, render_summary

    results = generate_features(
        loaded, AgentSettings.of(model, **given(step_limit=step_limit, cost_limit=cost_limit, sample=sample,
                                                templates=templates)),
        backend=rule.settings.backend, attempts=attempts, output=output, jobs=jobs, repo=repo,
        validation=rule.settings, strategy=strategy.value, decompose=DecomposeParams(**given(feature=feature)),
        resolver=rule.resolver,
    )
    typer.echo(render_summary(results, output), nl=False)


@app.command()
def tasks(
    root: Annotated[Path, typer.Argument(help="Dataset root or one task folder.")] = Path("dataset"),
    check: Annotated[bool, typer.Option("--check", help="Also check base commits and that patches apply.")] = False,
    repo: RepoOption = None,
    repos: Annotated[Optional[Path], typer.Option("--repos", help="A folder of clones; each task finds its own.")] = None,
) -> None:
    """List tasks and their features; an unreadable task is reported and skipped."""
    found, problems = scan_dataset(root)
    for task in found:
        status = ""
        if check:
            try:
                check_patches_apply(task, find_clone(task, repos) if repos else resolve_repo(task, repo))
                status = "  [ok: base commit present, every patch applies]"
            except GenerationError as exc:
                problems.append(str(exc))
                status = "  [check failed: see below]"
        typer.echo(f"{task.name}  base {task.base_commit[:12]}  image {task.image}{status}")
        for feature in task.features:
            typer.echo(f"  feature{feature.id}: {feature.title}")
    for problem in problems:
        typer.echo(f"skipped: {problem}", err=True)
    if problems:
        raise typer.Exit(1)


@app.command()
def prompt(
    task: TaskArgument,
    out: Annotated[Path, typer.Option("--out", help="Folder for prompt.md and hotspots.json.")],
    max_hotspots: Annotated[Optional[int], typer.Option(min=1, help=(
        f"Hot spots listed per kind ({default(PromptParams, 'max_hotspots')})."))] = None,
    dataset: DatasetOption = Path("dataset"),
    repo: RepoOption = None,
) -> None:
    """Write the agent's prompt (prompt.md) and the task's hot spots (hotspots.json)."""
    from cooperbench.generation.agent.prompt import write_prompt

    loaded = load_task(task, dataset)
    written = write_prompt(loaded, resolve_repo(loaded, repo), out, PromptParams(**given(max_hotspots=max_hotspots)))
    typer.echo(" ".join(str(p) for p in written))


@app.command()
def split(
    diff: Annotated[Path, typer.Argument(help="The agent's whole diff against the base commit.")],
    out: Annotated[Path, typer.Option("--out", help="Folder for feature.patch, tests.patch, feature.md.")],
    task: TaskOption = None,
    description: Annotated[Optional[Path], typer.Option("--description", help="Description file, if not in the diff.")] = None,
    repo: RepoOption = None,
    dataset: DatasetOption = Path("dataset"),
) -> None:
    """Split a diff into feature.patch, tests.patch and feature.md (with --task: check they apply)."""
    from cooperbench.generation.patches import diffs, splitter

    loaded = load_task(task, dataset) if task else None
    result = splitter.split_diff(
        _read(diff), origin=str(diff),
        test_patterns=loaded.test_patterns if loaded else diffs.DEFAULT_TEST_PATTERNS,
        description=_read(description) if description else None,
    )
    if result.problems:
        raise GenerationError(f"{diff}: {'; '.join(sentence for _, sentence in result.problems)}")
    if loaded:
        splitter.check_applies(result, resolve_repo(loaded, repo), loaded.base_commit)
    splitter.write_split(result, out)
    dropped = f", dropped {len(result.dropped)}" if result.dropped else ""
    typer.echo(f"{out}: {len(result.source_files)} source file(s), {len(result.test_files)} test file(s){dropped}")


@app.command()
def validate(
    task: TaskArgument,
    feature_patch: Annotated[Path, typer.Argument(help="The candidate's source patch.")],
    tests_patch: Annotated[Path, typer.Argument(help="The candidate's tests patch.")],
    out: Annotated[Optional[Path], typer.Option("--out", help="Write the verdict here (JSON).")] = None,
    backend: BackendOption = None,
    timeout: TimeoutOption = None,
    require: RequireOption = None,
    resolver: ResolverOption = None,
    description: Annotated[Optional[Path], typer.Option("--description", help=(
        "The candidate's feature.md, which the resolver reads under `require: solvable` (default: feature.md "
        "beside FEATURE_PATCH)."))] = None,
    params: ParamsOption = PARAMS,
    repo: RepoOption = None,
    dataset: DatasetOption = Path("dataset"),
) -> None:
    """Validate a candidate feature: applies, fail-to-pass, pass-to-pass, conflicts, novelty."""
    rule = validity_of(params, backend, timeout, require, resolver)
    _print_verdict(_validate(load_task(task, dataset), feature_patch, tests_patch, rule, repo, description), out)


@app.command("check-feature")
def check_feature(
    task: TaskArgument,
    feature: Annotated[int, typer.Argument(help="The feature to validate against the rest of its task.")],
    out: Annotated[Optional[Path], typer.Option("--out", help="Write the verdict here (JSON).")] = None,
    backend: BackendOption = None,
    timeout: TimeoutOption = None,
    require: RequireOption = None,
    params: ParamsOption = PARAMS,
    repo: RepoOption = None,
    dataset: DatasetOption = Path("dataset"),
) -> None:
    """Validate feature K of a task against the rest of it (what every accepted feature passes;
    `require: solvable` is checked as `hard`: an accepted feature's resolutions are not kept)."""
    loaded = load_task(task, dataset)
    verdict = selfcheck.check_feature(loaded, feature, resolve_repo(loaded, repo),
                                      checked_as_hard(validity_of(params, backend, timeout, require, None, graded=False)))
    _print_verdict(verdict, out)


@app.command("check-modal")
def check_modal(
    task: TaskArgument = "miniconf_task/task1",
    repo: RepoOption = None,
    dataset: DatasetOption = Path("dataset"),
) -> None:
    """Try Modal first: credentials, the task's environment image (found or built), one sandbox, one command."""
    from cooperbench.generation.sandbox.modal_backend import smoke

    loaded = load_task(task, dataset)
    found = smoke(loaded, resolve_repo(loaded, repo))
    print(f"Modal: credentials accepted; environment image {found['image']}; a sandbox in {found['sandbox_seconds']} s "
          f"(the image built first when this workspace had none); a command in {found['command_seconds']} s; "
          f"repository {'at' if found['at_base_commit'] else 'NOT at'} the base commit; {found['python'] or 'no python'}")
    if not found["ok"]:
        raise GenerationError(f"{loaded.name}: the Modal sandbox does not hold the repository at the base commit "
                              f"(ours to fix: please report it)")


@app.command("check-dataset")
def check_dataset(
    root: Annotated[Path, typer.Argument(help="Dataset root or one task folder.")] = Path("dataset"),
    repos: Annotated[Optional[Path], typer.Option("--repos", help="A folder of clones; each task finds its own.")] = None,
    features: Annotated[Optional[str], typer.Option("--features", help="Only these feature ids, e.g. 1,3.")] = None,
    json_out: Annotated[Optional[Path], typer.Option("--json", help="Write the rows here (JSON).")] = None,
    quality: Annotated[bool, typer.Option("--quality", help=(
        "Classify every conflicting pair instead (trivial: git's union merge passes both features' tests; hard: it "
        "does not): which pairs test coordination at all."))] = False,
    jobs: Annotated[int, typer.Option("--jobs", min=1, help="Pairs classified at the same time.")] = 2,
    judge: Annotated[Optional[str], typer.Option("--judge", help=(
        "With --quality: judge every feature's description against its tests with this model (litellm name, or "
        "replay/<name>: <task>/replays/<name>.feature<K>.traj.json, else <name>.traj.json)."))] = None,
    solver: Annotated[list[str], typer.Option("--solver", help=(
        "With --quality: a solver model whose teams of two agents take each hard pair (repeat for more)."))] = [],  # noqa: B006
    backend: BackendOption = None,
    timeout: TimeoutOption = None,
    require: RequireOption = None,
    params: ParamsOption = PARAMS,
) -> None:
    """Every feature of every task, each validated against the rest of its task: a table
    (`require: solvable` is checked as `hard`). With --quality, every pair classified and every
    feature checked as a benchmark needs it (steady, every part needed, judged, solved by teams)."""
    rule = validity_of(params, backend, timeout, require, None, graded=False)
    settings = checked_as_hard(rule)
    found, problems = scan_dataset(root)
    if quality:
        from cooperbench.generation.pipeline.judge import judge_template
        from cooperbench.generation.pipeline.trust import render_trust, trust

        judge_model = ModelParams(name=judge) if judge else None
        solvers = {name: AgentSettings.of(name, **rule.agent.model_dump()) for name in solver}
        audits, rows, teams = [], [], []
        for task in found:
            row, records = selfcheck.check_quality(task, repos, settings, jobs)
            audits.append((row, records))
            typer.echo(f"{task.name}: {row.conflicting} conflicting pairs, {row.trivial} trivial, {row.hard} hard", err=True)
            if not row.detail:
                git_dir = find_clone(task, repos) if repos else resolve_repo(task)
                found_rows, found_teams = trust(task, git_dir, settings, records, judge_model,
                                                judge_template(rule.judge.prompt), solvers, rule.agent.retries)
                rows += found_rows
                teams += found_teams
        if json_out:
            atomic.write_json(json_out, {"tasks": [{**asdict(row), "pairs": records} for row, records in audits],
                                         "features": rows, "teams": teams})
        typer.echo(selfcheck.render_quality([row for row, _ in audits]), nl=False)
        typer.echo("\n" + render_trust(rows, teams), nl=False)
        for problem in problems:
            typer.echo(f"skipped: {problem}", err=True)
        return
    wanted = [int(x) for x in features.split(",")] if features else None
    rows = []
    for task in found:
        rows += selfcheck.check_task(task, repos, settings, wanted)
        typer.echo(f"{task.name}: " + ", ".join(f"feature{r.feature} {r.outcome}" for r in rows if r.task == task.name), err=True)
    rows += [selfcheck.Row(problem.split(":")[0], 0, "error", problem) for problem in problems]
    if json_out:
        atomic.write_json(json_out, [asdict(r) for r in rows])
    typer.echo(selfcheck.render_table(rows), nl=False)


@app.command()
def conflicts(
    task: TaskArgument,
    candidate: Annotated[Optional[Path], typer.Option("--candidate", help="Also a candidate's feature.patch.")] = None,
    candidate_tests: Annotated[Optional[Path], typer.Option("--candidate-tests", help=(
        "The candidate's tests.patch (with --classify)."))] = None,
    classify: Annotated[bool, typer.Option("--classify", help=(
        "Also classify each conflicting pair: trivial (git's union merge of the two whole features passes both "
        "features' tests) or hard; one test run a pair."))] = False,
    json_out: Annotated[Optional[Path], typer.Option("--json", help=(
        "Write [{f1, f2, has_conflict, files, regions | class, evidence}] here (the candidate: the next feature id)."))] = None,
    jobs: Annotated[int, typer.Option("--jobs", min=1, help="Pairs classified at the same time.")] = 2,
    backend: BackendOption = None,
    timeout: TimeoutOption = None,
    params: ParamsOption = PARAMS,
    repo: RepoOption = None,
    dataset: DatasetOption = Path("dataset"),
) -> None:
    """The pairwise conflict matrix of a task's features (git merge of their source patches)."""
    from cooperbench.generation.conflicts import detect as engine

    loaded = load_task(task, dataset)
    git_dir = resolve_repo(loaded, repo)
    if classify:
        from cooperbench.generation.conflicts.classify import WholeFeature, class_counts, classify_task

        if bool(candidate) != bool(candidate_tests):
            raise GenerationError("--classify with a candidate needs both --candidate and --candidate-tests")
        whole = WholeFeature(engine.candidate_id(loaded), _read(candidate), _read(candidate_tests)) if candidate else None
        records = classify_task(loaded, git_dir, validity_of(params, backend, timeout, None, None, graded=False).settings,
                                candidate=whole, jobs=jobs)
        if json_out:
            atomic.write_json(json_out, records)
        for r in records:
            detail = r["evidence"].get("problem") or ", ".join(r["evidence"].get("failed", []) + r["evidence"].get("broken", []))
            typer.echo(f"feature{r['f1']} x feature{r['f2']}: {r['class']}" + (f" ({detail[:160]})" if detail else ""))
        counts = class_counts(records)
        typer.echo(f"{len(records)} pairs: " + ", ".join(f"{n} {kind}" for kind, n in counts.items()))
    else:
        results = engine.conflict_matrix(loaded, git_dir, _read(candidate) if candidate else None)
        if json_out:
            atomic.write_json(json_out, [r.to_dict() for r in results])
        typer.echo(engine.render_table(results), nl=False)
    if candidate:
        typer.echo(f"feature{engine.candidate_id(loaded)}: the candidate ({candidate})")


@app.command()
def promote(
    attempt: Annotated[Path, typer.Argument(help="An attempt folder (with feature.patch, tests.patch, feature.md).")],
    task: Annotated[str, typer.Option("--task", help="The task it was generated for.")],
    backend: BackendOption = None,
    timeout: TimeoutOption = None,
    require: RequireOption = None,
    resolver: ResolverOption = None,
    params: ParamsOption = PARAMS,
    repo: RepoOption = None,
    dataset: DatasetOption = Path("dataset"),
) -> None:
    """Add an accepted generated feature to its task as feature<N+1>/, after validating it again
    under the rule (written into its provenance.json)."""
    from cooperbench.generation.pipeline.promote import promote as promote_feature

    loaded = load_task(task, dataset)
    rule = validity_of(params, backend, timeout, require, resolver)
    folder, verdict = promote_feature(loaded, attempt, resolve_repo(loaded, repo), rule.settings, resolver=rule.resolver,
                                      judge=rule.judge, retries=rule.agent.retries)
    conflicts_with = ", ".join(f"feature{i}" for i in verdict["conflict_result"]["conflicts"])
    typer.echo(f"{folder}: added (valid under `require: {rule.settings.require}`; conflicts with {conflicts_with})")


@app.command()
def expand(
    task: TaskArgument,
    rounds: Annotated[int, typer.Option("--rounds", min=1, max=1000, help="Expansion rounds: one feature accepted a round.")] = 1,
    model: Annotated[list[str], typer.Option("--model", help=(
        "litellm model name, or replay/<session>; repeat it for a model per round (the last one repeats).")
        )] = [DEFAULT_MODEL],  # noqa: B006 (typer reads the default)
    attempts: Annotated[int, typer.Option("--attempts", min=1, max=MAX_ATTEMPTS, help="Attempts per round.")] = 1,
    output: Annotated[Path, typer.Option("--output", help="Where the rounds and expansion_log.json go.")] = RUNS,
    resolver: ResolverOption = None,
    params: ParamsOption = PARAMS,
    jobs: Annotated[int, typer.Option("--jobs", min=1, help="Attempts run at the same time.")] = 1,
    backend: BackendOption = None,
    timeout: TimeoutOption = None,
    require: RequireOption = None,
    strategy: StrategyOption = Strategy.generate,
    feature: FeatureOption = None,
    repo: RepoOption = None,
    dataset: DatasetOption = Path("dataset"),
) -> None:
    """Grow a task: each round generates attempts and adds the best valid one as feature<N+1>/."""
    from cooperbench.generation.pipeline.expand import expand as run_expand
    from cooperbench.generation.pipeline.expand import render_log
    from cooperbench.generation.tasks.task import find_task_dir

    rule = validity_of(params, backend, timeout, require, resolver)
    log = run_expand(find_task_dir(task, dataset), rounds, [AgentSettings.of(name) for name in model],
                     validation=rule.settings, attempts=attempts, output=output, jobs=jobs, repo=repo, resolver=rule.resolver,
                     strategy=strategy.value, decompose=DecomposeParams(**given(feature=feature)))
    typer.echo(render_log(log), nl=False)


@app.command()
def onboard(
    repo: Annotated[Path, typer.Argument(help="A local git repository with its history, or a git bundle of one.")],
    out: Annotated[Path, typer.Option("--out", help="Dataset root the tasks go into (<name>_task/task<K>/).")],
    name: Annotated[Optional[str], typer.Option("--name", help="The dataset folder's name, without _task "
                                                "(default: the repository's folder name).")] = None,
    max_tasks: Annotated[Optional[int], typer.Option("--max-tasks", min=1, help=(
        f"Tasks to make ({default(OnboardParams, 'max_tasks')})."))] = None,
    min_features: Annotated[Optional[int], typer.Option("--min-features", min=2, max=12, help=(
        f"Proven features a task needs ({default(OnboardParams, 'min_features')})."))] = None,
    max_features: Annotated[Optional[int], typer.Option("--max-features", min=2, max=12, help=(
        f"Features a task gets at most ({default(OnboardParams, 'max_features')})."))] = None,
    window: Annotated[Optional[int], typer.Option("--window", min=1, help=(
        f"Changes merged after a base tried on it ({default(OnboardParams, 'window')})."))] = None,
    ref: Annotated[str, typer.Option("--ref", help="Mine the first-parent history up to this commit or branch.")] = "HEAD",
    backend: BackendOption = None,
    timeout: TimeoutOption = None,
    params: ParamsOption = PARAMS,
) -> None:
    """New tasks from a repository's history: merged changes with tests become features on a
    shared base, with an environment derived from the repository and every feature proven."""
    from cooperbench.generation.onboard.repository import Onboarding, render_report
    from cooperbench.generation.onboard.repository import onboard as run_onboard
    from cooperbench.generation.util.progress import say

    limits = OnboardParams(**given(max_tasks=max_tasks, min_features=min_features, max_features=max_features,
                                   window=window))
    settings = validity_of(params, backend, timeout, None, None, graded=False).settings
    report = run_onboard(Onboarding(repo, out, limits, settings, name, ref), say)
    typer.echo(render_report(report), nl=False)
    if not report["tasks"]:
        raise typer.Exit(1)


@app.command()
def report(
    params: Annotated[Path, typer.Option("--params", help="The pipeline's params.yaml.")] = PARAMS,
    out: Annotated[Path, typer.Option("--out", help="Where report.md, metrics and charts go (never generated/).")]
        = RUNS / "report",
) -> None:
    """After `dvc repro -k` left a model's stages failed (so the report stage could not run): the
    report of the models whose stages all ran, the others listed with their errors."""
    from cooperbench.generation.pipeline.common import load_params
    from cooperbench.generation.pipeline.report import partial_report

    typer.echo(partial_report(load_params(params), out), nl=False)
    typer.echo(f"written to {out}/report.md", err=True)


@app.command()
def export(
    out: Annotated[Path, typer.Argument(help="The JSONL file to write.")],
    params: Annotated[Path, typer.Option("--params", help="The pipeline's params.yaml.")] = PARAMS,
    everything: Annotated[bool, typer.Option("--all", help="Every attempt, the invalid ones too (`valid` says).")] = False,
) -> None:
    """The pipeline's valid features as SWE-bench-style JSONL (instance_id, patch, test_patch,
    problem_statement, FAIL_TO_PASS, PASS_TO_PASS), with the model, the rule and the conflicts."""
    from cooperbench.generation.pipeline.common import load_params
    from cooperbench.generation.pipeline.export import export_swebench

    lines = export_swebench(load_params(params), out, everything)
    typer.echo(f"{out}: {lines} instance(s)")


@app.command("export-release")
def export_release(
    out: Annotated[Path, typer.Argument(help="A new folder: the tasks go under it as <repo>_task/task<N>/.")],
    root: Annotated[Path, typer.Option("--dataset", help="Dataset root, or one task folder.")] = Path("dataset"),
) -> None:
    """Tasks in the public dataset's layout (promoted features included, listed with their
    provenance in generated-features.json): release files and features only, nothing of ours."""
    from cooperbench.generation.pipeline.export import MANIFEST
    from cooperbench.generation.pipeline.export import export_release as write_release

    found, problems = scan_dataset(root)
    if problems:
        raise GenerationError(f"{problems[0]} (the task's: fix it before a release)")
    manifest = write_release(found, out)
    typer.echo(f"{out}: {len(found)} task(s), {len(manifest)} generated feature(s) listed in {out / MANIFEST}")


@app.command()
def lineage(
    params: Annotated[Path, typer.Option("--params", help="The pipeline's params.yaml.")] = Path("params.yaml"),
) -> None:
    """Check that every generated feature.patch traces to its inputs: each attempt's record names
    the prompt, task files and settings that params.yaml and the dataset give now."""
    from cooperbench.generation.pipeline.lineage import check

    report, broken = check(params)
    typer.echo(report, nl=False)
    if broken:
        raise typer.Exit(1)


def given(**options) -> dict:
    """The options the user gave (None: not given, so the schema's default holds)."""
    return {name: value for name, value in options.items() if value is not None}


def validity_of(params: Path, backend: Backend | None, timeout: float | None, require: Require | None,
                resolver: str | None, graded: bool = True):
    """The rule and settings from params.yaml and the flags (pipeline/validity.py), said on stderr."""
    from cooperbench.generation.pipeline.validity import validity

    rule = validity(params, backend=backend and backend.value, timeout=timeout, require=require and require.value,
                    resolver=resolver, graded=graded)
    if graded:
        typer.echo(rule.describe(), err=True)
    return rule


def checked_as_hard(rule) -> ValidationSettings:
    """A dataset's own features keep no resolutions: `solvable` is checked as `hard` (said once)."""
    from cooperbench.generation.pipeline.validity import checkable

    if rule.settings.require == "solvable":
        typer.echo(f"{rule.describe()}; checked as `hard` here: a dataset's features keep no resolutions", err=True)
    return checkable(rule.settings)


def _validate(task, feature_patch: Path, tests_patch: Path, rule, repo: Path | None, description: Path | None) -> dict:
    from cooperbench.generation.pipeline.validity import validate_under

    if rule.settings.require == "solvable":
        description = description or feature_patch.parent / "feature.md"
        if not description.is_file():
            raise GenerationError(f"{description}: missing: under `require: solvable` the resolver reads the candidate's "
                                  "description (--description FILE)")
    return validate_under(task, resolve_repo(task, repo), _read(feature_patch), _read(tests_patch),
                          _read(description) if rule.settings.require == "solvable" else None, rule,
                          label=f"validate {feature_patch}")


def _print_verdict(verdict: dict, out: Path | None) -> None:
    from cooperbench.generation.grading.grade import describe

    if out:
        atomic.write_json(out, verdict)
    typer.echo(describe(verdict), nl=False)


def _read(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8", "surrogateescape")
    except OSError as exc:
        raise GenerationError(f"{path}: {(exc.strerror or str(exc)).lower()}") from None


def main() -> None:
    """Console entry point: GenerationError becomes `error: ...` and exit code 1."""
    prepare_environment()
    try:
        app()
    except GenerationError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(1)
    except OSError as exc:  # an output folder that cannot be written, a full disk, ...
        typer.echo(f"error: {exc.filename or 'output'}: {(exc.strerror or str(exc)).lower()}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        from cooperbench.generation.sandbox.base import close_all

        close_all()
        typer.echo("interrupted: sandboxes closed, nothing half-written", err=True)
        sys.exit(130)
