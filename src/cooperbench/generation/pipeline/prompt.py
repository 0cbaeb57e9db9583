"""Stage `prompt`: the agent's prompt and the hot spots of every task params.yaml names.

Each task's folder records the digest of the task files it was made from (`inputs.json`, with a
key over that digest, the prompt settings and the code): a task whose key is unchanged keeps its
prompt, a task no longer named is removed. Later stages depend on these folders, not on dataset/.
"""

from __future__ import annotations

import shutil

from cooperbench.generation.agent.prompt import write_prompt
from cooperbench.generation.pipeline.codeversion import code_version
from cooperbench.generation.pipeline.common import PROMPTS, TASK_INPUTS, git_dir_for, load_params, load_tasks, task_names
from cooperbench.generation.pipeline.keys import PROMPTER
from cooperbench.generation.pipeline.records import digest_folder, key_of, prune, published_key
from cooperbench.generation.util import atomic


def run() -> None:
    params = load_params()
    code = code_version(PROMPTER)
    made = 0
    for name, task in load_tasks(params).items():
        inputs = {"task": name, "task_files": digest_folder(task.path), "settings": params.prompt.model_dump(),
                  "repo": params.repos.get(name), "code": code}
        inputs["key"] = key_of(inputs)
        if published_key(PROMPTS / name / TASK_INPUTS) == inputs["key"]:
            continue
        staged = atomic.staging_dir(PROMPTS / name)
        try:
            write_prompt(task, git_dir_for(params, task), staged, params.prompt)
            atomic.write_json(staged / TASK_INPUTS, inputs)
            atomic.replace_dir(staged, PROMPTS / name)
        finally:
            shutil.rmtree(staged, ignore_errors=True)
        made += 1
    names = task_names(params)
    prune(PROMPTS, [PROMPTS / name for name in names])
    print(f"prompts: {made} written, {len(names) - made} kept")
