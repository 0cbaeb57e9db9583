#!/bin/bash
# The demo task's repository ships beside this file in repo/. The pipeline commits it with a
# fixed author, date and message (see cooperbench.generation.task), which always yields BASE_COMMIT.
set -e
REPO_NAME=miniconf
BASE_COMMIT=4737bf13454e2e181fa8f0920757adbb9a55c0cd
