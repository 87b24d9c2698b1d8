#!/usr/bin/env bash
# Three `nodecell serve` replicas behind HAProxy (Debian's package), for HTTP and for gRPC,
# health-checked on readiness (GET /readyz), under a mixed load (clients/go/cmd/lbload):
#
#   rolling  the replicas are restarted one after another (SIGTERM, wait for exit 0, start
#            again, wait until ready and until HAProxy has it up again): no request may fail;
#            answers that refuse a request before it ran (429, 503: overloaded, draining,
#            HAProxy's own 503) are retried, by HAProxy (retry-on 503, redispatched to another
#            replica) or by lbload.
#   kill     one replica is SIGKILLed under load: requests in flight on it may fail, each
#            cleanly (HTTP 502/503/504 from HAProxy or the connection closed without an
#            answer, gRPC UNAVAILABLE/INTERNAL, before its deadline; never a wrong result); none of its sandbox processes survive it; its
#            replacement, started on the same ports, sweeps what it left (its cgroup
#            instances; scratch directories of its pid, if any).
#
# At the end (a trap on EXIT) everything it started is stopped and what it made removed, and
# it checks that nothing is left. Needs root (apt-get, cgroups), Go, python3, curl.
# NODECELL_BIN: the binary (default target/release/nodecell). LB_CONCURRENCY (default 8).
# LB_RETRY_ON: HAProxy's retry-on (default "conn-failure 503": a request is sent again only
# when it never reached a replica, or a replica refused it before running it; never one a
# replica was running when it died, which "empty-response" would replay, running the code
# twice). HAProxy then closes the client's connection without an answer, which lbload counts
# as a clean failure. LB_KEEP_TMP=1 keeps the temp dir (configs, logs, lbload reports).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BIN=${NODECELL_BIN:-target/release/nodecell}
CONCURRENCY=${LB_CONCURRENCY:-8}
RETRY_ON=${LB_RETRY_ON:-conn-failure 503}
N=3
T_START=$SECONDS

[ -x "$BIN" ] || { echo "no nodecell binary at $BIN (cargo build --release -p nodecell-server)" >&2; exit 1; }
BIN=$(readlink -f "$BIN")
[ "$(id -u)" = 0 ] || { echo "lb-test.sh runs as root (apt-get, cgroups)" >&2; exit 1; }
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY || true
export no_proxy='*' NO_PROXY='*'

