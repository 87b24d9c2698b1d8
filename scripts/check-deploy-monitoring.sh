#!/usr/bin/env bash
# Checks what deploy/ holds for operators:
#   - the Prometheus alert rules: `promtool check rules`, and their unit tests, `promtool test rules`;
#   - the Grafana dashboard and the alert rules name only metrics (and labels) nodecell exports
#     (tools/check_dashboard.py: against the METRICS table of telemetry.rs, and against a live
#     scrape of a real `nodecell serve` on loopback when its binary is built);
#   - the systemd unit: `systemd-analyze verify`, where systemd-analyze exists.
#
# promtool comes from Debian's `prometheus` package, installed when missing (as root; without
# its recommends, and with services kept from starting, so no Prometheus server is left running).
# NODECELL_BIN: the binary to scrape (default target/release/nodecell; `none` skips the scrape).
set -euo pipefail
cd "$(dirname "$0")/.."

install_promtool() {
  if command -v promtool >/dev/null; then
    return
  fi
  if [ "$(id -u)" != 0 ]; then
    echo "promtool is missing: install Debian's 'prometheus' package (apt-get install --no-install-recommends prometheus) or put promtool on the PATH, then run this again" >&2
    exit 1
  fi
  local t0=$SECONDS policy_rc=/usr/sbin/policy-rc.d made_policy=0
  # The package's postinst starts prometheus.service (systemd, or its init script where there
  # is none): policy-rc.d answering 101 keeps invoke-rc.d and deb-systemd-invoke from starting
  # anything during the install. Ours only if there was none.
  if [ ! -e "$policy_rc" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy_rc"
    chmod 755 "$policy_rc"
    made_policy=1
  fi
  local rc=0 log
  log=$(mktemp)
  {
    apt-get update -qq &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus
  } >"$log" 2>&1 || rc=$?
  if [ "$made_policy" = 1 ]; then
    rm -f "$policy_rc"
  fi
  if [ "$rc" != 0 ]; then
    cat "$log" >&2
    rm -f "$log"
    echo "installing Debian's prometheus package failed ($rc)" >&2
    exit "$rc"
  fi
  rm -f "$log"
  # Should the package's server have started anyway (a policy-rc.d of the host's own that
  # allows it), stop it: only its service, never processes by name.
  if [ -d /run/systemd/system ]; then
    systemctl disable --now prometheus.service >/dev/null 2>&1 || true
  elif [ -x /etc/init.d/prometheus ]; then
    /etc/init.d/prometheus stop >/dev/null 2>&1 || true
  fi
  if pgrep -x prometheus >/dev/null; then
    echo "a prometheus server is running after the install; stop it (systemctl stop prometheus)" >&2
    exit 1
  fi
  echo "installed promtool ($(promtool --version 2>&1 | head -1)) in $((SECONDS - t0)) s"
}

install_promtool

echo "== promtool check rules"
promtool check rules deploy/prometheus/nodecell-alerts.yml
echo "== promtool test rules"
promtool test rules deploy/prometheus/nodecell-alerts.test.yml

# A live scrape of the real server, for the metric names and the label names and values the
# dashboard and the rules use: the default native backend, loopback ports only.
scrape=""
bin=${NODECELL_BIN:-target/release/nodecell}
server_pid=""
tmp=$(mktemp -d)
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    for _ in $(seq 1 150); do
      kill -0 "$server_pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
if [ "$bin" != none ] && [ -x "$bin" ]; then
  read -r http_port grpc_port < <(python3 -c '
import socket
s = [socket.socket() for _ in range(2)]
for x in s: x.bind(("127.0.0.1", 0))
print(*(x.getsockname()[1] for x in s))')
  env -u NODE_EXTRA_CA_CERTS "$bin" serve --http-listen "127.0.0.1:$http_port" \
    --grpc-listen "127.0.0.1:$grpc_port" >"$tmp/serve.log" 2>&1 &
  server_pid=$!
  base="http://127.0.0.1:$http_port"
  for _ in $(seq 1 100); do
    curl -fsS --noproxy '*' -o /dev/null "$base/healthz" 2>/dev/null && break
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  if ! curl -fsS --noproxy '*' -o "$tmp/metrics.txt" "$base/metrics"; then
    echo "nodecell serve ($bin) did not serve /metrics; its log:" >&2
    cat "$tmp/serve.log" >&2
    exit 1
  fi
  scrape="$tmp/metrics.txt"
  echo "== scraped $bin serve on 127.0.0.1:$http_port ($(grep -vc '^#' "$scrape") series)"
elif [ "$bin" = none ]; then
  echo "== no scrape (NODECELL_BIN=none): metric names checked against telemetry.rs only"
else
  echo "== no nodecell binary at $bin (cargo build --release): metric names checked against telemetry.rs only"
fi

echo "== dashboard and alert rules name only nodecell's metrics"
python3 tools/check_dashboard.py ${scrape:+--metrics "$scrape"} \
  deploy/grafana/nodecell-dashboard.json deploy/prometheus/nodecell-alerts.yml

if command -v systemd-analyze >/dev/null; then
  echo "== systemd-analyze verify"
  # verify wants the ExecStart binary to exist: a copy of the unit that starts this checkout's
  # binary (or /bin/true where none is built) instead of /usr/local/bin/nodecell.
  exe=$(readlink -f "$bin" 2>/dev/null || true)
  [ -x "$exe" ] || exe=/bin/true
  sed "s|/usr/local/bin/nodecell|$exe|g" deploy/systemd/nodecell.service >"$tmp/nodecell.service"
  out=$(systemd-analyze verify "$tmp/nodecell.service" 2>&1) || {
    echo "$out" >&2
    exit 1
  }
  # Without a running systemd (a container) verify also prints what it cannot reach; only
  # the unit's own problems count.
  if grep -F "nodecell.service" <<<"$out" | grep -v "Failed to .* bus\|Failed to connect" >&2; then
    exit 1
  fi
  echo "ok"
else
  echo "== systemd-analyze missing: the unit is not verified"
fi
echo "deploy/ monitoring and unit: all checks passed"
