#!/usr/bin/env bash
# Warm-pool latency and idle memory against bare Node, in one run (library level).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -q
exec cargo run --release --locked -q --example warm_pool -- "${1:-200}"
