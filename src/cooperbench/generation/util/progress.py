"""Progress lines on stderr, whole lines at a time from parallel work."""

from __future__ import annotations

import sys
import threading

_lock = threading.Lock()


def say(line: str) -> None:
    with _lock:
        print(line, file=sys.stderr, flush=True)
