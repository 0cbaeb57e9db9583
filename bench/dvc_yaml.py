"""DVC's YAML parsing, with and without ruamel.yaml's C parser (ruamel.yaml.clib, which
ruamel.yaml stopped installing in 0.19; pyproject.toml names it).

1. In process: this checkout's dvc.yaml and dvc.lock parsed as DVC parses them (`typ="safe"`),
   by the C parser and by the pure-Python one.
2. `dvc status` and `dvc exp show` in this checkout (after `dvc repro`), each run alternately with
   the C parser and without it (a module on PYTHONPATH that makes `import _ruamel_yaml` fail, as
   on a machine without the wheel); the medians and their ratio, measured in one run.

Run: python bench/dvc_yaml.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parents[1]
DVC = Path(sys.executable).parent / "dvc"


def parse_seconds(text: str, pure: bool, rounds: int) -> float:
    started = time.perf_counter()
    for _ in range(rounds):
        YAML(typ="safe", pure=pure).load(text)
    return (time.perf_counter() - started) / rounds


def command_seconds(args: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run([str(DVC), *args], cwd=ROOT, env=env, check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    rounds = parser.parse_args().rounds
    for name in ("dvc.yaml", "dvc.lock"):
        text = (ROOT / name).read_text()
        c, pure = parse_seconds(text, False, rounds * 4), parse_seconds(text, True, rounds * 4)
        print(f"parse {name} ({len(text) / 1024:.0f} KB): C {c * 1000:.1f} ms, pure Python {pure * 1000:.1f} ms: {pure / c:.1f}x")
    with tempfile.TemporaryDirectory() as blocker:
        Path(blocker, "_ruamel_yaml.py").write_text('raise ImportError("blocked by bench/dvc_yaml.py")\n')
        with_c = {**os.environ, "DVC_NO_ANALYTICS": "1"}
        without = {**with_c, "PYTHONPATH": os.pathsep.join(filter(None, (blocker, os.environ.get("PYTHONPATH"))))}
        for args in (["status"], ["exp", "show", "--no-pager"]):
            times: dict[str, list[float]] = {"C": [], "pure": []}
            for _ in range(rounds):
                times["C"].append(command_seconds(args, with_c))
                times["pure"].append(command_seconds(args, without))
            c, pure = statistics.median(times["C"]), statistics.median(times["pure"])
            print(f"dvc {' '.join(args)}: C {c:.2f} s, pure Python {pure:.2f} s (medians of {rounds}): {pure / c:.2f}x")


if __name__ == "__main__":
    main()
