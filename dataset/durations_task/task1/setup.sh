#!/bin/bash
# The demo task's repository ships beside this file in repo/. The pipeline commits it with a
# fixed author, date and message (see cooperbench.generation.task), which always yields BASE_COMMIT.
set -e
REPO_NAME=durations
BASE_COMMIT=206fd285897b59f1d0861dc33bb25ac28a0ffcfc
