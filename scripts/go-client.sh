#!/usr/bin/env bash
# The Go client (clients/go): its generated code, its checks and its tests.
#
#   scripts/go-client.sh gen     regenerate clients/go/nodecellpb from proto/ (buf.gen.yaml)
#   scripts/go-client.sh check   buf lint (STANDARD) on proto/; the checked-in generated code is
#                                what gen makes now (else the diff, and failure); buf breaking
#                                against the newest v* tag, if any; gofmt; go vet
#   scripts/go-client.sh test    go test ./... in clients/go: unit tests, and integration tests
#                                against target/release/nodecell (they fail when it is missing),
#                                on every backend `nodecell check` lists as available
#                                (NODECELL_GO_BACKENDS=native,... narrows them)
#
# Needs Go >= 1.24 and Node.js with npm. Tools come from the registries, pinned: buf from npm
# (@bufbuild/buf, exact version in clients/go/tools/package.json, hash-pinned in its
# package-lock.json, installed into clients/go/tools/node_modules), protoc-gen-go and
# protoc-gen-go-grpc from the Go module proxy (`tool` directives in clients/go/go.mod, run
# with `go tool`).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
GO_DIR=$ROOT/clients/go
TOOLS=$GO_DIR/tools
BUF=$TOOLS/node_modules/.bin/buf

usage() {
  sed -n '2,/^$/p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

# buf, installed with npm ci when missing or not the pinned version.
buf() {
  local want
  want=$(node -p "require('$TOOLS/package.json').devDependencies['@bufbuild/buf']")
  if [ ! -x "$BUF" ] || [ "$("$BUF" --version 2>/dev/null)" != "$want" ]; then
    echo "installing buf $want (npm ci --prefix clients/go/tools)" >&2
    npm ci --prefix "$TOOLS" --ignore-scripts --no-audit --no-fund --loglevel=error >&2
  fi
  "$BUF" "$@"
}

TMP=
cleanup() { if [ -n "$TMP" ]; then rm -rf "$TMP"; fi; }
trap cleanup EXIT

gen() {
  buf generate
}

check() {
  echo "== buf lint (STANDARD)"
  buf lint

  echo "== generated code up to date"
  TMP=$(mktemp -d)
  buf generate -o "$TMP"
  if ! diff -ru "$GO_DIR/nodecellpb" "$TMP/clients/go/nodecellpb"; then
    echo "clients/go/nodecellpb is stale: run scripts/go-client.sh gen" >&2
    exit 1
  fi

  echo "== buf breaking"
  local tag
  tag=$(git tag --list 'v*' --sort=-version:refname | head -n 1)
  if [ -n "$tag" ]; then
    buf breaking proto --against "$ROOT/.git#tag=$tag,subdir=proto"
    echo "no breaking change since $tag"
  else
    echo "no release tag (v*) exists yet: buf breaking skipped"
  fi

  echo "== gofmt"
  local unformatted
  unformatted=$(cd "$GO_DIR" && gofmt -l $(go list -f '{{.Dir}}' ./...))
  if [ -n "$unformatted" ]; then
    echo "not gofmt'd:" >&2
    echo "$unformatted" >&2
    exit 1
  fi

  echo "== go vet"
  (cd "$GO_DIR" && go vet ./...)
}

run_tests() {
  # The docker and gvisor backends need a Docker Engine: one already answering is used as it
  # is; otherwise (as root) nodecell's own is started and stopped when the tests end, as
  # scripts/test.sh does.
  # shellcheck source=engine-answers.sh
  . scripts/engine-answers.sh
  local found="${DOCKER_HOST:-unix:///var/run/docker.sock}"
  if [[ "$found" == unix://* ]] && answers "${found#unix://}"; then
    export DOCKER_HOST="$found" # scripts/test.sh's engine (or the host's): left running
  elif [ "$(id -u)" = 0 ] || [ -n "${DOCKER_HOST:-}" ]; then
    DOCKER_HOST=$(scripts/dockerd.sh start)
    export DOCKER_HOST
    trap 'scripts/dockerd.sh stop; cleanup' EXIT
  fi
  (cd "$GO_DIR" && go test ./... -count=1 -timeout 20m)
}

case "${1:-}" in
  gen) gen ;;
  check) check ;;
  test) run_tests ;;
  *) usage ;;
esac
