#!/usr/bin/env bash
# Runs a command in a QEMU VM whose kernel (Debian's own linux-image-amd64) has only cgroup v2
# (cgroup_no_v1=all), for testing on a cgroup-v2-only system from a cgroup v1 host.
#
#   scripts/cgroup2-vm.sh setup
#       Installs qemu-system-x86 (apt) if qemu-system-x86_64 is missing, and downloads Debian's
#       kernel (the package linux-image-amd64 depends on) and busybox-static, extracted with
#       dpkg-deb under .tools/cgroup2-vm/ (never installed on the host). Skips what is there.
#   scripts/cgroup2-vm.sh run [--mem MiB] [--timeout S] -- CMD...
#       Boots the VM (TCG, or KVM with CGROUP2_VM_ACCEL=kvm; -smp 2, no network), runs CMD (one
#       shell command line; several words are joined with spaces) with bash -c as root in the
#       guest, in the caller's $PWD, and exits with CMD's status. The guest's root is the host's /
#       (9p, read-only) under a tmpfs overlay: everything is writable, nothing reaches the host;
#       /tmp and /run are empty tmpfs (a $PWD under /tmp is carried over). CI, PATH, NODECELL_* and CARGO_* are passed through,
#       HOME=/root. Exits 124 on timeout (default 1800 s) and 125 when the VM fails or stops
#       without reporting CMD's status. Defaults: --mem 4096.
#   scripts/cgroup2-vm.sh check
#       Runs a check of the guest: cgroup2 only, controllers enabled, user+pid namespaces work,
#       writes do not reach the host.
#   scripts/cgroup2-vm.sh modules OUT NAME...
#       Copies the kernel's modules NAME... (after setup) into OUT after their dependencies, as
#       NN-name.ko numbered in load order (scripts/guest.sh uses this for the microVM guest).
#
# The guest's /init is scripts/cgroup2-vm-guest.sh; each run builds a fresh initramfs holding
# it, busybox, the kernel modules it needs and the job (command, directory, environment).
# CMD's stdout and stderr both arrive on this script's stdout (the serial console, \r removed),
# followed by a marker line with its status and the kernel's "reboot: Power down"; its stdin is
# /dev/null. Notes:
# - The host's / is read with 9p cache=loose: files changed on the host while the VM runs (a
#   concurrent cargo build) may be seen stale or half-written by the guest.
# - Guest writes live in RAM (the overlay's upper tmpfs may use 75% of --mem, /tmp 50%).
# - A SIGKILLed run leaves its ${TMPDIR:-/tmp}/cgroup2-vm.XXXXXX behind (qemu still dies).
# - CGROUP2_VM_TOOLS overrides the .tools/cgroup2-vm directory.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
tools=${CGROUP2_VM_TOOLS:-$(dirname "$here")/.tools/cgroup2-vm}
busybox=$tools/busybox/bin/busybox
# The modules stage 1 needs (their dependencies are added from modules.dep).
want_modules=(virtio_pci 9pnet_virtio 9p overlay)

die() {
  echo "cgroup2-vm: $*" >&2
  exit 1
}

usage() {
  sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}" >&2
  exit 2
}

# apt-get as root, retrying once after `apt-get update` (stale or missing package lists).
apt_retry() {
  "$@" || { apt-get update -qq && "$@"; }
}

