#!/usr/bin/env bash
# Evidence that policy/seccomp/node.json does what docs/seccomp.md says, on this host's node.
#
#   policy/seccomp/verify.sh            (run as root: the child_process workload and the
#                                        control run use a private PID namespace)
#   POLICY=/tmp/candidate.json NODE_BIN=/opt/node22/bin/node policy/seccomp/verify.sh
#
# Steps (any failure => non-zero exit):
#   1. build a scratch harness under $TMPDIR (Rust: seccompiler 0.5.0 + libc + serde_json, and a
#      C probe) -- nothing is written into the repository;
#   2. lint node.json (a comment on every rule/condition, the two actions, denied-by-design
#      calls absent, the ENOSYS set, no rule that seccompiler would silently drop) and compile it;
#   3. probe: under the filters, ~60 forbidden calls fail with EPERM (io_uring_* and clone3 with
#      ENOSYS), allowed ones succeed, nothing is killed except the i386 int 0x80 ABI; and, as a
#      control, the same probe WITHOUT the filter gets different answers;
#   4. every Node workload in workloads/run.sh runs under the filters exactly as the launcher
#      applies them (no_new_privs, node_allow, then node_enosys, then execve) and produces its
#      expected output and exit status;
#   5. with strace (optional; skipped with a note if absent): worker threads are created with
#      clone() after clone3() returned ENOSYS, and a survey of every failed syscall of every
#      workload under the filters finds no denial other than the expected ones.
# Cleans up everything it created (trap), touches nothing outside its mktemp directory.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
POLICY=${POLICY:-$HERE/node.json} # override to try a candidate policy
NODE_BIN=${NODE_BIN:-$(command -v node)}
export NODE_BIN
WORK=$(mktemp -d "${TMPDIR:-/tmp}/nodecell-seccomp-verify.XXXXXX")
cleanup() { rm -rf -- "$WORK"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

FAILS=0
pass() { printf 'PASS %s\n' "$*"; }
fail() { printf 'FAIL %s\n' "$*"; FAILS=$((FAILS + 1)); }
section() { printf '\n== %s\n' "$*"; }

for tool in cargo gcc unshare timeout "$NODE_BIN"; do
  command -v "$tool" >/dev/null || { echo "verify.sh: $tool not found" >&2; exit 2; }
done
if [[ $(id -u) != 0 ]]; then echo "verify.sh: run as root (PID namespaces for the child workload)" >&2; exit 2; fi
HAVE_STRACE=0; command -v strace >/dev/null && HAVE_STRACE=1

section "build the harness in $WORK"
mkdir -p "$WORK/harness/src"
cp "$HERE/verify/seccomp_exec.rs" "$WORK/harness/src/main.rs"
cat >"$WORK/harness/Cargo.toml" <<'TOML'
[package]
name = "seccomp-exec"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
seccompiler = { version = "=0.5.0", features = ["json"] }
libc = "0.2"
serde_json = "1"

[workspace]
TOML
build() { CARGO_TARGET_DIR="$WORK/target" cargo build --release --quiet --manifest-path "$WORK/harness/Cargo.toml" "$@"; }
build --offline 2>/dev/null || build
HARNESS=$WORK/target/release/seccomp-exec
gcc -O1 -Wall -Werror -o "$WORK/probe" "$HERE/verify/denied.c"
echo "node $(env -i "$NODE_BIN" --version), kernel $(uname -r), $(ldd --version 2>/dev/null | head -1)"

section "lint + compile node.json"
if "$HARNESS" lint "$POLICY"; then pass "lint"; else fail "lint"; fi

section "probe under the filters (expect EPERM / ENOSYS, never SIGSYS)"
set +e
"$HARNESS" exec "$POLICY" "$WORK/probe" </dev/null >"$WORK/probe.out" 2>&1
rc=$?
set -e
cat "$WORK/probe.out"
if [[ $rc == 0 ]] && grep -q '^0 failure(s)$' "$WORK/probe.out"; then pass "probe: every call answered as expected"
else fail "probe exited $rc$( ((rc > 128)) && echo " (signal $((rc - 128)))")"; fi

section "control: the same probe WITHOUT the filters must disagree"
set +e
timeout 60 unshare --pid --fork --kill-child --mount-proc "$WORK/probe" </dev/null >"$WORK/control.out" 2>&1
crc=$?
set -e
nfail=$(grep -c '^FAIL' "$WORK/control.out" || true)
if [[ $crc == 1 && $nfail -ge 40 ]]; then pass "control: $nfail of the probe's expectations fail without the filters (e.g. $(grep -m1 '^FAIL socket' "$WORK/control.out" | sed -E 's/^FAIL +(.*[^ ]) +errno=[0-9]+ +([A-Za-z]+).*/\1 -> \2/'))"
else fail "control: expected the unfiltered probe to fail >= 40 checks, got $nfail (exit $crc)"; fi

section "Node workloads under the filters"
# shellcheck source=workloads/run.sh
. "$HERE/workloads/run.sh"
OUT=$WORK/run
run_workloads "$OUT" "$HARNESS" exec "$POLICY"
for w in "${WORKLOADS[@]}"; do
  IFS='|' read -r name _pidns erc _env args <<<"$w"
  [[ -n ${ONLY:-} && " $ONLY " != *" $name "* ]] && continue
  rc=$(cat "$OUT/$name.rc")
  ok=1; why=""
  [[ $rc == "$erc" ]] || { ok=0; why="exit $rc, want $erc"; }
  script=$(grep -oE '[a-z_]+\.js' <<<"$args" || true)
  if [[ -n $script ]] && ! grep -qx "DONE ${script%.js}" "$OUT/$name.out"; then ok=0; why="$why; no 'DONE ${script%.js}' line"; fi
  case $name in
    stdio)
      [[ $(cat "$OUT/stdio.fd4" 2>/dev/null) == $'fd4-data\nfd4-stream' ]] || { ok=0; why="$why; fd 4 got '$(head -c 80 "$OUT/stdio.fd4" 2>/dev/null)'"; }
      (( $(stat -c %s "$OUT/stdio.out") > 1048576 )) || { ok=0; why="$why; 1 MiB stdout write missing"; }
      grep -q '^stderr-line$' "$OUT/stdio.err" || { ok=0; why="$why; stderr pipe output missing"; } ;;
    uncaught) grep -q 'Error: boom-uncaught' "$OUT/$name.err" || { ok=0; why="$why; no stack trace"; } ;;
    unhandled_rejection) grep -q 'Error: boom-rejected' "$OUT/$name.err" || { ok=0; why="$why; no stack trace"; } ;;
    stack_overflow) grep -q 'RangeError: Maximum call stack size exceeded' "$OUT/$name.err" || { ok=0; why="$why; no RangeError"; } ;;
    heap_oom) grep -q 'JavaScript heap out of memory' "$OUT/$name.err" || { ok=0; why="$why; no OOM message"; } ;;
    system) grep -q "^info system: dns.lookup(localhost, {}) -> " "$OUT/$name.out" || { ok=0; why="$why; no dns.lookup result"; } ;;
  esac
  if [[ $ok == 1 ]]; then pass "workload $name (exit $rc)"; else fail "workload $name: ${why#; }"; sed 's/^/    /' "$OUT/$name.err" | head -20; fi
