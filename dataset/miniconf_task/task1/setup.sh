#!/bin/bash
# The demo task's repository ships beside this file in repo/. The pipeline commits it with a
# fixed author and date (see cooperbench.generation.task), which always yields BASE_COMMIT.
set -e
REPO_NAME=miniconf
BASE_COMMIT=cf0746a572ebb82e198be101c9fac915a4ac60c3
