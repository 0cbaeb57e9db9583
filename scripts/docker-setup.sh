#!/usr/bin/env bash
# Make the docker backend usable on a bare Debian/Ubuntu machine, offline from Docker Hub:
#   1. install docker.io (and debootstrap) from the distribution,
#   2. start dockerd by hand when no daemon answers (no systemd needed; no bridge: containers
#      get only loopback),
#   3. build the base image cooperbench-base:bookworm (python3, pip, venv, git) with debootstrap
#      and `docker import`, trusting this machine's extra CA certificates so pip works in builds,
#      and made to behave like python:3.11-slim (`python`, system-wide pip).
# Idempotent: each step is skipped when its result is already there. Needs root.
set -euo pipefail
BASE_IMAGE=${COOPERBENCH_BASE_IMAGE:-cooperbench-base:bookworm}
STATE=${COOPERBENCH_DOCKER_STATE:-/var/lib/cooperbench-docker}
mkdir -p "$STATE"

need=()
command -v dockerd >/dev/null || need+=(docker.io)
command -v debootstrap >/dev/null || need+=(debootstrap)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

if ! docker info >/dev/null 2>&1; then
  echo "starting dockerd (log: $STATE/dockerd.log)"
  nohup dockerd --bridge=none --iptables=false --ip6tables=false >"$STATE/dockerd.log" 2>&1 &
  echo $! >"$STATE/dockerd.pid"
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
  docker info >/dev/null 2>&1 || { echo "dockerd did not start; see $STATE/dockerd.log" >&2; exit 1; }
fi

# The base behaves like python:3.11-slim: `python` and system-wide `pip install` work.
BASE_VERSION=2
if [ "$(docker image inspect --format '{{ index .Config.Labels "cooperbench.base" }}' "$BASE_IMAGE" 2>/dev/null)" != "$BASE_VERSION" ]; then
  echo "building $BASE_IMAGE with debootstrap"
  rootfs=$(mktemp -d "$STATE/rootfs.XXXXXX")
  trap 'rm -rf "$rootfs"' EXIT
  debootstrap --variant=minbase --include=python3,python3-pip,python3-venv,git,ca-certificates \
    bookworm "$rootfs" >"$STATE/debootstrap.log" 2>&1 || { echo "debootstrap failed; see $STATE/debootstrap.log" >&2; exit 1; }
  if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
    cp /usr/local/share/ca-certificates/*.crt "$rootfs/usr/local/share/ca-certificates/"
    chroot "$rootfs" update-ca-certificates >/dev/null 2>&1
  fi
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  rm -f "$rootfs"/usr/lib/python3*/EXTERNALLY-MANAGED
  ln -sf python3 "$rootfs/usr/bin/python"
  printf '[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n' >"$rootfs/etc/pip.conf"
  tar -C "$rootfs" -c . | docker import --change 'CMD ["/bin/bash"]' --change "LABEL cooperbench.base=$BASE_VERSION" - "$BASE_IMAGE" >/dev/null
fi
echo "docker ready: $(docker version --format '{{.Server.Version}}'), base image $BASE_IMAGE"
