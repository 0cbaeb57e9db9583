"""The code versions a stage process asks for (an attempt's and a verdict's on the local
backend), read from the cache's kept versions against computed from the closure's syntax trees:
each a new process, as every stage and CLI command is, alternately, `--times` each, in one run.

Run: python bench/code_version.py [--times 5]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROBE = ("from cooperbench.generation.core.codeversion import code_version as v;"
         "from cooperbench.generation.core.keys import AGENT, GRADER, VERIFIER;"
         "[v(e, 'local') for e in (AGENT, VERIFIER, GRADER)]")


def timed(cache: Path) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", PROBE], check=True, env={**os.environ, "COOPERBENCH_CACHE": str(cache)})
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--times", type=int, default=5)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="cb-bench-codeversion-"))
    try:
        kept, computed = [], []
        timed(root / "kept")  # computed once and kept
        for i in range(args.times):
            kept.append(timed(root / "kept"))
            computed.append(timed(root / f"fresh-{i}"))  # an empty cache: computed
        k, c = statistics.median(kept), statistics.median(computed)
        print(f"a process asking for 3 code versions: kept {k:.2f} s, computed {c:.2f} s (median of {args.times}): "
              f"ratio {k / c:.2f}, {c - k:.2f} s saved a process; load {os.getloadavg()[0]:.2f}")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
