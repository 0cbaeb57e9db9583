"""Running many attempts in parallel inside one process (a DVC stage, or the CLI).

An item that fails for infrastructure reasons leaves nothing behind; the others go on, and the
run then fails in one line, so that DVC records nothing and the next run retries. Ctrl-C closes
every sandbox at once: items in flight end, nothing half-written stays.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Callable, TypeVar

from cooperbench.generation.errors import GenerationError, InfrastructureError
from cooperbench.generation.sandbox.base import close_all, stopping

T = TypeVar("T")


def run_items(items: list[T], work: Callable[[T], None], *, jobs: int, name: Callable[[T], str], what: str,
              retries: int = 1) -> None:
    """`work(item)` for every item, `jobs` at a time; an infrastructure failure (an endpoint, a
    sandbox that would not start) is tried again up to `retries` times, nothing else is; the
    failures left are gathered and raised at the end."""
    if not items:
        return

    def attempt(item: T) -> None:
        for tried in range(1, max(1, retries) + 1):
            try:
                return work(item)
            except InfrastructureError:
                if tried == max(1, retries) or stopping.is_set():
                    raise
                time.sleep(min(30, 2 ** tried))

    failures: list[tuple[T, BaseException]] = []
    pool = ThreadPoolExecutor(max_workers=max(1, jobs))
    futures = {pool.submit(attempt, item): item for item in items}
    try:
        for future in as_completed(futures):
            error = future.exception()
            if error is not None:
                failures.append((futures[future], error))
    except KeyboardInterrupt:
        for future in futures:
            future.cancel()
        close_all()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown()
    if failures:
        item, error = failures[0]
        message = str(error) if isinstance(error, GenerationError) else f"{type(error).__name__}: {error}"
        raise GenerationError(
            f"{len(failures)} of {len(items)} {what} failed and were not recorded (finished ones are kept; the next run "
            f"retries these); first: {name(item)}: {message}"
        )
