#!/bin/sh
# shellcheck shell=sh
# The /init of the initramfs that scripts/cgroup2-vm.sh builds (busybox sh, PID 1 in the guest).
# Not meant to be run on a host.
#
# Stage 1 (no argument, run by the kernel from the initramfs):
#   loads the virtio-pci, 9p and overlayfs modules (/cgroup2-vm/modules/NN-*.ko, numbered in
#   dependency order by the host), mounts the host's / (9p tag "hostroot", read-only) under a
#   tmpfs upper layer with overlayfs, and switch_roots into it (switch_root, not chroot: a
#   chrooted process may not create user namespaces).
# Stage 2 (`busybox sh /run/cgroup2-vm/init stage2`, PID 1 in the new root):
#   mounts /tmp, /dev/pts, /dev/shm and cgroup2 (the only hierarchy: the kernel runs with
#   cgroup_no_v1=all), enables +memory +pids +cpu in the root's subtree_control, brings up lo,
#   sources /run/cgroup2-vm/job (written by the host: CGROUP2_VM_CWD, CGROUP2_VM_CMD,
#   CGROUP2_VM_MARKER and the exported environment), runs the command in that directory, prints
#   "<marker> <exit status>" on the console and powers off. The host parses that marker line.
set -u

D=/run/cgroup2-vm # stage 2's copy of busybox, this script and the job file (a tmpfs)

poweroff_now() {
  # busybox poweroff -f calls reboot(2) directly; sysrq is the fallback. The host script treats a
  # guest that stops without printing the marker as a failed boot.
  sync
  "$1" poweroff -f
  echo o >/proc/sysrq-trigger
  sleep 60
}

if [ "${1:-}" != stage2 ]; then
  # ---- Stage 1: in the initramfs. ----
  fail() {
    echo "cgroup2-vm: guest init failed: $*"
    poweroff_now /bin/busybox
  }
  /bin/busybox mkdir -p /proc /sys /dev /lower /rw /newroot
  /bin/busybox --install -s /bin
  export PATH=/bin
  mount -t devtmpfs devtmpfs /dev || fail "mount devtmpfs"
  # The initramfs has no /dev/console node (it is built unprivileged), so the kernel could not
  # give us a console: take it now.
  exec </dev/console >/dev/console 2>&1
  mount -t proc proc /proc || fail "mount proc"
  mount -t sysfs sysfs /sys || fail "mount sysfs"

  for ko in /cgroup2-vm/modules/*.ko; do
    [ -e "$ko" ] || continue
    insmod "$ko" || fail "insmod $ko"
  done

  # The 9p device is normally probed synchronously by insmod; retry briefly just in case.
  opts=ro,trans=virtio,version=9p2000.L,msize=512000,cache=loose
  i=0
  until mount -t 9p -o "$opts" hostroot /lower 2>/dev/null; do
    i=$((i + 1))
    [ "$i" -lt 50 ] || fail "mount 9p hostroot"
    sleep 0.1
  done
  # Everything written in the guest goes to this tmpfs and is lost at poweroff.
  mount -t tmpfs -o mode=0755,size=75% upper /rw || fail "mount tmpfs upper"
  mkdir -p /rw/upper /rw/work
  mount -t overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work overlay /newroot ||
    fail "mount overlay"
  mount -t tmpfs -o mode=0755,nosuid,nodev run /newroot/run || fail "mount /run"
  mkdir -p "/newroot$D"
  cp /bin/busybox /init /cgroup2-vm/job "/newroot$D/" || fail "copy to /run"
  for m in dev proc sys; do
    mount --move "/$m" "/newroot/$m" || fail "move /$m"
  done
  # switch_root empties the initramfs, moves /newroot onto / and execs stage 2 there.
  # shellcheck disable=SC2093 # if exec fails, PID 1 exits: the kernel panics and qemu stops.
  exec switch_root /newroot "$D/busybox" sh "$D/init" stage2
  fail "switch_root"
fi

# ---- Stage 2: in the overlay root. Busybox applets come from $D/bin. ----
fail() {
  echo "cgroup2-vm: guest stage 2 failed: $*"
  poweroff_now "$D/busybox"
}
"$D/busybox" mkdir -p "$D/bin"
"$D/busybox" --install -s "$D/bin"
export PATH="$D/bin"
# shellcheck source=/dev/null
. "$D/job" || fail "read job"
PATH="$D/bin" # the job's PATH is for its command
# A checkout under /tmp (CI may clone there) stays visible under the fresh /tmp: bound aside
# first, moved back after.
case "$CGROUP2_VM_CWD" in
  /tmp/*) { mkdir -p "$D/cwd" && mount --bind "$CGROUP2_VM_CWD" "$D/cwd"; } || fail "bind $CGROUP2_VM_CWD" ;;
esac
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /tmp || fail "mount /tmp"
case "$CGROUP2_VM_CWD" in
  /tmp/*) { mkdir -p "$CGROUP2_VM_CWD" && mount --move "$D/cwd" "$CGROUP2_VM_CWD"; } || fail "move $CGROUP2_VM_CWD back" ;;
esac
mkdir -p /dev/pts /dev/shm
mount -t devpts -o mode=0620,ptmxmode=0666,gid=5 devpts /dev/pts || fail "mount /dev/pts"
mount -t tmpfs -o mode=1777,nosuid,nodev shm /dev/shm || fail "mount /dev/shm"
mount -t cgroup2 -o nsdelegate,memory_recursiveprot cgroup2 /sys/fs/cgroup || fail "mount cgroup2"
echo '+memory +pids +cpu' >/sys/fs/cgroup/cgroup.subtree_control || fail "enable controllers"
# Debian's kernels have this switch; keep unprivileged user namespaces on.
[ ! -e /proc/sys/kernel/unprivileged_userns_clone ] || echo 1 >/proc/sys/kernel/unprivileged_userns_clone
ip link set lo up || fail "ip link set lo up"
hostname cgroup2-vm

# shellcheck source=/dev/null
. "$D/job" || fail "read job"
cd "$CGROUP2_VM_CWD" || fail "cd $CGROUP2_VM_CWD (only paths on the host's / are there; /run is fresh)"
shell=/bin/sh
[ ! -x /bin/bash ] || shell=/bin/bash
"$shell" -c "$CGROUP2_VM_CMD" </dev/null
rc=$?
# Back to the busybox applets: the job's PATH points at the host's tools.
PATH="$D/bin"
echo "$CGROUP2_VM_MARKER $rc"
poweroff_now "$D/busybox"
