"""dvc.yaml, written from the code, so that it cannot drift from it: each stage's declaration
(STAGE in pipeline/<stage>.py: its params, data, outputs) and its code dep, the manifest of the
files stages/<stage>.py runs that the `code` stage writes (pipeline/code.py). A stage reads
params.yaml only as it declares it (common.Declared), so the params dvc.yaml lists are the ones
it reads.

`python -m cooperbench.generation.pipeline.dvcfile` writes dvc.yaml; `--check` exits 1 when it
differs (tests/test_lineage.py runs that)."""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

from cooperbench.generation.pipeline import (
    agent,
    audit,
    code,
    coop,
    judge,
    onboard,
    prompt,
    report,
    resolve,
    split,
    validate,
)
from cooperbench.generation.pipeline.code import ROOT, manifest_path
from cooperbench.generation.pipeline.common import Stage

STAGES = tuple(module.STAGE for module in (code, onboard, prompt, agent, split, validate, resolve, judge, coop, audit, report))
HEADER = """\
# The feature-generation pipeline: written by `python -m cooperbench.generation.pipeline.dvcfile`
# from the stage declarations (STAGE in src/cooperbench/generation/pipeline/<stage>.py); edit those
# and write it again (tests/test_lineage.py fails when this file differs). A stage's code dep is
# the manifest of its script's import closure (the `code` stage); its params are the keys it
# reads. One stage per model runs all of that model's attempts; per-attempt records keep finished
# attempts from running (or being billed) again. See docs/pipeline.md.
"""
PLOTS = [
    {"success rate per model": {"template": "bar_horizontal", "x": "success_rate",
                                "y": {"generated/plots/models.json": "model"}}},
    {"cost per valid feature": {"template": "bar_horizontal", "x": "cost_per_valid",
                                "y": {"generated/plots/models.json": "model"}}},
    {"conflicts": {"template": "heatmap", "x": "feature", "y": {"generated/plots/conflicts.json": "other"}}},
    "generated/plots/images",  # static SVG: success with intervals, a heatmap per task (render offline)
]


def code_deps(stage: Stage) -> list[str]:
    """The manifest of the code the stage runs; the `code` stage itself reads the code's folders."""
    return [] if stage is code.STAGE else [str(manifest_path(stage.name))]


def entry(stage: Stage) -> dict:
    """The dvc.yaml entry of one stage (under `do:` for a stage per model)."""
    def out(path: str) -> str | dict:
        options = {**({"persist": True} if path in stage.persist else {}), **({} if stage.cache else {"cache": False})}
        return {path: options} if options else path

    body = {"desc": stage.desc, "cmd": f"python stages/{stage.name}.py" + (" ${key}" if stage.per_model else ""),
            "deps": [*code_deps(stage), *stage.deps], **({"params": list(stage.params)} if stage.params else {})}
    if stage.metrics:
        body["metrics"] = [{path: {"cache": False}} for path in stage.metrics]
    body["outs"] = [out(path) for path in stage.outs]
    return {"foreach": "${models}", "do": body} if stage.per_model else body


class _Dumper(yaml.SafeDumper):
    def increase_indent(self, flow: bool = False, indentless: bool = False):  # lists indented under their key
        return super().increase_indent(flow, False)


def render() -> str:
    document = {"stages": {stage.name: entry(stage) for stage in STAGES}, "plots": PLOTS}
    return HEADER + yaml.dump(document, Dumper=_Dumper, sort_keys=False, width=100, allow_unicode=True)


def main(argv: list[str]) -> int:
    target = ROOT / "dvc.yaml"
    text = render()
    if "--check" in argv:
        if target.read_text(encoding="utf-8") != text:
            print(f"{target}: differs from what the stage declarations make; run "
                  f"`python -m cooperbench.generation.pipeline.dvcfile`", file=sys.stderr)
            return 1
        return 0
    Path(target).write_text(text, encoding="utf-8")
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
