#!/usr/bin/env bash
# Re-measure which syscalls Node really makes: runs every workload in workloads/run.sh under
# `strace -f` (NO seccomp filter), then prints, per workload and overall, the syscall names seen,
# and compares the union with the allowlist in node.json.
#
#   policy/seccomp/measure.sh [OUTDIR]       (default: a fresh mktemp dir, kept for inspection)
#   NODE_BIN=/path/to/node ONLY="fs child" policy/seccomp/measure.sh
#
# Needs strace and unshare (util-linux); run as root (the child workload uses a PID namespace).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${1:-$(mktemp -d "${TMPDIR:-/tmp}/nodecell-seccomp-measure.XXXXXX")}
mkdir -p "$OUT"
# shellcheck source=workloads/run.sh
. "$HERE/workloads/run.sh"
command -v strace >/dev/null || { echo "strace not found" >&2; exit 1; }

env -i "$NODE_BIN" --version >"$OUT/node-version.txt"
run_workloads "$OUT" strace -f -qq -s 96 -o "$OUT/@NAME@.strace"

names() { grep -hoE '^[0-9]+ +[a-z_0-9]+\(' "$@" | awk '{sub(/\(/,"",$2); print $2}' | sort -u; }
allowlist() { # syscall names of the node_allow filter in node.json (string scan: no jq/python needed)
  awk '/"node_allow"/{a=1} /"node_enosys"/{a=0} a && /"syscall"/' "$HERE/node.json" |
    sed -E 's/.*"syscall": *"([a-z_0-9]+)".*/\1/' | sort -u
}

echo "node $(cat "$OUT/node-version.txt"), results in $OUT"
for f in "$OUT"/*.strace; do
  n=$(basename "$f" .strace)
  printf '%-20s rc=%-4s %3d syscalls: %s\n' "$n" "$(cat "$OUT/$n.rc")" "$(names "$f" | wc -l)" "$(names "$f" | tr '\n' ' ')"
done
names "$OUT"/*.strace >"$OUT/union.txt"
allowlist >"$OUT/allowlist.txt"
echo
echo "union: $(wc -l <"$OUT/union.txt") distinct syscalls"
echo "seen but NOT in node_allow (EPERM/ENOSYS under the policy; check each is by design):"
comm -23 "$OUT/union.txt" "$OUT/allowlist.txt" | sed 's/^/  /'
echo "in node_allow but not seen in this run (kept for reasons given in their comments):"
comm -13 "$OUT/union.txt" "$OUT/allowlist.txt" | tr '\n' ' ' | fold -s -w 100 | sed 's/^/  /'
echo
