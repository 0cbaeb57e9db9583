"""The `code` stage, first in dvc.yaml: for each stage script, a manifest of the files it runs (its
import closure, core.codeversion) with the hash of each file's bytes, in generated/code/<stage>.json.

Each other stage depends on its manifest rather than on the files one by one, so its lineage is
the same (a byte of its code changes, the manifest changes, the stage reruns; a file outside its
closure changes nothing) while dvc.lock stays short: DVC reads the whole lock many times per
`dvc repro`, and listing ~800 code files in it cost seconds per stage. This stage depends on the
folders `stages/` and the package as a whole; running it costs a fraction of a second."""

from __future__ import annotations

import hashlib
from pathlib import Path

from cooperbench.generation.core.codeversion import SRC, closure_files
from cooperbench.generation.core.layout import GENERATED
from cooperbench.generation.pipeline.common import Stage
from cooperbench.generation.util import atomic

ROOT = SRC.parent  # the project: dvc.yaml, stages/, src/
SCRIPTS = Path("stages")
PACKAGE_DIR = "src/cooperbench/generation"
MANIFESTS = GENERATED / "code"

STAGE = Stage(
    "code",
    "What each stage runs: the files of its script's import closure with their hashes, one manifest per "
    "stage (the stages depend on these, not on the files one by one).",
    params=(), deps=(str(SCRIPTS), PACKAGE_DIR), outs=(str(MANIFESTS),),
)


def manifest_path(stage: str) -> Path:
    return MANIFESTS / f"{stage}.json"


def closure(stage: str) -> list[str]:
    """The files (paths from the project root) that stages/<stage>.py runs: itself, the package's
    modules it imports and the package data they open (a folder: each of its files)."""
    return [str(file.relative_to(ROOT)) for file in closure_files(ROOT / SCRIPTS / f"{stage}.py")]


def manifest(stage: str) -> dict[str, str]:
    return {name: hashlib.sha256((ROOT / name).read_bytes()).hexdigest() for name in closure(stage)}


def run(_: None) -> None:
    names = sorted(script.stem for script in (ROOT / SCRIPTS).glob("*.py") if script.stem != STAGE.name)
    manifests = {name: manifest(name) for name in names}  # all read before any is written
    for name, files in manifests.items():
        atomic.write_json(manifest_path(name), {"stage": name, "files": files})
    print(f"code: {len(names)} stage manifests")
