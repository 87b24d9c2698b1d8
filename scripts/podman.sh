#!/usr/bin/env bash
# Podman's Docker-compatible API service, for running the docker backend's tests against Podman.
#
#   scripts/podman.sh start   starts nodecell's own `podman system service` (as root; Debian's
#                             podman installed if missing) on its own socket, storage and run
#                             roots, and prints the DOCKER_HOST to use
#   scripts/podman.sh stop    stops it and removes what it left mounted; a service it did not
#                             start is left alone
#
# Only what a registry serves is installed; no image is ever pulled (nodecell imports its own).
set -euo pipefail

DIR=/run/nodecell-podman
SOCKET=$DIR/podman.sock
PIDFILE=$DIR/podman.pid
LOG=$DIR/podman.log
ROOT=/var/lib/nodecell-podman
podman_() {
  # cgroupfs: no systemd here; events to a file: no journald.
  podman --root "$ROOT" --runroot "$DIR/run" --cgroup-manager=cgroupfs --events-backend=file "$@"
}

# shellcheck source=engine-answers.sh
. "$(dirname "$0")/engine-answers.sh"

start() {
  if answers "$SOCKET"; then
    echo "unix://$SOCKET"
    return
  fi
  if [ "$(id -u)" != 0 ]; then
    echo "podman.sh: starting nodecell's Podman service needs root" >&2
    exit 1
  fi
  if ! command -v podman >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq --no-install-recommends podman >/dev/null 2>&1 ||
      { apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends podman >/dev/null; }
  fi
  mkdir -p "$DIR" "$ROOT"
  chmod 0700 "$DIR" "$ROOT"
  setsid bash -c "echo \$\$ >'$PIDFILE'; exec podman --root '$ROOT' --runroot '$DIR/run' \
    --cgroup-manager=cgroupfs --events-backend=file system service --time=0 'unix://$SOCKET'" \
    </dev/null >"$LOG" 2>&1 &
  for _ in $(seq 1 300); do
    if answers "$SOCKET"; then
      echo "unix://$SOCKET"
      return
    fi
    sleep 0.1
  done
  echo "podman.sh: the Podman service did not answer within 30 s; its log:" >&2
  tail -20 "$LOG" >&2
  exit 1
}

stop() {
  [ -f "$PIDFILE" ] || return 0
  local pid
  pid=$(cat "$PIDFILE")
  # Only ever the service: a stale pidfile's number may belong to anything by now.
  if [[ ! "$pid" =~ ^[0-9]+$ ]] || [ "$pid" -le 1 ] || [ "$(cat "/proc/$pid/comm" 2>/dev/null)" != podman ]; then
    pid=""
  fi
  # Whatever a failed test left (nodecell removes its containers itself).
  podman_ rm --all --force >/dev/null 2>&1 || true
  [ -z "$pid" ] || kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  [ -z "$pid" ] || kill -9 "$pid" 2>/dev/null || true
  { grep -oE " ($DIR|$ROOT)[^ ]*" /proc/self/mountinfo || true; } | sort -r |
    while read -r m; do umount -l "$m" 2>/dev/null || true; done
  rm -rf "$DIR"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *)
    echo "usage: scripts/podman.sh start|stop" >&2
    exit 2
    ;;
esac
