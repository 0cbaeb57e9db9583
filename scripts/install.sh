#!/usr/bin/env bash
# Install everything the pipeline needs into .venv, plus bubblewrap (the local sandbox) when it is
# missing and this is a Debian/Ubuntu machine we may install on. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v bwrap >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing bubblewrap (the local backend's sandbox)"
    if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap >/dev/null; }; then
      echo "error: apt-get could not install bubblewrap, which the local backend needs" >&2
      exit 1
    fi
  else
    echo "error: bubblewrap (bwrap) is missing and cannot be installed here (not root, or no apt-get): install it" >&2
    exit 1
  fi
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install --quiet --upgrade pip
.venv/bin/pip install --quiet -e '.[test]'
echo "installed: $(.venv/bin/python -m cooperbench.generation --help >/dev/null && echo cooperbench-generation) into .venv"
