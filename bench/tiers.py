"""How long each test tier takes here: the quick tier (`pytest`), and with --full the whole suite
as CI runs it (`pytest --full -n 2`). Targets: quick < 3 min, full < 20 min, on 2 cores.
Run: python bench/tiers.py [--full]"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TIERS = {"quick": [], "full": ["--full", "-n", "2"]}


def timed(name: str) -> None:
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", *TIERS[name]], cwd=ROOT, capture_output=True, text=True)
    seconds = time.monotonic() - started
    summary = next((line for line in reversed(proc.stdout.splitlines()) if re.search(r"\d+ (passed|failed)", line)), "no summary")
    print(f"{name:5} tier: {seconds:7.1f} s  {summary.strip('= ')}  (load {os.getloadavg()[0]:.2f}, exit {proc.returncode})")


if __name__ == "__main__":
    timed("quick")
    if "--full" in sys.argv[1:]:
        timed("full")