done
echo "-- what the workloads printed under the filters:"
grep -h -E '^(ok|info) ' "$OUT"/*.out | cut -c1-170 | sed 's/^/   /'

if [[ $HAVE_STRACE == 1 ]]; then
  section "clone3 -> ENOSYS -> glibc falls back to clone() (worker_threads)"
  set +e
  env -i PATH=/usr/bin:/bin TMPDIR="$OUT/tmp" strace -f -qq -e trace=clone,clone3 -o "$WORK/clone.strace" \
    "$HARNESS" exec "$POLICY" "$NODE_BIN" "$HERE/workloads/workers_atomics.js" >"$WORK/clone.out" 2>&1
  set -e
  n3=$(grep -c 'clone3(.*= -1 ENOSYS' "$WORK/clone.strace" || true)
  nt=$(grep -cE 'clone\(.*CLONE_THREAD.*= [0-9]+$' "$WORK/clone.strace" || true)
  grep -m1 'clone3(' "$WORK/clone.strace" | sed -E 's/^[0-9]+ +/   /' | cut -c1-150
  grep -m1 -E 'clone\(.*CLONE_THREAD' "$WORK/clone.strace" | sed -E 's/^[0-9]+ +/   /' | cut -c1-150
  if [[ $n3 -gt 0 && $nt -ge $n3 ]] && grep -qx 'DONE workers_atomics' "$WORK/clone.out"; then
    pass "clone3 answered ENOSYS $n3 times, $nt threads created with clone(CLONE_THREAD), workers ran"
  else fail "clone3 fallback: clone3 ENOSYS=$n3, clone(CLONE_THREAD)=$nt"; fi

  section "survey: every failed syscall of every workload under the filters"
  # Denials that are expected by design (syscall errno workload-regex reason):
  EXPECTED_DENIALS=(
    "clone3 ENOSYS .* glibc tries clone3 for every thread, then uses clone"
    "io_uring_setup ENOSYS .* libuv's io_uring probe (Node 24+ at every start; Node 20/22 with UV_USE_IO_URING=1), falls back to epoll/threadpool"
    "inotify_init1 EPERM fs(_uring)? fs.watch probe: inotify is not allowed"
    "fchown EPERM fs(_uring)? Node 24+ fchowns in the fs workload (file copies): chown is not allowed, files stay the sandbox user's"
    "socket EPERM system glibc nscd lookup (os.userInfo/dns.lookup) and getifaddrs netlink (os.networkInterfaces/process.report)"
  )
  SOUT=$WORK/survey
  run_workloads "$SOUT" strace -f -qq -Z -o "$SOUT/@NAME@.strace" "$HARNESS" exec "$POLICY"
  unexpected=0
  for f in "$SOUT"/*.strace; do
    name=$(basename "$f" .strace)
    while read -r count sc err; do
      allowed=0
      for e in "${EXPECTED_DENIALS[@]}"; do
        read -r esc eerr ere _ <<<"$e"
        [[ $sc == "$esc" && $err == "$eerr" && $name =~ ^($ere)$ ]] && allowed=1
      done
      if [[ $allowed == 1 ]]; then printf '   expected   %-20s %4d x %-16s %s\n' "$name" "$count" "$sc" "$err"
      else printf '   UNEXPECTED %-20s %4d x %-16s %s\n' "$name" "$count" "$sc" "$err"; unexpected=$((unexpected + 1)); fi
    done < <(grep -hoE '^[0-9]+ +[a-z_0-9]+\(.*= -1 (EPERM|ENOSYS|EACCES)' "$f" |
             sed -E 's/^[0-9]+ +([a-z_0-9]+)\(.*= -1 (E[A-Z]+)$/\1 \2/' | sort | uniq -c)
  done
  if [[ $unexpected == 0 ]]; then pass "survey: only by-design denials (EPERM/ENOSYS/EACCES) under the filters"
  else fail "survey: $unexpected unexpected EPERM/ENOSYS/EACCES results (see above): a needed syscall may be missing"; fi
else
  section "strace not installed: skipped the clone3-fallback trace and the denial survey"
fi

section "result"
if [[ $FAILS == 0 ]]; then echo "verify.sh: all checks passed"; else echo "verify.sh: $FAILS check(s) FAILED"; fi
[[ $FAILS == 0 ]]
