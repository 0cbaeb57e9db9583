"""Is a candidate an existing feature in disguise? Its source change against each feature's, with
names taken out of the comparison.

Each patch's changed lines (test files left out) become token lines in which every identifier
that is not a keyword is renamed by order of first appearance (`v1`, `v2`, ...) and every string
literal is one token: a feature copied with its functions, variables and messages renamed gives
the same lines. Two changes whose lines match at COPY_SIMILARITY or more are one change.
"""

from __future__ import annotations

import re
from difflib import SequenceMatcher

from cooperbench.generation.patches import diffs

COPY_SIMILARITY = 0.9
TOKEN_RE = re.compile(r"\"(?:\\.|[^\"\\])*\"|'(?:\\.|[^'\\])*'|`[^`]*`|[A-Za-z_$][\w$]*|\d[\w.]*|\S")
KEYWORDS = frozenset(
    "and as assert async await break case catch class const continue def default del do elif else enum except export "
    "extends false finally fn for from func function go if impl import in interface is lambda let loop match mod "
    "module mut new nil none not null or package pass pub raise return self static struct super switch this throw "
    "trait true try type typeof undefined use var while with yield None True False".split()
)


def change_lines(patch: str, test_patterns: tuple[str, ...]) -> list[str]:
    """The patch's added and removed source lines, names and strings normalized."""
    names: dict[str, str] = {}
    lines = []
    for file_diff in diffs.parse_diff(patch, "patch"):
        if file_diff.binary or diffs.is_test_path(file_diff.path, test_patterns):
            continue
        for hunk in file_diff.parsed:
            for line in hunk:
                if line.is_context or not line.value.strip():
                    continue
                tokens = []
                for token in TOKEN_RE.findall(line.value):
                    if token[0] in "\"'`":
                        tokens.append("STR")
                    elif (token[0].isalpha() or token[0] in "_$") and token not in KEYWORDS:
                        tokens.append(names.setdefault(token, f"v{len(names) + 1}"))
                    else:
                        tokens.append(token)
                lines.append(("+" if line.is_added else "-") + " ".join(tokens))
    return lines


def similarity(a: list[str], b: list[str]) -> float:
    if not a or not b:
        return 0.0
    return SequenceMatcher(None, a, b, autojunk=False).ratio()


def closest_feature(candidate: str, features: dict[int, str], test_patterns: tuple[str, ...]) -> tuple[int | None, float]:
    """The existing feature (id -> source patch) whose change is most like the candidate's."""
    mine = change_lines(candidate, test_patterns)
    best: tuple[int | None, float] = (None, 0.0)
    for feature_id, patch in sorted(features.items()):
        score = similarity(mine, change_lines(patch, test_patterns))
        if score > best[1]:
            best = (feature_id, score)
    return best[0], round(best[1], 3)
