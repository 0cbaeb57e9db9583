"""Tasks in the CooperBench layout: features, base commit, image, test command, repository.

A task folder holds `setup.sh` (REPO_NAME, BASE_COMMIT, the upstream clone URL), `runner.sh`
(how the tests run), an optional `task.yaml` (overrides), an optional `repo/` (the repository
shipped as plain files) and `feature<K>/` folders with `feature.md`, `feature.patch` and
`tests.patch`. Loading checks what can be checked without the repository; `resolve_repo` and
`check_patches_apply` check the rest.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cooperbench.generation.core.cache import cache_root
from cooperbench.generation.errors import GenerationError
from cooperbench.generation.patches import diffs
from cooperbench.generation.patches.gitutil import git_dir_of, has_commit, patch_applies, ref_target, run_git
from cooperbench.generation.schemas import TaskSettings, read_yaml
from cooperbench.generation.util.owners import scratch_dir

FEATURE_FILES = ("feature.md", "feature.patch", "tests.patch")
FEATURE_DIR_RE = re.compile(r"^feature(\d+)$")
TASK_DIR_RE = re.compile(r"^task(\d+)$")
SHA_RE = r"[0-9a-f]{40}"
SHIPPED_MESSAGE = "base"  # the commit message of a shipped repo: its commit id depends on files only


TITLE_RE = re.compile(r"^[#*\s]*Title[*\s]*:[*\s]*(?P<title>.*?)[*\s]*$", re.IGNORECASE | re.MULTILINE)


@dataclass(frozen=True)
class Feature:
    """One existing feature of a task."""

    id: int
    path: Path
    description: str
    feature_patch: str
    tests_patch: str

    @property
    def title(self) -> str:
        """The `Title:` line's text (however it is decorated: `**Title**:`, `**Title: x**`,
        `# Title: x`), else the first line; markdown marks around it are no part of it."""
        match = TITLE_RE.search(self.description)
        if match:
            return match.group("title").strip()
        first = next((line for line in self.description.splitlines() if line.strip()), "")
        return first.strip("#* \t")


@dataclass(frozen=True)
class Task:
    path: Path
    repo_name: str  # the dataset folder, e.g. "dspy_task"
    task_id: int
    base_commit: str
    upstream_url: str | None
    features: tuple[Feature, ...]
    runner: str | None  # the runner.sh text (or one made from task.yaml `tests:`)
    test_patterns: tuple[str, ...] = diffs.DEFAULT_TEST_PATTERNS
    network: bool = False  # task.yaml `network: true`: its tests need the network

    @property
    def name(self) -> str:
        return f"{self.repo_name}/task{self.task_id}"

    @property
    def image(self) -> str:
        repo = self.repo_name.removesuffix("_task").replace("_", "-")
        return f"akhatua/cooperbench-{repo}:task{self.task_id}"

    @property
    def shipped_repo(self) -> Path | None:
        repo = self.path / "repo"
        return repo if repo.is_dir() else None

    def feature(self, feature_id: int) -> Feature:
        for feature in self.features:
            if feature.id == feature_id:
                return feature
        raise GenerationError(f"{self.path}: no feature{feature_id}")


# ---------------------------------------------------------------- loading


def find_task_dir(spec: str | Path, dataset_root: Path | None = None) -> Path:
    """Accept a task folder path, or `<repo>_task/task<N>` under the dataset root."""
    path = Path(spec)
    if path.is_dir():
        return path
    root = dataset_root or Path("dataset")
    if (root / path).is_dir():
        return root / path
    raise GenerationError(f"{spec}: no such task folder (looked here and under {root}/)")


def load_task(spec: str | Path, dataset_root: Path | None = None) -> Task:
    """Read and check one task folder."""
    path = find_task_dir(spec, dataset_root).resolve()
    match = TASK_DIR_RE.match(path.name)
    if not match:
        raise GenerationError(f"{path}: a task folder is named task<N>")
    settings = _read_settings(path)
    base_commit, upstream_url = _read_origin(path, settings)
    return Task(
        path=path,
        repo_name=path.parent.name,
        task_id=int(match.group(1)),
        base_commit=base_commit,
        upstream_url=upstream_url,
        features=_read_features(path),
        runner=_read_runner(path, settings),
        test_patterns=tuple(settings.test_patterns or diffs.DEFAULT_TEST_PATTERNS),
        network=settings.network,
    )


def task_dirs(root: str | Path) -> list[Path]:
    """The task folders under a dataset root (`<repo>_task/task<N>/`), or `root` itself when it
    is one."""
    root = Path(root)
    if not root.is_dir():
        raise GenerationError(f"{root}: no such folder")
    if TASK_DIR_RE.match(root.name) and any(root.glob("feature*")):
        return [root]
    found = sorted(
        (d for d in root.glob("*/task*") if d.is_dir() and TASK_DIR_RE.match(d.name)),
        key=lambda d: (d.parent.name, int(d.name[4:])),
    )
    if not found:
        raise GenerationError(f"{root}: no task folders (<repo>_task/task<N>/) found")
    return found


def load_dataset(root: str | Path) -> list[Task]:
    """Every task under a dataset root; the first unreadable one is an error."""
    return [load_task(d) for d in task_dirs(root)]


def scan_dataset(root: str | Path) -> tuple[list[Task], list[str]]:
    """Every readable task under a dataset root, and one line per task that could not be read:
    listing commands report a broken task and go on with the rest."""
    tasks, problems = [], []
    for folder in task_dirs(root):
        try:
            tasks.append(load_task(folder))
        except GenerationError as exc:
            problems.append(str(exc))
    return tasks, problems


def within(file: Path, root: Path) -> Path:
    """`file`, unless it is a link (or sits in a linked folder) leading out of `root`: a task's
    files go into prompts and sandboxes, so a `feature.md` linked to `/etc/shadow` or a `.env`
    must never be read."""
    real = file.resolve()
    if not real.is_relative_to(root.resolve()):
        raise GenerationError(f"{file}: a link to outside the task folder ({real}): refused")
    return file


def _read_settings(path: Path) -> TaskSettings:
    file = within(path / "task.yaml", path)
    return read_yaml(file, TaskSettings) if file.exists() else TaskSettings()


def _read_origin(path: Path, settings: TaskSettings) -> tuple[str, str | None]:
    """Base commit and upstream URL: task.yaml, else setup.sh, else the Dockerfile."""
    texts = [_read_text(within(path / name, path)) for name in ("setup.sh", "Dockerfile")]
    text = "\n".join(t for t in texts if t)
    base = settings.base_commit
    if not base:
        found = re.search(rf"BASE_COMMIT=[\"']?({SHA_RE})", text) or re.search(
            rf"git checkout\s+({SHA_RE})", text
        )
        base = found.group(1) if found else None
    if not base or not re.fullmatch(SHA_RE, str(base)):
        raise GenerationError(f"{path / 'setup.sh'}: no BASE_COMMIT=<40 hex digits> found")
    url = settings.upstream_url
    if not url:
        found = re.search(r"git clone\s+(?:--\S+\s+)*[\"']?(\S+?)[\"']?(?:\s|$)", text)
        url = found.group(1) if found else None
    return str(base), url


def _read_text(file: Path) -> str | None:
    return file.read_text(encoding="utf-8", errors="replace") if file.is_file() else None


def _read_features(path: Path) -> tuple[Feature, ...]:
    features = []
    for folder in path.iterdir():
        match = FEATURE_DIR_RE.match(folder.name)
        if not (match and folder.is_dir()):
            continue
        texts = {}
        for name in FEATURE_FILES:
            file = within(folder / name, path)
            if not file.is_file():
                raise GenerationError(f"{file}: missing (a feature folder needs {', '.join(FEATURE_FILES)})")
            texts[name] = file.read_text(encoding="utf-8", errors="surrogateescape")
            if not texts[name].strip():
                raise GenerationError(f"{file}: empty")
        for name in ("feature.patch", "tests.patch"):
            if not diffs.parse_diff(texts[name], str(folder / name)):
                raise GenerationError(f"{folder / name}: no file changes")
        features.append(
            Feature(
                id=int(match.group(1)),
                path=folder,
                description=texts["feature.md"],
                feature_patch=texts["feature.patch"],
                tests_patch=texts["tests.patch"],
            )
        )
    if not features:
        raise GenerationError(f"{path}: no feature<K>/ folders")
    return tuple(sorted(features, key=lambda f: f.id))


# ---------------------------------------------------------------- how tests run

RUNNER_TEMPLATE = """#!/bin/bash
# Made from task.yaml `tests:` in the contract of the dataset's runner.sh:
# runner.sh <tests.patch> [feature.patch], patches under /patches, repository at /workspace/repo.
set -e
cd /workspace/repo
git apply --ignore-whitespace "/patches/$1" || git apply --3way "/patches/$1"
if [[ -n "$2" ]]; then git apply --ignore-whitespace "/patches/$2" || git apply --3way "/patches/$2"; fi
{install}
{command}
"""


def _read_runner(path: Path, settings: TaskSettings) -> str | None:
    """The script that runs the task's tests: task.yaml's `tests:` (command and install steps,
    made into a runner in the dataset's contract), else the task's runner.sh."""
    if settings.tests is not None:
        return RUNNER_TEMPLATE.format(install="\n".join(settings.tests.install), command=settings.tests.command)
    return _read_text(within(path / "runner.sh", path))


# ---------------------------------------------------------------- the repository


def resolve_repo(task: Task, repo: Path | None = None) -> Path:
    """A git directory holding the task's base commit.

    In order: the repository shipped in the task folder, a local clone the user names, a clone of
    the upstream URL (cached). Each must contain BASE_COMMIT.
    """
    if task.shipped_repo is not None and repo is None:
        return _materialize_shipped(task)
    if repo is not None:
        repo = Path(repo)
        if not repo.is_dir():
            raise GenerationError(f"{repo}: no such repository folder")
        git_dir = git_dir_of(repo)
        if run_git(["rev-parse", "--git-dir"], git_dir, check=False).returncode != 0:
            raise GenerationError(f"{repo}: not a git repository")
        if not has_commit(git_dir, task.base_commit):
            raise GenerationError(f"{repo}: base commit {task.base_commit[:12]} of {task.name} is not in this repository")
        return git_dir
    return _clone_upstream(task)


def find_clone(task: Task, folder: Path) -> Path:
    """The git repository under `folder` (itself, or up to two levels down) that holds the task's
    base commit: a folder of clones serves a whole dataset."""
    folder = Path(folder)
    candidates = [folder, *sorted(folder.glob("*")), *sorted(folder.glob("*/*"))]
    for candidate in candidates:
        if (candidate / ".git").exists() or (candidate / "HEAD").is_file() and (candidate / "objects").is_dir():
            git_dir = git_dir_of(candidate)
            if has_commit(git_dir, task.base_commit):
                return git_dir
    raise GenerationError(f"{folder}: no repository there holds base commit {task.base_commit[:12]} of {task.name}")


def _materialize_shipped(task: Task) -> Path:
    """Commit the shipped `repo/` folder with a fixed author and date into a cached bare repo.

    The commit id depends only on the files, so it must equal BASE_COMMIT; a mismatch means the
    folder was edited after the task was written. The folder is committed again whenever its
    files (_files_state) differ from those this process last committed, so an edit is never
    hidden by the cache.
    """
    target = cache_root() / "repos" / task.repo_name / f"task{task.task_id}.git"
    state = (str(target), _files_state(task.shipped_repo))
    if _SHIPPED.get(state) == task.base_commit and ref_target(target, "refs/heads/base") == task.base_commit:
        return target  # committed by this process from these very files
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix=".tmp-", dir=target.parent))
        try:
            run_git(["init", "--bare", "--quiet"], scratch)
            scratch.rename(target)
        except OSError:  # another process created it first
            shutil.rmtree(scratch, ignore_errors=True)
    commit = _commit_folder(target, task.shipped_repo, SHIPPED_MESSAGE)
    if commit != task.base_commit:
        raise GenerationError(
            f"{task.shipped_repo}: its files commit to {commit[:12]}, not BASE_COMMIT {task.base_commit[:12]} in "
            f"setup.sh: edited after the task was written, or an upstream repository (whose commit cannot be "
            f"remade from files: give a clone with --repo or `repos:` instead of shipping repo/)"
        )
    run_git(["update-ref", "refs/heads/base", commit], target)
    _SHIPPED[state] = commit
    return target


_SHIPPED: dict[tuple, str] = {}  # (cached repository, its folder's files as _files_state has them) -> commit


def _files_state(folder: Path) -> tuple:
    """Every file under `folder` with its mode and its bytes' digest (a link: its target): what
    its commit is made of, so the four git processes that commit the folder run again only when
    it differs (an edit within a clock tick keeps a file's size and time, never its digest)."""
    state = []
    for root, dirs, names in os.walk(folder):  # a link to a folder is among `dirs`, never walked
        for name in dirs + names:
            path = os.path.join(root, name)
            mode = os.lstat(path).st_mode
            if stat.S_ISLNK(mode) or stat.S_ISREG(mode):
                content = os.readlink(path).encode() if stat.S_ISLNK(mode) else Path(path).read_bytes()
                state.append((path, mode, hashlib.sha1(content).digest()))
    return tuple(sorted(state))


def _commit_folder(git_dir: Path, folder: Path, message: str) -> str:
    """Commit every file of `folder` (minus its .gitignore'd ones) into the repo at `git_dir`."""
    with scratch_dir("index") as index_dir:
        env = {"GIT_INDEX_FILE": str(Path(index_dir) / "index")}
        run_git(["--work-tree", str(folder), "add", "--all", "."], git_dir, env=env)
        tree = run_git(["write-tree"], git_dir, env=env).stdout.strip()
    return run_git(["commit-tree", tree, "-m", message], git_dir).stdout.strip()


def shipped_commit(task_dir: Path) -> str:
    """The commit id a task folder's shipped repo gets: what its setup.sh must say."""
    task_dir = Path(task_dir).resolve()
    with scratch_dir("repo") as scratch:
        run_git(["init", "--bare", "--quiet"], Path(scratch))
        return _commit_folder(Path(scratch), task_dir / "repo", SHIPPED_MESSAGE)


def _clone_upstream(task: Task) -> Path:
    if not task.upstream_url:
        raise GenerationError(f"{task.path}: no repo/ folder, no local clone named (`--repo`, `repo=`, or `repos:` in params.yaml) and no clone URL in setup.sh")
    target = cache_root() / "repos" / task.repo_name / "upstream.git"
    if target.exists() and has_commit(target, task.base_commit):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.exists():
        scratch = Path(tempfile.mkdtemp(prefix=".tmp-", dir=target.parent))
        try:
            proc = run_git(["clone", "--bare", "--quiet", task.upstream_url, str(scratch / "r.git")], None, check=False)
            if proc.returncode != 0:
                reason = (proc.stderr.strip().splitlines() or ["unknown error"])[-1]
                raise GenerationError(
                    f"{task.path / 'setup.sh'}: cannot clone {task.upstream_url} ({reason}); pass --repo PATH to a local clone"
                )
            (scratch / "r.git").rename(target)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    if not has_commit(target, task.base_commit):
        raise GenerationError(f"{task.upstream_url}: base commit {task.base_commit[:12]} of {task.name} not found")
    return target


def source_repo(source: Path) -> Path:
    """The git directory of a repository with its history (onboarding reads it): a clone, or a
    git bundle (cloned once into the cache)."""
    source = Path(source)
    if source.is_file():
        digest = hashlib.sha256(source.read_bytes()).hexdigest()[:16]
        target = cache_root() / "repos" / "onboard" / f"{source.stem}-{digest}.git"
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            scratch = Path(tempfile.mkdtemp(prefix=".tmp-", dir=target.parent))
            try:
                proc = run_git(["clone", "--bare", "--quiet", str(source), str(scratch / "r.git")], None, check=False)
                if proc.returncode != 0:
                    reason = (proc.stderr.strip().splitlines() or ["unreadable"])[0].removeprefix("error: ")
                    raise GenerationError(f"{source}: not a git bundle or repository (git: {reason[:200]})")
                (scratch / "r.git").rename(target)
            finally:
                shutil.rmtree(scratch, ignore_errors=True)
        return target
    if not source.is_dir():
        raise GenerationError(f"{source}: no such repository or bundle")
    git_dir = git_dir_of(source)
    if run_git(["rev-parse", "--verify", "--quiet", "HEAD"], git_dir, check=False).returncode != 0:
        raise GenerationError(f"{source}: not a git repository with a history (no HEAD)")
    return git_dir


def check_patches_apply(task: Task, git_dir: Path) -> None:
    """Each feature's source and test patch applies to the base commit on its own."""
    for feature in task.features:
        for name, patch in (("feature.patch", feature.feature_patch), ("tests.patch", feature.tests_patch)):
            error = patch_applies(git_dir, task.base_commit, patch)
            if error:
                raise GenerationError(f"{feature.path / name}: does not apply to the base commit ({error})")
