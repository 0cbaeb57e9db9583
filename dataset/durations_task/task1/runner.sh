#!/bin/bash
# Container entry, in the CooperBench style: runner.sh <tests.patch> [feature.patch]
set -e
TEST_PATCH="$1"
FEATURE_PATCH="$2"
cd /workspace/repo
git reset --hard HEAD
git clean -fdx
git apply --ignore-whitespace "/patches/$TEST_PATCH" || git apply --3way "/patches/$TEST_PATCH"
if [[ -n "$FEATURE_PATCH" ]]; then
    git apply --ignore-whitespace "/patches/$FEATURE_PATCH" || git apply --3way "/patches/$FEATURE_PATCH"
fi
pip install -e ".[dev]"
timeout 300 python -m pytest tests/test_core.py -v
