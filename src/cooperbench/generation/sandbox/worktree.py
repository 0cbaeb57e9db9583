"""The agent's candidate as it stands in its sandbox: the work tree's whole diff against the base
commit, and the description file, taken in a way nothing the agent did can shape. The agent loop
takes it once the agent ends; cooperbench-verify takes it whenever the agent asks."""

from __future__ import annotations

from cooperbench.generation.core.contract import DESCRIPTION_FILE, REPO_DIR
from cooperbench.generation.errors import GenerationError
from cooperbench.generation.patches.diffs import PATCH_LIMIT
from cooperbench.generation.sandbox.base import Sandbox

DESCRIPTION_LIMIT = 256 * 1024


# Git in the sandbox with nothing of the agent's but the work tree's files: a git folder of our
# own (the sandbox repository's objects read as alternates), no system, global or repository
# config, no hooks, no external diff or textconv, and every attribute that could change content
# (filters, end-of-line conversion, encodings) overridden by our own info/attributes. A tree's
# `diff=<name>` still names the hunk headers' language: with no config, no driver runs anything.
# A file of the base whose content a partial clone never fetched (and its sparse checkout leaves
# out of the work tree, as the dataset's repositories do with files over a size) is no change.
DIFF_SCRIPT = """set -e
scratch=$(mktemp -d /tmp/.cooperbench-diff-XXXXXX)
export GIT_DIR="$scratch/git" GIT_INDEX_FILE="$scratch/index" HOME="$scratch" XDG_CONFIG_HOME="$scratch"
export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null GIT_ALTERNATE_OBJECT_DIRECTORIES={repo}/.git/objects
unset GIT_WORK_TREE GIT_EXTERNAL_DIFF GIT_DIFF_OPTS GIT_CONFIG GIT_CONFIG_PARAMETERS GIT_CONFIG_COUNT
git init -q --bare "$GIT_DIR"
printf '* !text !eol !filter !ident !merge !working-tree-encoding\n' > "$GIT_DIR/info/attributes"
safe="-c core.hooksPath=/dev/null -c core.fsmonitor=false -c core.autocrlf=false -c core.attributesFile=/dev/null -c diff.external="
git $safe read-tree {base}
git $safe ls-tree -r {base} > "$scratch/entries"
cut -f1 "$scratch/entries" | cut -d' ' -f3 | git $safe cat-file --batch-check='%(objectname)' > "$scratch/check"
paste "$scratch/check" "$scratch/entries" | awk -F'\\t' '$1 ~ / missing$/ {{print $3}}' \
  | git $safe --work-tree={repo} update-index --skip-worktree --stdin
git $safe --work-tree={repo} add -A
git $safe --work-tree={repo} diff --cached --binary --no-ext-diff --no-textconv --no-color {base} > "$scratch/diff"
echo "$scratch/diff"
"""


def work_tree_diff(sandbox: Sandbox, base_commit: str) -> tuple[str, str | None]:
    """Everything the agent changed, new files included, against the base commit, taken by git
    configured as DIFF_SCRIPT says (nothing the agent set can shape it); or no diff and the reason
    (too big, or the repository's git data gone)."""
    if sandbox.closed_by:
        return "", f"the sandbox was closed ({sandbox.closed_by}): no diff to take"
    result = sandbox.run(DIFF_SCRIPT.format(repo=REPO_DIR, base=base_commit), timeout=300, cwd="/tmp")
    where = (result.stdout.strip().splitlines() or [""])[-1]
    if not result.ok or not where.startswith("/tmp/.cooperbench-diff-"):
        why = (result.stderr.strip().splitlines() or [f"exit {result.exit_code}"])[-1][:200]
        return "", f"the work tree's diff could not be taken (was .git removed?): {why}"
    try:
        data = sandbox.read_file(where, PATCH_LIMIT + 1)
    except FileNotFoundError:
        return "", "the work tree's diff could not be read"
    if len(data) > PATCH_LIMIT:
        return "", f"the diff is over the {PATCH_LIMIT // 2**20} MiB limit"
    return data.decode("utf-8", "surrogateescape"), None


def description(sandbox: Sandbox) -> str | None:
    """The feature description the agent wrote, or None."""
    try:
        return sandbox.read_file(DESCRIPTION_FILE, DESCRIPTION_LIMIT).decode("utf-8", "replace")
    except (OSError, GenerationError):
        return None
