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


def code_of(text: str) -> str | None:
    """A Python module's code, its docstrings left out (comments and layout never are in a syntax
    tree): two texts with the same code differ in documentation only. None when it does not parse."""
    try:
        tree = parse(text)
    except (SyntaxError, ValueError):
        return None
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and body
                and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)):
            node.body = body[1:] or [ast.Pass()]
    return ast.dump(tree)