# The extracted kernel: its vmlinuz and module directory (exactly one).
find_kernel() {
  local v=("$tools"/kernel/boot/vmlinuz-*)
  [ "${#v[@]}" = 1 ] && [ -f "${v[0]}" ] || return 1
  vmlinuz=${v[0]}
  kver=${vmlinuz##*/vmlinuz-}
  # The PVH-bootable ELF that setup unpacks, if any (see extract_vmlinux).
  [ ! -f "$tools/kernel/boot/vmlinux-$kver" ] || vmlinuz=$tools/kernel/boot/vmlinux-$kver
  moddir=$tools/kernel/lib/modules/$kver
  [ -d "$moddir" ] || moddir=$tools/kernel/usr/lib/modules/$kver
  [ -f "$moddir/modules.dep" ]
}

setup() {
  if ! command -v qemu-system-x86_64 >/dev/null; then
    [ "$(id -u)" = 0 ] || die "qemu-system-x86_64 is missing: apt-get install qemu-system-x86 (as root)"
    apt_retry apt-get install -y --no-install-recommends qemu-system-x86
  fi
  mkdir -p "$tools"
  local dl
  dl=$(mktemp -d "${TMPDIR:-/tmp}/cgroup2-vm-setup.XXXXXX")
  # shellcheck disable=SC2064 # expand $dl now
  trap "rm -rf '$dl'" EXIT
  # Downloads as root would otherwise go through the _apt sandbox, which cannot write to $dl.
  local aptdl=(apt-get download -q)
  [ "$(id -u)" != 0 ] || aptdl+=(-o APT::Sandbox::User=root)

  if [ ! -x "$busybox" ]; then
    (cd "$dl" && apt_retry "${aptdl[@]}" busybox-static)
    rm -rf "$tools/busybox.new"
    dpkg-deb -x "$dl"/busybox-static_*.deb "$tools/busybox.new"
    rm -rf "$tools/busybox"
    mv "$tools/busybox.new" "$tools/busybox"
  fi

  # The versioned package linux-image-amd64 depends on, e.g. linux-image-6.1.0-57-amd64.
  local pkg
  pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[^ ]*\).*/\1/p' | head -n1) || true
  if [ -z "$pkg" ] && [ "$(id -u)" = 0 ]; then
    apt-get update -qq
    pkg=$(apt-cache depends linux-image-amd64 | sed -n 's/^ *Depends: \(linux-image-[^ ]*\).*/\1/p' | head -n1)
  fi
  [ -n "$pkg" ] || die "cannot resolve linux-image-amd64's kernel package (apt-get update?)"
  local kver=${pkg#linux-image-}
  if [ ! -f "$tools/kernel/boot/vmlinuz-$kver" ]; then
    (cd "$dl" && apt_retry "${aptdl[@]}" "$pkg")
    rm -rf "$tools/kernel.new"
    dpkg-deb -x "$dl/${pkg}"_*.deb "$tools/kernel.new"
    # shellcheck disable=SC2016 # a dpkg-deb format, not a shell expansion
    dpkg-deb -W --showformat='${Package} ${Version}\n' "$dl/${pkg}"_*.deb >"$tools/kernel.new/deb-version"
    # The package ships no modules.dep (depmod runs at install time): make it with busybox.
    "$busybox" depmod -b "$tools/kernel.new" "$kver"
    extract_vmlinux "$tools/kernel.new" "$kver"
    rm -rf "$tools/kernel"
    mv "$tools/kernel.new" "$tools/kernel"
  elif [ ! -f "$tools/kernel/boot/vmlinux-$kver" ]; then
    extract_vmlinux "$tools/kernel" "$kver"
  fi
  find_kernel || die "no usable kernel under $tools/kernel"
  echo "cgroup2-vm: ready in $tools: $(cat "$tools/kernel/deb-version"), $("$busybox" | sed -n '1s/ multi-call.*//p')"
  rm -rf "$dl"
  trap - EXIT
}

# Unpacks the ELF kernel from the bzImage into boot/vmlinux-VERSION when the kernel can boot
# through PVH: qemu then loads it directly, skipping the decompressor, which takes ~5 s under TCG.
# Without it `run` boots the bzImage.
extract_vmlinux() {
  local dir=$1 kver=$2 off
  grep -q '^CONFIG_PVH=y' "$dir/boot/config-$kver" || return 0
  off=$(LC_ALL=C grep -aboUP '\xfd7zXZ\x00' "$dir/boot/vmlinuz-$kver" | head -n1 | cut -d: -f1) || true
  [ -n "$off" ] || return 0
  # xz complains about the data after the stream; the ELF magic tells whether it worked.
  tail -c +$((off + 1)) "$dir/boot/vmlinuz-$kver" | xz -dcq >"$dir/boot/vmlinux-$kver" 2>/dev/null || true
  if [ "$(head -c4 "$dir/boot/vmlinux-$kver" | od -An -tx1 | tr -d ' ')" != 7f454c46 ]; then
    rm -f "$dir/boot/vmlinux-$kver"
  fi
}

# Copies the modules named $2... and their dependencies, in load order, into $1 as NN-name.ko
# (decompressed), following modules.dep; built-in ones are skipped.
copy_modules() {
  local out=$1 line mod name n=0
  local -A deps=() path=() added=()
  while IFS= read -r line; do
    mod=${line%%:*}
    deps[$mod]=${line#*:}
    name=${mod##*/}
    name=${name%%.ko*}
    path[${name//-/_}]=$mod
  done <"$moddir/modules.dep"
  # Adds a module (a path relative to $moddir) after its dependencies.
  add() {
    local m=$1 d f
    [ -z "${added[$m]:-}" ] || return 0
    added[$m]=1
    for d in ${deps[$m]}; do add "$d"; done
    n=$((n + 1))
    f=${m##*/}
    f=$out/$(printf '%02d-%s.ko' "$n" "${f%%.ko*}")
    case $m in
      *.ko) cp "$moddir/$m" "$f" ;;
      *.ko.xz) xz -dc "$moddir/$m" >"$f" ;;
      *.ko.zst) zstd -qdc "$moddir/$m" >"$f" ;;
      *.ko.gz) gzip -dc "$moddir/$m" >"$f" ;;
      *) die "unknown module format: $m" ;;
    esac
  }
  shift
  for name in "$@"; do
    if [ -n "${path[$name]:-}" ]; then
      add "${path[$name]}"
    elif ! grep -Eq "/${name//_/[-_]}\.ko" "$moddir/modules.builtin"; then
      die "kernel module $name not found in $moddir"
    fi
  done
}

# Single-quotes $1 for sh.
sq() {
  printf "'%s'" "${1//\'/\'\\\'\'}"
}

run() {
  local mem=4096 timeout=1800
  while [ $# -gt 0 ]; do
    case $1 in
      --mem) mem=${2:?--mem needs MiB}; shift 2 ;;
      --timeout) timeout=${2:?--timeout needs seconds}; shift 2 ;;
      --) shift; break ;;
      *) usage ;;
    esac
  done
  [ $# -gt 0 ] || usage
  [[ $mem =~ ^[0-9]+$ && $timeout =~ ^[0-9]+$ ]] || usage
  local cmd="$*"
  { [ -x "$busybox" ] && find_kernel; } || setup >&2
  find_kernel || die "no kernel: run $0 setup"
  command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 is missing: run $0 setup"

  # Everything temporary lives in $tmp; the EXIT trap stops qemu (if still running) and removes it.
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/cgroup2-vm.XXXXXX")
  qpid='' tailpid=''
  trap cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  trap 'exit 129' HUP

  # The initramfs: busybox, /init, the modules, the job.
  local root=$tmp/initramfs
  mkdir -p "$root/bin" "$root/cgroup2-vm/modules"
  cp "$busybox" "$root/bin/busybox"
  ln -s busybox "$root/bin/sh"
  cp "$here/cgroup2-vm-guest.sh" "$root/init"
  chmod 0755 "$root/init"
  copy_modules "$root/cgroup2-vm/modules" "${want_modules[@]}"
  local marker name
  marker=CGROUP2-VM-EXIT-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
  {
    echo "CGROUP2_VM_CWD=$(sq "$PWD")"
    echo "CGROUP2_VM_CMD=$(sq "$cmd")"
    echo "CGROUP2_VM_MARKER=$marker"
    echo "export HOME=/root PATH=$(sq "$PATH")"
    [ -z "${CI+x}" ] || echo "export CI=$(sq "$CI")"
    for name in $(compgen -e); do
      if [[ $name =~ ^(NODECELL|CARGO)_[A-Za-z0-9_]*$ ]]; then echo "export $name=$(sq "${!name}")"; fi
    done
  } >"$root/cgroup2-vm/job"
  (cd "$root" && find . -mindepth 1 | "$busybox" cpio -o -H newc -R 0:0 2>/dev/null) | gzip -1 >"$tmp/initrd.gz"

  # TCG unless CGROUP2_VM_ACCEL=kvm: a /dev/kvm can be there and still not work (nested, on this
  # project's build hosts qemu asserts on an MSR with -cpu host and hangs in early boot without).
  local accel=(-accel "tcg,thread=multi" -cpu max)
  [ "${CGROUP2_VM_ACCEL:-tcg}" != kvm ] || accel=(-accel kvm -cpu host)
  local log=$tmp/console.log
  : >"$log"
  local start=$SECONDS
  # `timeout` bounds the run. The setprivs make timeout die with this script and qemu with
  # timeout, should this script be SIGKILLed before its trap can run. The console goes to $log,
  # shown live by tail below.
  setpriv --pdeathsig KILL -- timeout -k 10 "$timeout" setpriv --pdeathsig KILL -- \
    qemu-system-x86_64 -nodefaults -no-user-config -no-reboot \
    -machine pc "${accel[@]}" -smp 2 -m "$mem" \
    -display none -monitor none -serial "file:$log" -nic none \
    -pidfile "$tmp/qemu.pid" \
    -fsdev local,id=hostroot,path=/,security_model=none,readonly=on,multidevs=remap \
    -device virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot \
    -kernel "$vmlinuz" -initrd "$tmp/initrd.gz" \
    -append "console=ttyS0 quiet panic=-1 cgroup_no_v1=all systemd.unified_cgroup_hierarchy=1" \
    </dev/null >"$tmp/qemu.out" 2>&1 &
  qpid=$!
  tail -s 0.2 -n +1 -f --pid="$qpid" "$log" | tr -d '\r' &
  tailpid=$!
  local qrc=0
  wait "$qpid" || qrc=$?
  qpid=''
  wait "$tailpid" || true
  tailpid=''

  local secs=$((SECONDS - start)) status
  status=$(tr -d '\r' <"$log" | sed -n "s/^.*$marker \([0-9]*\)\$/\1/p" | tail -n1)
  # 124: timeout sent TERM; 137: qemu ignored it and got KILL 10 s later.
  if [ "$qrc" = 124 ] || { [ "$qrc" = 137 ] && [ "$secs" -ge "$timeout" ]; }; then
    echo "cgroup2-vm: timed out after ${timeout}s; qemu killed" >&2
    exit 124
  fi
  if [ -z "$status" ]; then
    echo "cgroup2-vm: the VM stopped without reporting the command's status (qemu exit $qrc, ${secs}s)" >&2
    sed 's/^/cgroup2-vm: qemu: /' "$tmp/qemu.out" >&2
    exit 125
  fi
  echo "cgroup2-vm: exit status $status after ${secs}s" >&2
  exit "$status"
}

