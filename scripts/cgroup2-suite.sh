#!/usr/bin/env bash
# What runs inside the cgroup-v2-only VM (scripts/cgroup2-vm.sh run -- scripts/cgroup2-suite.sh),
# as root, in the checkout (the host's files, read-only underneath a throwaway overlay):
#   1. `nodecell check`: every cgroup protection enforced through cgroup v2;
#   2. the contract corpus on native, the hostile corpus with its host-side checks on native
#      and nsjail (memory, pids and CPU limits, OOM detection, kill and sweep through v2);
#   3. delegation to an unprivileged service: a cgroup owned by uid 65534, as systemd's
#      Delegate=yes makes one; `nodecell check` as that user has memory, pids and CPU enforced
#      through it, a run's memory limit holds, and nothing but nodecell's leaf is left behind.
# Needs the release build and the test binaries (scripts/setup.sh; cargo test --no-run).
set -euo pipefail
cd "$(dirname "$0")/.."
fail() { echo "cgroup2-suite: $*" >&2; exit 1; }

# NODECELL_CGROUP2_SUITE=delegation runs step 3 only (for working on it).
only=${NODECELL_CGROUP2_SUITE:-all}
echo "== the host: cgroup v2 only"
grep -q ' /sys/fs/cgroup cgroup2 ' /proc/mounts || fail "no cgroup2 at /sys/fs/cgroup"
! grep -q ' cgroup ' /proc/mounts || fail "a cgroup v1 hierarchy is mounted"

if [ "$only" = all ]; then
echo "== nodecell check"
check=$(target/release/nodecell check 2>&1) || true
echo "$check" | sed -n '1,/^backend landlock/p'
for p in cgroup_memory cgroup_pids cgroup_cpu; do
  echo "$check" | sed -n '/^backend native/,/^backend /p' | grep -Eq "^  $p +enforced .*cgroup v2" \
    || fail "native: $p is not enforced through cgroup v2"
done

echo "== corpora on cgroup v2"
CI=true cargo test --release --locked -q --test corpus -- \
  contract_corpus::native hostile_corpus::native hostile_corpus::nsjail
fi

echo "== delegation to an unprivileged service (uid 65534)"
deleg=/sys/fs/cgroup/nodecell-delegation-test
mkdir "$deleg"
trap 'rmdir "$deleg/nodecell-service" "$deleg" 2>/dev/null || true' EXIT
# What systemd's Delegate=yes hands the service: the directory and its delegation files.
chown 65534:65534 "$deleg" "$deleg"/cgroup.procs "$deleg"/cgroup.subtree_control "$deleg"/cgroup.threads
[ -w /proc/sys/kernel/unprivileged_userns_clone ] && echo 1 >/proc/sys/kernel/unprivileged_userns_clone
# The checkout's directories must be searchable by the user (copied up in the overlay only).
d=$PWD; while [ "$d" != / ]; do chmod o+rx "$d"; d=$(dirname "$d"); done
as_nobody() { # runs "$@" as 65534 in the delegated cgroup: first in it (nodecell moves itself
  # into its leaf), then, once its controllers are on, in that leaf (as a restarted service's
  # children would be; nodecell then uses the leaf's parent)
  local at=$deleg
  [ ! -d "$deleg/nodecell-service" ] || at=$deleg/nodecell-service
  sh -c 'echo $$ >"$0"/cgroup.procs && exec setpriv --reuid 65534 --regid 65534 --clear-groups -- "$@"' \
    "$at" env -i PATH=/usr/bin:/bin HOME=/tmp "$@"
}
ncheck=$(as_nobody target/release/nodecell check 2>&1) || true
for p in cgroup_memory cgroup_pids cgroup_cpu; do
  echo "$ncheck" | sed -n '/^backend native/,/^backend /p' | grep -Eq "^  $p +enforced .*cgroup v2" \
    || { echo "$ncheck"; fail "as uid 65534: $p is not enforced through the delegated cgroup"; }
done
echo "check as uid 65534: memory, pids and CPU enforced through the delegated cgroup"
run_as_nobody() { # memory MiB, code, then a pattern the outcome must match
  local out
  out=$(printf '%s' "$2" | as_nobody target/release/nodecell run --backend native --memory-mib "$1" \
    --timeout-ms 20000 - 2>&1) || true
  grep -Eq "$3" <<<"$out" || fail "as uid 65534: wanted $3, got: $out"
  echo "run as uid 65534: $3"
}
run_as_nobody 64 'return process.getuid()' '"status":"ok","result":65534'
run_as_nobody 64 'const keep = []; for (;;) keep.push(Buffer.alloc(8 << 20, 1));' '"status":"memory_limit"'
left=$(find "$deleg" -mindepth 1 -maxdepth 1 -type d -printf '%f\n')
[ "$left" = nodecell-service ] || fail "left in the delegated cgroup: $left"
[ -z "$(cat "$deleg/nodecell-service/cgroup.procs")" ] || fail "processes left in the leaf"
echo "cgroup2-suite: all passed"
