"""Test runs at once against one run per core (`limits.one_core`, which every graded run takes):
`--runs` plain runs of a task's runner on its bare base, each in its own local sandbox, all
started together, once as `sandbox.run` (as many at once as were started) and once as
`sandbox.run_heavy` (at most one a core), alternately, `--times` each, in one run. By default
the jest task react_hook_form task85 of ../shared/real-tasks (its runner copies a 55,000-file
node_modules before jest starts), and the demo's miniconf task (a pytest run under a second).
The cache is on /dev/shm, as the test suite's is (a VM disk writes that node_modules in 29 s).

Run: python bench/cores.py [--runs 4] [--times 2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REAL = Path(os.environ.get("COOPERBENCH_REAL_TASKS") or ROOT.parent / "shared" / "real-tasks")


def busy_cpu() -> float:
    """This machine's busy CPU seconds so far (/proc/stat: a sandbox's processes are not all
    waited for by this one, so its own rusage misses them); run the bench on an idle machine."""
    user, nice, system, idle, iowait, irq, softirq, steal = map(int, Path("/proc/stat").read_text().split()[1:9])
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def started_together(task, git_dir: Path, runs: int, heavy: bool) -> tuple[float, float]:
    """(wall seconds, busy CPU seconds of the machine) for `runs` plain runs started at once."""
    from cooperbench.generation.core.contract import PATCHES_DIR, RUNNER_PATH
    from cooperbench.generation.grading.testrun import plain_env
    from cooperbench.generation.sandbox.backends import open_sandbox
    from cooperbench.generation.tasks.environment import BASE_RUN_PATCH

    def one(_: int) -> None:
        with open_sandbox(task, "local", git_dir) as sandbox:
            sandbox.write_file(f"{PATCHES_DIR}/tests.patch", BASE_RUN_PATCH.encode())
            run = sandbox.run_heavy if heavy else sandbox.run
            result = run(f"bash {RUNNER_PATH} tests.patch", timeout=900, env=plain_env())
            assert result.exit_code == 0, result.stdout[-2000:] + result.stderr[-2000:]

    cpu, started = busy_cpu(), time.perf_counter()
    with ThreadPoolExecutor(runs) as pool:
        list(pool.map(one, range(runs)))
    return time.perf_counter() - started, busy_cpu() - cpu


def measure(name: str, task, git_dir: Path, runs: int, times: int) -> None:
    from cooperbench.generation.sandbox.backends import open_sandbox

    with open_sandbox(task, "local", git_dir):  # the environment, built before anything is timed
        pass
    found: dict[bool, list[tuple[float, float]]] = {False: [], True: []}
    for _ in range(times):
        for heavy in (False, True):
            found[heavy].append(started_together(task, git_dir, runs, heavy))
    (wall_all, cpu_all), (wall_cores, cpu_cores) = ([statistics.median(x) for x in zip(*found[h])] for h in (False, True))
    print(f"{name}: {runs} runs started together: all at once {wall_all:.1f} s wall, {cpu_all:.1f} CPU-s; "
          f"one a core ({os.cpu_count()} here) {wall_cores:.1f} s wall, {cpu_cores:.1f} CPU-s: "
          f"wall ratio {wall_cores / wall_all:.2f}, CPU ratio {cpu_cores / cpu_all:.2f} (median of {times}); "
          f"load {os.getloadavg()[0]:.2f}")


def main() -> None:
    from cooperbench.generation.tasks.task import find_clone, load_task, resolve_repo

    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=4)
    parser.add_argument("--times", type=int, default=2)
    args = parser.parse_args()
    os.environ.setdefault("COOPERBENCH_CACHE", tempfile.mkdtemp(prefix="cb-bench-cores-", dir="/dev/shm"))
    demo = load_task(ROOT / "dataset" / "miniconf_task" / "task1")
    measure("demo miniconf (pytest)", demo, resolve_repo(demo), args.runs, args.times)
    jest = REAL / "dataset" / "react_hook_form_task" / "task85"
    if not jest.is_dir():
        print(f"{jest}: absent, the jest measure left out")
        return
    task = load_task(jest)
    repos = Path(tempfile.mkdtemp(prefix="cb-bench-cores-repos-"))
    for tarball in (REAL / "repos").glob("react-hook-form+*.tar.gz"):
        target = repos / tarball.name.removesuffix(".tar.gz")
        target.mkdir()
        subprocess.run(["tar", "-xzf", str(tarball), "-C", str(target)], check=True)
        subprocess.run(["git", "-C", str(target / "repo"), "reset", "-q", "--hard"], check=True)
    measure("react_hook_form task85 (jest)", task, find_clone(task, repos), args.runs, args.times)


if __name__ == "__main__":
    main()