# Stops qemu (via timeout, which passes the signal on; then directly) and the console tail, and
# removes $tmp.
cleanup() {
  local p
  if [ -n "${qpid:-}" ]; then
    p=$(cat "$tmp/qemu.pid" 2>/dev/null || true)
    kill -TERM "$qpid" ${p:+"$p"} 2>/dev/null || true
    for _ in $(seq 50); do
      { kill -0 "$qpid" || { [ -n "$p" ] && kill -0 "$p"; }; } 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$qpid" ${p:+"$p"} 2>/dev/null || true
    wait "$qpid" 2>/dev/null || true
  fi
  if [ -n "${tailpid:-}" ]; then
    kill "$tailpid" 2>/dev/null || true
    wait "$tailpid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}

check() {
  # Runs in the guest; `set -e` makes any failed step fail the check.
  local script
  script=$(
    cat <<'EOF'
set -eu
echo "--- /proc/self/cgroup"; cat /proc/self/cgroup
echo "--- cgroup.controllers"; cat /sys/fs/cgroup/cgroup.controllers
echo "--- cgroup.subtree_control"; cat /sys/fs/cgroup/cgroup.subtree_control
echo "--- cgroup mounts"; grep cgroup /proc/mounts
[ "$(cat /proc/self/cgroup)" = "0::/" ] || { echo "FAIL: /proc/self/cgroup is not v2-only"; exit 1; }
if awk '$3 == "cgroup" { found = 1 } END { exit !found }' /proc/mounts; then
  echo "FAIL: a cgroup v1 hierarchy is mounted"; exit 1
fi
for c in memory pids cpu; do
  grep -qw "$c" /sys/fs/cgroup/cgroup.subtree_control || { echo "FAIL: $c not enabled"; exit 1; }
done
unshare --user --map-root-user --pid --fork --mount-proc true || { echo "FAIL: unshare"; exit 1; }
echo "unshare --user --map-root-user --pid --fork --mount-proc: ok"
touch /.cgroup2-vm-write-test "$PWD/.cgroup2-vm-write-test"
echo "CHECK OK"
EOF
  )
  local rc=0
  (run -- "$script") || rc=$?
  if [ -e /.cgroup2-vm-write-test ] || [ -e "$PWD/.cgroup2-vm-write-test" ]; then
    echo "cgroup2-vm: FAIL: a write in the guest reached the host" >&2
    rm -f /.cgroup2-vm-write-test "$PWD/.cgroup2-vm-write-test"
    rc=1
  fi
  [ "$rc" = 0 ] && echo "cgroup2-vm: check passed" >&2
  return "$rc"
}

case ${1:-} in
  setup) setup ;;
  run) shift; run "$@" ;;
  check) check ;;
  modules)
    [ $# -ge 3 ] || usage
    find_kernel || die "no kernel: run $0 setup"
    mkdir -p "$2"
    copy_modules "$2" "${@:3}"
    ;;
  *) usage ;;
esac
