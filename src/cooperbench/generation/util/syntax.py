"""Python source parsed behind one lock. CPython 3.11's AST constructor keeps its recursion depth
in shared state, so two threads parsing at once can fail with "SystemError: AST constructor
recursion depth mismatch" (python/cpython#106905); the stages parse in threads (code versions
while attempts run, harness checks while candidates are validated)."""

from __future__ import annotations

import ast
import threading

_parsing = threading.Lock()


def parse(text: str) -> ast.Module:
    with _parsing:
        return ast.parse(text)
