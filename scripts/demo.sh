#!/usr/bin/env bash
# Sets everything up, then runs the example code step once in the default (native) sandbox.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >&2
exec target/release/nodecell run examples/avs-step.js --inputs-file examples/avs-step.inputs.json
