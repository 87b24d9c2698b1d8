#!/usr/bin/env bash
# A Docker Engine for the docker and gvisor backends and their tests, left as it was found.
#
#   scripts/dockerd.sh start   prints the DOCKER_HOST to use. A daemon that already answers
#                              (DOCKER_HOST, else /var/run/docker.sock) is used as it is.
#                              Otherwise nodecell's own daemon is started (as root), installing
#                              Debian's docker.io (and runsc, registered as runtime "runsc")
#                              when dockerd is missing: no iptables, no bridge, its own socket,
#                              data root and exec root, so it touches no other daemon's state.
#   scripts/dockerd.sh stop    stops nodecell's own daemon (the one whose pidfile it wrote); a
#                              daemon it found running is left alone.
#
# Only what a registry serves is installed; no image is ever pulled.
set -euo pipefail

SOCKET=/run/nodecell-docker/docker.sock
EXEC_ROOT=/run/nodecell-docker/exec
PIDFILE=/run/nodecell-docker/dockerd.pid
DATA_ROOT=/var/lib/nodecell-docker
LOG=/run/nodecell-docker/dockerd.log
CONFIG=/run/nodecell-docker/daemon.json

# shellcheck source=engine-answers.sh
. "$(dirname "$0")/engine-answers.sh"

start() {
  local found="${DOCKER_HOST:-unix:///var/run/docker.sock}"
  if [[ "$found" == unix://* ]] && answers "${found#unix://}"; then
    echo "$found"
    return
  fi
  if answers "$SOCKET"; then
    echo "unix://$SOCKET"
    return
  fi
  if [ "$(id -u)" != 0 ]; then
    echo "dockerd.sh: no Docker Engine answers at $found, and starting one needs root" >&2
    exit 1
  fi
  if ! command -v dockerd >/dev/null || ! command -v runsc >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq --no-install-recommends docker.io runsc >/dev/null 2>&1 ||
      { apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends docker.io runsc >/dev/null; }
  fi
  mkdir -p "$(dirname "$SOCKET")" "$DATA_ROOT"
  chmod 0700 "$(dirname "$SOCKET")" "$DATA_ROOT"
  # runsc (gVisor) as runtime "runsc": no network stack in the Sentry (the sandboxes have
  # none; with one, runsc refuses a namespace without interfaces), and the container's OCI
  # seccomp profile loaded inside the sandbox as well.
  local runsc=""
  if command -v runsc >/dev/null; then
    runsc="\"runsc\": {\"path\": \"$(command -v runsc)\", \"runtimeArgs\": [\"--network=none\", \"--oci-seccomp\"]}"
  fi
  echo "{\"runtimes\": {$runsc}}" >"$CONFIG"
  # setsid: the daemon outlives this script, in a session of its own.
  setsid dockerd --config-file "$CONFIG" --iptables=false --ip6tables=false --bridge=none --ip-masq=false \
    --host "unix://$SOCKET" --data-root "$DATA_ROOT" --exec-root "$EXEC_ROOT" \
    --pidfile "$PIDFILE" </dev/null >"$LOG" 2>&1 &
  for _ in $(seq 1 300); do
    if answers "$SOCKET"; then
      echo "unix://$SOCKET"
      return
    fi
    sleep 0.1
  done
  echo "dockerd.sh: dockerd did not answer within 30 s; its log:" >&2
  tail -20 "$LOG" >&2
  exit 1
}

stop() {
  [ -f "$PIDFILE" ] || return 0
  local pid
  pid=$(cat "$PIDFILE")
  # Only ever a dockerd: a stale pidfile's number may belong to anything by now.
  if [[ ! "$pid" =~ ^[0-9]+$ ]] || [ "$pid" -le 1 ] || [ "$(cat "/proc/$pid/comm" 2>/dev/null)" != dockerd ]; then
    pid=""
  fi
  [ -z "$pid" ] || kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 200); do
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  [ -z "$pid" ] || kill -9 "$pid" 2>/dev/null || true
  # What the daemon and its containerd left mounted under their roots.
  { grep -oE " (/run/nodecell-docker|$DATA_ROOT)[^ ]*" /proc/self/mountinfo || true; } | sort -r |
    while read -r m; do umount -l "$m" 2>/dev/null || true; done
  rm -rf "$(dirname "$SOCKET")"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *)
    echo "usage: scripts/dockerd.sh start|stop" >&2
    exit 2
    ;;
esac
