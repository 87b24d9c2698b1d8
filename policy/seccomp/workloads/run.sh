# shellcheck shell=bash
# Workload driver shared by ../measure.sh (strace, no filter) and ../verify.sh (under the filter).
# Source it, then call:  run_workloads OUTDIR WRAP...
#   WRAP... is a command prefix placed before `node`, e.g. `strace -f -qq -o DIR/@NAME@.strace`
#   (@NAME@ is replaced by the workload name) or `seccomp-exec node.json`.
# Every workload runs with a scrubbed environment (env -i: no NODE_EXTRA_CA_CERTS, NODE_OPTIONS...),
# TMPDIR=$OUTDIR/tmp, and workloads that spawn children run inside a fresh PID namespace.
# For each workload NAME it writes OUTDIR/NAME.out, OUTDIR/NAME.err and OUTDIR/NAME.rc.

WORKLOAD_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
NODE_BIN=${NODE_BIN:-$(command -v node)}

# name | needs-pidns(0/1) | expected rc | extra env (space-separated K=V) | node args...
# (node args are split on spaces, except that everything after "-e " is one script argument)
WORKLOADS=(
  "bare|0|0||-e 0"
  "modules|0|0||--no-addons $WORKLOAD_DIR/modules.js"
  "timers_promises|0|0||$WORKLOAD_DIR/timers_promises.js"
  "fs|0|0||$WORKLOAD_DIR/fs.js"
  "fs_uring|0|0|UV_USE_IO_URING=1|$WORKLOAD_DIR/fs.js"
  "crypto_zlib|0|0||$WORKLOAD_DIR/crypto_zlib.js"
  "workers_atomics|0|0||$WORKLOAD_DIR/workers_atomics.js"
  "memory_wasm|0|0||$WORKLOAD_DIR/memory_wasm.js"
  "child|1|0||$WORKLOAD_DIR/child.js"
  "system|0|0||$WORKLOAD_DIR/system.js"
  "stdio|0|0||$WORKLOAD_DIR/stdio.js"
  "exit_code|0|3||-e process.exit(3)"
  "exit_code_prop|0|4||-e process.exitCode=4"
  "uncaught|0|1||-e throw new Error('boom-uncaught')"
  "unhandled_rejection|0|1||-e Promise.reject(new Error('boom-rejected'))"
  "stack_overflow|0|1||-e function f(){return f()+1}f()"
  "self_sigterm|0|143||-e process.kill(process.pid,'SIGTERM');setTimeout(()=>{},1000)"
  "heap_oom|0|134||--max-old-space-size=24 -e const a=[];for(;;)a.push(new Array(1e5).fill(1.5))"
)

# run_one OUTDIR NAME PIDNS ENV ARGS WRAP...
# stdout and stderr are pipes (drained by cat), as they are under the nodecell runner.
run_one() {
  local outdir=$1 name=$2 pidns=$3 extraenv=$4 args=$5; shift 5
  local -a wrap=("$@") pre=() nodeargs envs=()
  if [[ $args == *"-e "* ]]; then
    local opts=${args%%-e *} script=${args#*-e }
    read -r -a nodeargs <<<"$opts"
    nodeargs+=(-e "$script")
  else
    read -r -a nodeargs <<<"$args"
  fi
  [[ -n $extraenv ]] && read -r -a envs <<<"$extraenv"
  local i
  for i in "${!wrap[@]}"; do wrap[i]=${wrap[i]//@NAME@/$name}; done
  if [[ $pidns == 1 ]]; then pre=(unshare --pid --fork --kill-child --mount-proc); fi
  local -a cmd=(timeout 300 env -i PATH=/usr/bin:/bin TMPDIR="$outdir/tmp" "${envs[@]}"
                "${pre[@]}" "${wrap[@]}" "$NODE_BIN" "${nodeargs[@]}")
  local rc had_e=0
  [[ $- == *e* ]] && had_e=1
  set +e # the callers use set -e/pipefail; the exit status is recorded instead
  if [[ $name == stdio ]]; then
    # stdin: a pipe with "stdin-data"; fd 3: a pipe with "fd3-data"; fd 4: a pipe drained to NAME.fd4
    { printf 'stdin-data' | "${cmd[@]}" 3< <(printf 'fd3-data') 4> >(cat >"$outdir/$name.fd4") \
        2> >(cat >"$outdir/$name.err") | cat >"$outdir/$name.out"
      rc=${PIPESTATUS[1]}; } 2>/dev/null # (the outer 2> only silences bash's "Aborted"/"Terminated" job notices)
  else
    { "${cmd[@]}" </dev/null 2> >(cat >"$outdir/$name.err") | cat >"$outdir/$name.out"
      rc=${PIPESTATUS[0]}; } 2>/dev/null
  fi
  wait # for the process substitutions (bash >= 5.1) so .err/.fd4 are complete
  ((had_e)) && set -e
  echo "$rc" >"$outdir/$name.rc"
  return 0
}

run_workloads() {
  local outdir=$1; shift
  mkdir -p "$outdir/tmp"
  local w name pidns erc extraenv args
  for w in "${WORKLOADS[@]}"; do
    IFS='|' read -r name pidns erc extraenv args <<<"$w"
    if [[ -n ${ONLY:-} && " $ONLY " != *" $name "* ]]; then continue; fi
    run_one "$outdir" "$name" "$pidns" "$extraenv" "$args" "$@"
  done
}
