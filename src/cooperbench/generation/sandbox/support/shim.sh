#!/bin/bash
# Install shim, on PATH before the real tools in every sandbox (see environment.py).
#
# CB_SHIM_MODE=record (building the task's environment, network on): run the real command (again
# without the packages-as-of date when that fails: a pin newer than the base commit); when it is
# an install and succeeds, remember it (working directory + arguments) and keep the files it wrote
# into the source tree (an editable build's compiled modules, node_modules, ...).
# CB_SHIM_MODE=warmup (the build's warm-up run of runner.sh): an install a Dockerfile step already
# made is served, as a test run will serve it; any other is recorded.
# CB_SHIM_MODE=serve (test runs, network off): an install that the build ran is served from the
# cached environment: its files are put back and it succeeds without running. Anything else runs
# as it is; Python and pytest with the test harness's loader (CB_PLUGIN_DIR) first on PYTHONPATH,
# even when the runner sets a PYTHONPATH of its own.
name=${0##*/}
state=${CB_ENV_STATE:-/workspace/.cooperbench}
repo=${CB_REPO:-/workspace/repo}

real_tool() {
  local dir IFS=:
  for dir in $PATH; do
    [[ $dir == "${CB_SHIM_DIR:-/opt/cooperbench/bin}" ]] && continue
    if [[ -x $dir/$name && ! -d $dir/$name ]]; then printf '%s\n' "$dir/$name"; return 0; fi
  done
  echo "$name: command not found" >&2
  return 127
}

first_word() {  # the first argument that is not an option
  local arg
  for arg in "$@"; do [[ $arg == -* ]] || { printf '%s' "$arg"; return; }; done
}

is_install() {
  local sub
  case $name in
    pip|pip3|pip3.*) sub=$(first_word "$@"); [[ $sub == install || $sub == uninstall ]] ;;
    python|python3|python3.*)
      [[ $1 == -m && $2 == pip ]] || return 1
      sub=$(first_word "${@:3}"); [[ $sub == install || $sub == uninstall ]] ;;
    uv) [[ $1 == pip && ( $(first_word "${@:2}") == install || $(first_word "${@:2}") == uninstall ) ]] || [[ $1 == sync ]] ;;
    npm|pnpm) sub=$(first_word "$@"); [[ $sub == install || $sub == i || $sub == ci || $sub == add ]] ;;
    yarn) sub=$(first_word "$@"); [[ -z $sub || $sub == install || $sub == add ]] ;;
    npx) local args=("$@") i=0
      while [[ ${args[i]} == -* ]]; do i=$((i + 1)); done
      case ${args[i]} in pnpm*|yarn*|npm*) sub=$(first_word "${args[@]:i+1}"); [[ $sub == install || $sub == i || $sub == ci ]] ;; *) return 1 ;; esac ;;
    go) [[ $1 == mod && $2 == download ]] || [[ $1 == get ]] ;;
    cargo) [[ $1 == fetch ]] ;;
    *) return 1 ;;
  esac
}

key() { printf '%s\t%s' "$PWD" "$name"; printf ' %q' "$@"; }

keep_tree_files() {  # copy the untracked and ignored files of the source tree into the overlay
  [[ -d $repo/.git ]] || return 0
  mkdir -p "$state/overlay"
  git -C "$repo" ls-files --others -z | grep -zv '^\.cooperbench-' \
    | tar -C "$repo" --null -T - -cf - 2>/dev/null | tar -C "$state/overlay" -xf -
}

restore_tree_files() {
  [[ -d $state/overlay && -d $repo ]] && cp -a --no-clobber "$state/overlay/." "$repo/" 2>/dev/null
  return 0
}

run_cached_npx() {  # `npx pkg@spec args` offline: the copy of pkg@spec the build's npx cached
  local spec arg rest=() found=0 dir pkg
  spec=$(first_word "$@")
  dir=$(grep -lF "\"$spec\"" "${npm_config_cache:-$HOME/.npm}"/_npx/*/package.json 2>/dev/null | head -1)
  [[ -n $dir ]] || return 0
  pkg=${spec%@*}; [[ -z $pkg ]] && pkg=$spec
  for arg in "$@"; do
    if [[ $found == 1 ]]; then rest+=("$arg"); elif [[ $arg == "$spec" ]]; then found=1; fi
  done
  [[ -x ${dir%/package.json}/node_modules/.bin/${pkg##*/} ]] && exec "${dir%/package.json}/node_modules/.bin/${pkg##*/}" "${rest[@]}"
}

recorded() { grep -qxF -- "$(key "$@")" "$state/installs.tsv" 2>/dev/null; }

tool=$(real_tool) || exit 127
if is_install "$@"; then
  mode=${CB_SHIM_MODE:-}
  [[ $mode == warmup ]] && { recorded "$@" && mode=serve || mode=record; }
  case $mode in
    record)
      "$tool" "$@"; status=$?
      if [[ $status != 0 && -n ${PIP_UPLOADED_PRIOR_TO:-}${UV_EXCLUDE_NEWER:-} ]]; then
        # a pin newer than the base commit's date: honour it
        echo "[cooperbench] retrying without the packages-as-of date: $name $*" >&2
        env -u PIP_UPLOADED_PRIOR_TO -u UV_EXCLUDE_NEWER "$tool" "$@"; status=$?
      fi
      if [[ $status == 0 ]]; then
        { key "$@"; echo; } >>"$state/installs.tsv"
        keep_tree_files
      else
        { key "$@"; echo " (exit $status)"; } >>"$state/install-failures.tsv"
      fi
      exit $status ;;
    serve)
      if recorded "$@"; then
        restore_tree_files
        echo "[cooperbench] served from the task's cached environment: $name $*" >&2
        exit 0
      fi
      echo "[cooperbench] not in the task's cached environment, running it (no network): $name $*" >&2 ;;
  esac
fi
[[ $name == npx && ${CB_SHIM_MODE:-} == serve ]] && run_cached_npx "$@"
if [[ ${CB_SHIM_MODE:-} == serve && -n ${CB_PLUGIN_DIR:-} ]]; then
  case $name in  # a runner that sets its own PYTHONPATH keeps the test harness's loader first
    python|python3|python3.*|pytest|py.test)
      [[ :${PYTHONPATH:-}: == *:$CB_PLUGIN_DIR:* ]] || export PYTHONPATH="$CB_PLUGIN_DIR${PYTHONPATH:+:$PYTHONPATH}" ;;
  esac
fi
exec "$tool" "$@"