install_haproxy() {
  if command -v haproxy >/dev/null; then
    return
  fi
  local t0=$SECONDS policy_rc=/usr/sbin/policy-rc.d made_policy=0
  # The package's postinst starts haproxy.service: policy-rc.d answering 101 keeps
  # invoke-rc.d and deb-systemd-invoke from starting it. Ours only if there was none.
  if [ ! -e "$policy_rc" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy_rc"
    chmod 755 "$policy_rc"
    made_policy=1
  fi
  local rc=0 log
  log=$(mktemp)
  {
    apt-get update -qq &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends haproxy
  } >"$log" 2>&1 || rc=$?
  if [ "$made_policy" = 1 ]; then
    rm -f "$policy_rc"
  fi
  if [ "$rc" != 0 ]; then
    cat "$log" >&2
    rm -f "$log"
    echo "installing Debian's haproxy package failed ($rc)" >&2
    exit "$rc"
  fi
  rm -f "$log"
  # Should the package's own service have started anyway, stop it: only its service.
  if [ -d /run/systemd/system ]; then
    systemctl disable --now haproxy.service >/dev/null 2>&1 || true
  elif [ -x /etc/init.d/haproxy ]; then
    /etc/init.d/haproxy stop >/dev/null 2>&1 || true
  fi
  if pgrep -x haproxy >/dev/null; then
    echo "an haproxy is running after the install; stop it (systemctl stop haproxy)" >&2
    exit 1
  fi
  echo "installed $(haproxy -v 2>&1 | head -1) in $((SECONDS - t0)) s"
}

install_haproxy
if pgrep -x haproxy >/dev/null; then
  echo "note: an haproxy not started by this test is running (pids $(pgrep -x haproxy | tr '\n' ' ')); it is left alone" >&2
fi

tmp=$(mktemp -d /tmp/lb-test.XXXXXX)
declare -a PID HTTP GRPC
HAPROXY_PID=""
LOAD_PID=""
ALL_PIDS="$tmp/pids"        # every replica pid and sandbox-process pid seen: "pid comm"
ALL_INSTANCES="$tmp/instances" # every cgroup instance directory of our replicas
: >"$ALL_PIDS"
: >"$ALL_INSTANCES"

# Kills by pid only what this script started; then checks nothing of it is left.
cleanup() {
  local rc=$? left=0
  set +e
  trap - EXIT
  if [ -n "$LOAD_PID" ] && kill -0 "$LOAD_PID" 2>/dev/null; then
    kill -TERM "$LOAD_PID" 2>/dev/null
    wait "$LOAD_PID" 2>/dev/null
  fi
  for i in "${!PID[@]}"; do
    [ -n "${PID[$i]}" ] && kill -0 "${PID[$i]}" 2>/dev/null && descendants "${PID[$i]}" >>"$ALL_PIDS"
  done
  for i in "${!PID[@]}"; do
    [ -n "${PID[$i]}" ] && kill -TERM "${PID[$i]}" 2>/dev/null
  done
  for i in "${!PID[@]}"; do
    local p=${PID[$i]}
    [ -n "$p" ] || continue
    for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$p" 2>/dev/null && { echo "replica $i ($p) still running 10 s after SIGTERM: SIGKILL" >&2; kill -KILL "$p"; left=1; }
    wait "$p" 2>/dev/null
  done
  if [ -n "$HAPROXY_PID" ]; then
    kill -TERM "$HAPROXY_PID" 2>/dev/null
    for _ in $(seq 1 50); do kill -0 "$HAPROXY_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$HAPROXY_PID" 2>/dev/null
    wait "$HAPROXY_PID" 2>/dev/null
  fi
  sleep 0.3
  # Nothing we started is left: replicas, their launchers and node processes, haproxy.
  local survivors
  survivors=$(survivors_of "$ALL_PIDS")
  if [ -n "$HAPROXY_PID" ] && [ -d "/proc/$HAPROXY_PID" ]; then survivors+=" haproxy:$HAPROXY_PID"; fi
  if [ -n "${survivors// /}" ]; then
    echo "LEFT BEHIND: processes $survivors" >&2
    left=1
  fi
  local d dirs=""
  while read -r d; do [ -n "$d" ] && [ -e "$d" ] && dirs+=" $d"; done <"$ALL_INSTANCES"
  for p in $(awk '{print $1}' "$ALL_PIDS"); do
    for d in /tmp/nodecell-"$p"-scratch-* /var/tmp/nodecell-"$p"-scratch-*; do [ -e "$d" ] && dirs+=" $d"; done
  done
  if [ -n "$dirs" ]; then
    echo "LEFT BEHIND: cgroups/scratch directories$dirs" >&2
    left=1
  fi
  if [ "$rc" != 0 ] || [ "$left" != 0 ]; then
    for f in "$tmp"/r*.log "$tmp"/haproxy.log; do
      [ -f "$f" ] || continue
      echo "--- tail of $(basename "$f")" >&2
      grep -v ' 200 \| 200$' "$f" | tail -n 25 >&2
    done
  fi
  if [ -n "${LB_KEEP_TMP:-}" ]; then echo "kept $tmp (LB_KEEP_TMP)"; else rm -rf "$tmp"; fi
  if [ "$left" = 0 ] && [ "$rc" = 0 ]; then
    echo "cleanup: replicas, sandboxes and haproxy stopped; no process, cgroup or scratch directory left"
  fi
  [ "$left" != 0 ] && [ "$rc" = 0 ] && rc=1
  echo "total time: $((SECONDS - T_START)) s"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# "pid comm" lines whose process still runs with that name (zombies are dead).
survivors_of() {
  local p c st out=""
  while read -r p c; do
    [ -n "$p" ] || continue
    st=$(ps -o stat= -p "$p" 2>/dev/null | tr -d ' ') || continue
    [ -n "$st" ] && [ "${st:0:1}" != Z ] || continue
    [ "$(ps -o comm= -p "$p" 2>/dev/null)" = "$c" ] && out+=" $c:$p"
  done <"$1"
  echo "$out"
}

# Every descendant of pid $1, "pid comm" a line.
descendants() {
  ps -e -o pid=,ppid=,comm= | awk -v root="$1" '
    { pp[$1] = $2; cm[$1] = $3 }
    END {
      d[root] = 1; more = 1
      while (more) { more = 0; for (x in pp) if (!(x in d) && (pp[x] in d)) { d[x] = 1; more = 1 } }
      for (x in d) if (x != root) print x, cm[x]
    }'
}

# The cgroup instance directories replica pid $1 holds (locked, open).
instances_of() {
  local fd
  for fd in /proc/"$1"/fd/*; do readlink "$fd" 2>/dev/null || true; done |
    grep -E '^/sys/fs/cgroup/.*nodecell-[0-9a-f]{32}$' | sort -u || true
}

now_ms() { date +%s%3N; }

read -r LB_HTTP LB_GRPC P0 P1 P2 Q0 Q1 Q2 < <(python3 -c '
import socket
s = [socket.socket() for _ in range(8)]
for x in s: x.bind(("127.0.0.1", 0))
print(*(x.getsockname()[1] for x in s))')
HTTP=("$P0" "$P1" "$P2")
GRPC=("$Q0" "$Q1" "$Q2")

echo "== building lbload"
(cd clients/go && go build -o "$tmp/lbload" ./cmd/lbload)

cat >"$tmp/haproxy.cfg" <<EOF
global
  maxconn 2000
  stats socket $tmp/haproxy.sock mode 600 level admin
  log stderr format raw local0 info

defaults
  mode http
  log global
  option httplog
  timeout connect 1s
  timeout client 60s
  timeout server 60s
  timeout check 1s
  # A refused connection, a connection closed with no answer, or a replica's 503 (draining:
  # the run was not started) is tried again, on another replica.
  retries 3
  option redispatch 1
  retry-on $RETRY_ON
  option http-buffer-request
  default-server inter 200ms fall 1 rise 2

frontend http
  bind 127.0.0.1:$LB_HTTP
  default_backend nodecell_http

backend nodecell_http
  balance leastconn
  option httpchk GET /readyz
  http-check expect status 200
  server r0 127.0.0.1:$P0 check
  server r1 127.0.0.1:$P1 check
  server r2 127.0.0.1:$P2 check

frontend grpc
  bind 127.0.0.1:$LB_GRPC proto h2
  default_backend nodecell_grpc

backend nodecell_grpc
  balance leastconn
  # gRPC over h2c to the replicas, health-checked on each one's HTTP readiness.
  option httpchk GET /readyz
  http-check expect status 200
  server r0 127.0.0.1:$Q0 proto h2 check port $P0 check-proto h1
  server r1 127.0.0.1:$Q1 proto h2 check port $P1 check-proto h1
  server r2 127.0.0.1:$Q2 proto h2 check port $P2 check-proto h1
EOF
haproxy -c -q -f "$tmp/haproxy.cfg"

# HAProxy's view of server $2 in backend $1: UP, DOWN, ...
hap_status() {
  python3 - "$tmp/haproxy.sock" "$1" "$2" <<'EOF'
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(b"show stat\n")
data = b""
while True:
    b = s.recv(65536)
    if not b: break
    data += b
for line in data.decode().splitlines():
    f = line.split(",")
    if len(f) > 17 and f[0] == sys.argv[2] and f[1] == sys.argv[3]:
        print(f[17].split(" ")[0]); break
EOF
}

# HAProxy's retries and redispatches so far, per backend.
hap_retries() {
  python3 - "$tmp/haproxy.sock" <<'EOF'
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(b"show stat\n")
data = b""
while True:
    b = s.recv(65536)
    if not b: break
    data += b
out = []
for line in data.decode().splitlines():
    f = line.split(",")
    if len(f) > 17 and f[1] == "BACKEND":
        out.append("%s: %s retried, %s redispatched, %s connection errors, %s response errors" % (f[0], f[15] or 0, f[16] or 0, f[13] or 0, f[14] or 0))
print("; ".join(out))
EOF
}

# Waits until HAProxy has replica $1 up in both backends.
wait_hap_up() {
  local i=$1 a b
  for _ in $(seq 1 100); do
    a=$(hap_status nodecell_http "r$i") b=$(hap_status nodecell_grpc "r$i")
    [ "$a" = UP ] && [ "$b" = UP ] && return 0
    sleep 0.1
  done
  echo "HAProxy does not have replica $i up after 10 s (http: $a, grpc: $b)" >&2
  return 1
}

start_replica() {
  local i=$1
  env -u NODE_EXTRA_CA_CERTS "$BIN" serve --http-listen "127.0.0.1:${HTTP[$i]}" \
    --grpc-listen "127.0.0.1:${GRPC[$i]}" --pool-size 2 --shutdown-grace-ms 5000 \
    >>"$tmp/r$i.log" 2>&1 &
  PID[$i]=$!
  echo "${PID[$i]} nodecell" >>"$ALL_PIDS"
}

# Waits until replica $1 answers /readyz 200.
wait_ready() {
  local i=$1
  for _ in $(seq 1 300); do
    if [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:${HTTP[$i]}/readyz")" = 200 ]; then
      instances_of "${PID[$i]}" >>"$ALL_INSTANCES"
      return 0
    fi
    kill -0 "${PID[$i]}" 2>/dev/null || { echo "replica $i exited while starting" >&2; tail -n 20 "$tmp/r$i.log" >&2; return 1; }
    sleep 0.1
  done
  echo "replica $i not ready after 30 s" >&2
  return 1
}

# Records the sandbox processes of replica $1 (for the leftover checks).
record_children() { descendants "${PID[$1]}" >>"$ALL_PIDS"; }

echo "== HAProxy retry-on: $RETRY_ON"
echo "== starting $N replicas (native backend, pool 2, grace 5 s) and haproxy $(haproxy -v 2>&1 | head -1 | awk '{print $3}')"
for i in 0 1 2; do start_replica "$i"; done
for i in 0 1 2; do wait_ready "$i"; record_children "$i"; done
haproxy -f "$tmp/haproxy.cfg" -db >"$tmp/haproxy.log" 2>&1 &
HAPROXY_PID=$!
for i in 0 1 2; do wait_hap_up "$i"; done
echo "   HTTP on 127.0.0.1:$LB_HTTP -> ${HTTP[*]}; gRPC on 127.0.0.1:$LB_GRPC -> ${GRPC[*]}"

# Starts lbload (phase $1) in the background until $tmp/stop-$1 exists.
start_load() {
  rm -f "$tmp/stop-$1"
  "$tmp/lbload" -phase "$1" -http "http://127.0.0.1:$LB_HTTP" -grpc "127.0.0.1:$LB_GRPC" \
    -concurrency "$CONCURRENCY" -stop-file "$tmp/stop-$1" >"$tmp/load-$1.json" 2>"$tmp/load-$1.err" &
  LOAD_PID=$!
}
stop_load() {
  touch "$tmp/stop-$1"
  local rc=0
  wait "$LOAD_PID" || rc=$?
  LOAD_PID=""
  if [ "$rc" != 0 ]; then
    echo "lbload ($1) exited $rc" >&2
    cat "$tmp/load-$1.err" >&2
    return 1
  fi
}
field() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2], {}, d))' "$@"; }

echo "== phase rolling: load (concurrency $CONCURRENCY) while the replicas restart one after another"
start_load rolling
sleep 3
restarts=""
for i in 0 1 2; do
  record_children "$i"
  old=${PID[$i]}
  t0=$(now_ms)
  kill -TERM "$old"
  # Draining: no longer ready (503, or the listener gone) within moments.
  code=""
  for _ in $(seq 1 100); do
    code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:${HTTP[$i]}/readyz" || true)
    if [ "$code" != 200 ]; then break; fi
    sleep 0.01
  done
  tn=$(now_ms)
  rc=0
  wait "$old" || rc=$?
  t1=$(now_ms)
  if [ "$rc" != 0 ]; then
    echo "replica $i exited $rc after SIGTERM (want 0)" >&2
    exit 1
  fi
  start_replica "$i"
  wait_ready "$i"
  t2=$(now_ms)
  wait_hap_up "$i"
  t3=$(now_ms)
  record_children "$i"
  line="r$i: SIGTERM->not ready $((tn - t0)) ms (readyz $code), SIGTERM->exit 0 $((t1 - t0)) ms, start->ready $((t2 - t1)) ms, ready->HAProxy up $((t3 - t2)) ms"
  echo "   $line"
  restarts+="$line"$'\n'
  sleep 2
done
sleep 2
stop_load rolling
rolling_failures=$(field "$tmp/load-rolling.json" failures)
echo "   $(field "$tmp/load-rolling.json" '"requests %d (http %d, grpc %d), ok %d, retries %d %s, failures %d" % (requests, by_transport["http"]["requests"], by_transport["grpc"]["requests"], ok, retries, dict(retry_reasons), failures)')"
echo "   HAProxy (cumulative): $(hap_retries)"
if [ "$rolling_failures" != 0 ] || [ "$(field "$tmp/load-rolling.json" requests)" = 0 ]; then
  echo "FAIL: requests failed during the rolling restart:" >&2
  cat "$tmp/load-rolling.json" >&2
  exit 1
fi

echo "== phase kill: SIGKILL replica 1 under load, then its replacement sweeps what it left"
start_load kill
sleep 3
victim=${PID[1]}
descendants "$victim" >"$tmp/victim-procs"
cat "$tmp/victim-procs" >>"$ALL_PIDS"
instances_of "$victim" >"$tmp/victim-instances"
t0=$(now_ms)
kill -KILL "$victim"
wait "$victim" 2>/dev/null || true
# Its sandboxes die with it (PR_SET_PDEATHSIG through the launcher chain).
survivors=""
for _ in $(seq 1 30); do
  survivors=$(survivors_of "$tmp/victim-procs")
  [ -z "${survivors// /}" ] && break
  sleep 0.1
done
t1=$(now_ms)
if [ -n "${survivors// /}" ]; then
  echo "FAIL: processes of the killed replica survive it 3 s later:$survivors" >&2
  exit 1
fi
nprocs=$(wc -l <"$tmp/victim-procs")
busy=""
while read -r d; do
  [ -d "$d" ] || continue
  p=$(find "$d" -name cgroup.procs -exec cat {} + 2>/dev/null | tr '\n' ' ')
  if [ -n "${p// /}" ]; then busy+=" $d: $p"; fi
done <"$tmp/victim-instances"
if [ -n "$busy" ]; then
  echo "FAIL: the killed replica's cgroups still hold processes:$busy" >&2
  exit 1
fi
stale=$(while read -r d; do if [ -d "$d" ]; then echo "$d"; fi; done <"$tmp/victim-instances" | wc -l)
stale_groups=$(while read -r d; do if [ -d "$d" ]; then find "$d" -mindepth 1 -type d; fi; done <"$tmp/victim-instances" | wc -l)
stale_scratch=$(ls -d /tmp/nodecell-"$victim"-scratch-* /var/tmp/nodecell-"$victim"-scratch-* 2>/dev/null | wc -l || true)
echo "   killed r1 (pid $victim): its $nprocs sandbox processes gone within $((t1 - t0)) ms; left behind: $stale cgroup instance dirs ($stale_groups run groups), $stale_scratch scratch dirs"
start_replica 1
wait_ready 1
t2=$(now_ms)
record_children 1
left=$(while read -r d; do if [ -e "$d" ]; then echo "$d"; fi; done <"$tmp/victim-instances")
left+=$(ls -d /tmp/nodecell-"$victim"-scratch-* /var/tmp/nodecell-"$victim"-scratch-* 2>/dev/null || true)
if [ -n "$left" ]; then
  echo "FAIL: the replacement did not sweep what the killed replica left:" >&2
  echo "$left" >&2
  exit 1
fi
wait_hap_up 1
t3=$(now_ms)
kill_line="r1: SIGKILL->replacement ready $((t2 - t0)) ms (sweep done), ->HAProxy up $((t3 - t0)) ms"
echo "   $kill_line; the replacement swept the $stale stale instance dirs"
sleep 3
stop_load kill
echo "   $(field "$tmp/load-kill.json" '"requests %d (http %d, grpc %d), ok %d, retries %d %s, failures %d (clean %d, unclean %d)" % (requests, by_transport["http"]["requests"], by_transport["grpc"]["requests"], ok, retries, dict(retry_reasons), failures, clean_failures, unclean_failures)')"
echo "   HAProxy (cumulative): $(hap_retries)"
if [ "$(field "$tmp/load-kill.json" failures)" != 0 ]; then
  field "$tmp/load-kill.json" '"\n".join("     " + r for r in failure_reasons)'
fi
if [ "$(field "$tmp/load-kill.json" unclean_failures)" != 0 ]; then
  echo "FAIL: requests failed uncleanly when a replica was killed:" >&2
  cat "$tmp/load-kill.json" >&2
  exit 1
fi

echo "== summary"
echo "rolling: $(field "$tmp/load-rolling.json" '"%d requests, %d retries, %d failures" % (requests, retries, failures)')"
printf '%s' "$restarts" | sed 's/^/  /'
echo "kill:    $(field "$tmp/load-kill.json" '"%d requests, %d retries, %d failures (%d clean, %d unclean)" % (requests, retries, failures, clean_failures, unclean_failures)')"
echo "  $kill_line"
echo "lbload reports:"
cat "$tmp/load-rolling.json" "$tmp/load-kill.json"
