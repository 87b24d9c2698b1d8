#!/usr/bin/env bash
# Sets everything up, then runs the service on the default (native) backend:
# HTTP on 127.0.0.1:8080, gRPC on 127.0.0.1:50051, until SIGTERM/SIGINT. Extra arguments go
# to `nodecell serve` (see `target/release/nodecell serve --help`).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >&2
exec target/release/nodecell serve "$@"
