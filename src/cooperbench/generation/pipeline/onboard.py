"""Stage `onboard`: the tasks of every repository params.yaml's `onboard.repos` names, from its
history (cooperbench.generation.onboard), into generated/onboard/<name>_task/.

Each repository's folder records what it was made from (`inputs.json`: the commit mined up to,
the onboarding and validation settings, the code version): a repository whose key is unchanged
keeps its tasks, one no longer named is removed. With `onboard.grow` its tasks join `tasks` for
every later stage (common.task_names).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from cooperbench.generation.core.codeversion import code_version
from cooperbench.generation.core.keys import ONBOARDER
from cooperbench.generation.core.records import key_of, prune, published_key
from cooperbench.generation.onboard.repository import Onboarding, onboard, resolve_ref
from cooperbench.generation.pipeline.common import ONBOARDED, ONBOARDED_TASKS, TASK_INPUTS, Stage
from cooperbench.generation.schemas import Params, ValidationSettings
from cooperbench.generation.tasks.task import source_repo
from cooperbench.generation.util import atomic
from cooperbench.generation.util.progress import say

STAGE = Stage(
    "onboard",
    "Tasks from the histories of the repositories `onboard.repos` names "
    "(docs/onboarding.md); with onboard.grow they join `tasks` downstream. A repository "
    "is read at `onboard.repos.<name>.ref`: pin it to a commit and its lineage is exact "
    "here.",
    params=("onboard", "backend", "validation.timeout"), outs=("generated/onboard",), persist=("generated/onboard",),
)


def run(params: Params) -> None:
    ONBOARDED.mkdir(parents=True, exist_ok=True)
    validation = ValidationSettings.of(backend=params.backend, timeout=params.validation.timeout)
    made = 0
    for name, source in params.onboard.repos.items():
        head = resolve_ref(source_repo(Path(source.path)), source.ref, Path(source.path))
        inputs = {"repo": name, "head": head, "code": code_version(ONBOARDER, params.backend),
                  "settings": params.onboard.model_dump(mode="json", exclude={"repos", "grow"}),
                  "validation": validation.model_dump(mode="json", exclude={"require"})}
        inputs["key"] = key_of(inputs)
        folder = ONBOARDED / f"{name}_task"
        if published_key(folder / TASK_INPUTS) == inputs["key"]:
            continue
        staged = Path(tempfile.mkdtemp(prefix=f".{name}.tmp-", dir=ONBOARDED))
        try:
            onboard(Onboarding(Path(source.path), staged, params.onboard, validation, name, head), say)
            atomic.write_json(staged / f"{name}_task" / TASK_INPUTS, inputs)
            atomic.replace_dir(staged / f"{name}_task", folder)
        finally:
            shutil.rmtree(staged, ignore_errors=True)
        made += 1
    prune(ONBOARDED, [ONBOARDED / f"{name}_task" for name in params.onboard.repos])
    listed = {name: [f"{name}_task/{task}" for task in _tasks(ONBOARDED / f"{name}_task")] for name in params.onboard.repos}
    atomic.write_json(ONBOARDED_TASKS, listed)
    print(f"onboard: {made} repositories onboarded, {len(params.onboard.repos) - made} kept")


def _tasks(folder: Path) -> list[str]:
    """The task folders onboarding wrote for one repository, by number."""
    return [d.name for d in sorted(folder.glob("task*"), key=lambda d: int(d.name[4:])) if d.name[4:].isdigit()]
