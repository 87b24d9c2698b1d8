#!/usr/bin/env bash
# Fuzzes request decoding (HTTP JSON, gRPC protobuf) and the runner's frame decoder
# (docs/fuzzing.md): each target of fuzz/ for SECONDS (default 60), starting from its corpus
# in fuzz/corpus/<target>/. Fails on the first crash; libFuzzer prints the input, which is
# also kept in fuzz/artifacts/<target>/.
#   scripts/fuzz.sh [SECONDS] [TARGET...]
# New inputs are found into a scratch directory, removed at the end; with FUZZ_GROW=1 they
# are added to fuzz/corpus/<target>/ instead (then `cargo fuzz cmin` keeps it small).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(http_request grpc_request runner_frame)

cargo_fuzz_version=0.13.2
if [ "$(cargo fuzz --version 2>/dev/null)" != "cargo-fuzz $cargo_fuzz_version" ]; then
  cargo install --locked cargo-fuzz --version "$cargo_fuzz_version"
fi
# cargo fuzz passes nightly-only flags (-Zsanitizer and others); stable takes them this way.
export RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}/fuzz"

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
cargo fuzz build
for t in "${targets[@]}"; do
  corpus=("$scratch/$t" "fuzz/corpus/$t")
  [ "${FUZZ_GROW:-0}" = 1 ] && corpus=("fuzz/corpus/$t")
  mkdir -p "${corpus[@]}"
  echo "fuzz: $t for ${seconds}s"
  # A few KiB of input never needs more memory than this: more is a crash (unbounded
  # allocation), as is a panic, an AddressSanitizer report or 10 s on one input.
  cargo fuzz run "$t" "${corpus[@]}" -- \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=128 \
    -print_final_stats=1
done
