"""Stage `prompt`: the agent's prompt and the hot spots of every task params.yaml names.

Each task's folder records the digest of the task files it was made from (`inputs.json`, with a
key over that digest, the prompt settings and the code): a task whose key is unchanged keeps its
prompt, a task no longer named is removed. Later stages depend on these folders, not on dataset/.
"""

from __future__ import annotations

from cooperbench.generation.agent.prompt import write_prompt
from cooperbench.generation.core.codeversion import code_version
from cooperbench.generation.core.keys import PROMPTER
from cooperbench.generation.core.records import digest_folder, key_of, prune, published_key
from cooperbench.generation.pipeline.common import (
    PROMPTS,
    TASK_INPUTS,
    TASK_PARAMS,
    Stage,
    git_dir_for,
    load_tasks,
    task_names,
)
from cooperbench.generation.schemas import Params
from cooperbench.generation.util import atomic

STAGE = Stage(
    "prompt",
    "One prompt per task: its features, hotspots and runner. Every later stage checks its "
    "tasks against the digests recorded here.",
    params=("prompt", "repos", *TASK_PARAMS), deps=("dataset", "generated/onboard"), outs=("generated/prompts",),
    persist=("generated/prompts",),
)


def run(params: Params) -> None:
    code = code_version(PROMPTER)
    made = 0
    for name, task in load_tasks(params).items():
        inputs = {"task": name, "task_files": digest_folder(task.path), "settings": params.prompt.model_dump(),
                  "repo": params.repos.get(name), "code": code}
        inputs["key"] = key_of(inputs)
        if published_key(PROMPTS / name / TASK_INPUTS) == inputs["key"]:
            continue
        with atomic.built(PROMPTS / name) as (staged,):
            write_prompt(task, git_dir_for(params, task), staged, params.prompt)
            atomic.write_json(staged / TASK_INPUTS, inputs)
        made += 1
    names = task_names(params)
    prune(PROMPTS, [PROMPTS / name for name in names])
    print(f"prompts: {made} written, {len(names) - made} kept")
