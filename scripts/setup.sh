#!/usr/bin/env bash
# Installs what nodecell needs (from the registries only) and builds it.
#   - the runner's npm modules, exactly as pinned in runner/package-lock.json
#   - target/release/nodecell and target/release/nodecell-launcher
set -euo pipefail
cd "$(dirname "$0")/.."

node_major=$(/usr/bin/node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$node_major" -lt 20 ]; then
  echo "setup: nodecell needs Node.js >= 20 at /usr/bin/node (found: ${node_major})" >&2
  exit 1
fi
(cd runner && npm ci --no-audit --no-fund --loglevel=error)
cargo build --release --locked
