#!/usr/bin/env bash
# The Node.js lines beside the default (tools/node: 24), as the official binaries from the npm
# registry pinned in tools/node-lines, installed into .tools/node-lines.
#
#   scripts/node-lines.sh install   install them (npm ci; reinstalled when the pins change)
#   scripts/node-lines.sh test      on Node 22 and 26 (supported): the runner's tests, the
#                                   contract corpus on the native backend, and (as root, with
#                                   gcc and strace) the seccomp policy's verify.sh; on Node 20
#                                   (retired): serve, check and the runner refuse it
#
# Needs scripts/setup.sh to have run (the release build, the runner's modules).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/node-env.sh
. scripts/node-env.sh
DIR=.tools/node-lines
bin() { echo "$PWD/$DIR/node_modules/node-$1/bin/node"; }

install() {
  if [ ! -x "$(bin 26)" ] || ! cmp -s tools/node-lines/package-lock.json "$DIR/package-lock.json"; then
    rm -rf "$DIR"
    mkdir -p "$DIR"
    cp tools/node-lines/package.json tools/node-lines/package-lock.json "$DIR/"
    (cd "$DIR" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
  fi
}

supported() {
  local line=$1 node
  node=$(bin "$line")
  echo "== Node $("$node" --version): the runner's tests"
  # The runner's tests build its code caches for this Node first (pretest); each Node's
  # caches are files of their own (.v8cache/<version>-…), the default's stay.
  (cd runner && PATH="$(dirname "$node"):$PATH" npm test --silent)
  echo "== Node $("$node" --version): the contract corpus on the native backend"
  NODECELL_NODE=$node cargo test --release --locked -q --test corpus -- contract_corpus::native
  if [ "$(id -u)" = 0 ] && command -v strace >/dev/null && command -v gcc >/dev/null; then
    echo "== Node $("$node" --version): the seccomp policy"
    NODE_BIN=$node policy/seccomp/verify.sh >/tmp/nodecell-node-lines-verify.$$ 2>&1 || {
      cat /tmp/nodecell-node-lines-verify.$$; rm -f /tmp/nodecell-node-lines-verify.$$; return 1; }
    grep -E '^(FAIL|== )' /tmp/nodecell-node-lines-verify.$$ | tail -3 || true
    rm -f /tmp/nodecell-node-lines-verify.$$
  fi
}

# A retired line is refused by serve (exit 64), check (exit 1) and the runner (exit 78), each
# naming the supported lines.
retired() {
  local node out rc
  node=$(bin 20)
  echo "== Node $("$node" --version): refused"
  expect() { # what, wanted status, output, status
    if [ "$4" != "$2" ] || ! grep -q '22, 24 or 26' <<<"$3"; then
      echo "node-lines: $1 with Node 20: status $4 (want $2): $3" >&2
      exit 1
    fi
    echo "ok: $1 refuses it (status $4)"
  }
  rc=0; out=$(NODECELL_NODE=$node NODECELL_HTTP_LISTEN=127.0.0.1:0 NODECELL_GRPC_LISTEN=127.0.0.1:0 \
    timeout 20 target/release/nodecell serve 2>&1) || rc=$?
  expect "nodecell serve" 64 "$out" "$rc"
  rc=0; out=$(NODECELL_NODE=$node target/release/nodecell check 2>&1) || rc=$?
  expect "nodecell check" 1 "$out" "$rc"
  rc=0; out=$(env -i "$node" runner/runner.js 2>&1 </dev/null) || rc=$?
  expect "runner.js" 78 "$out" "$rc"
}

case "${1:-}" in
  install) install ;;
  test)
    install
    supported 22
    supported 26
    retired
    ;;
  *) echo "usage: $0 install|test" >&2; exit 2 ;;
esac
