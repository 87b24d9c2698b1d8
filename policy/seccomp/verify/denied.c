/* Probe for policy/seccomp/verify.sh: run under seccomp-exec, it makes each call the policy
 * must refuse (and a few it must allow) and checks the errno. Every probe is harmless even
 * WITHOUT a filter (bad paths, invalid magic numbers, sig 0, /dev/null instead of a tty), so a
 * broken filter cannot hurt the host. Exit 0 only if every result is as expected; a SIGSYS
 * (seccomp kill/trap) would kill the program instead, which verify.sh also reports. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/io_uring.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

static int failures;

/* Raw syscall; returns 0 on success or errno. */
#define SYS(...) (syscall(__VA_ARGS__) < 0 ? errno : 0)

static void expect(const char *what, int got, int want) {
  int ok = got == want;
  printf("%-4s %-58s errno=%-3d %-8s (want %s)\n", ok ? "ok" : "FAIL", what, got,
         got ? strerrorname_np(got) : "success", want ? strerrorname_np(want) : "success");
  if (!ok) failures++;
}

/* For calls that would create a child process if (wrongly) allowed. */
static int sys_clone_flags(unsigned long flags) {
  long r = syscall(SYS_clone, flags | SIGCHLD, 0, 0, 0, 0);
  if (r == 0) _exit(0);
  if (r < 0) return errno;
  waitpid((pid_t)r, NULL, 0);
  return 0;
}

int main(void) {
  int devnull = open("/dev/null", O_RDWR);
  char c = 'x';

  puts("# denied by node_allow -> EPERM");
  expect("socket(AF_INET, SOCK_STREAM)", SYS(SYS_socket, AF_INET, SOCK_STREAM, 0), EPERM);
  expect("socket(AF_INET6, SOCK_DGRAM)", SYS(SYS_socket, AF_INET6, SOCK_DGRAM, 0), EPERM);
  expect("socket(AF_UNIX, SOCK_STREAM)", SYS(SYS_socket, AF_UNIX, SOCK_STREAM, 0), EPERM);
  expect("socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE)", SYS(SYS_socket, AF_NETLINK, SOCK_RAW, 0), EPERM);
  int sv[2];
  expect("socketpair(AF_INET, SOCK_STREAM)", SYS(SYS_socketpair, AF_INET, SOCK_STREAM, 0, sv), EPERM);
  expect("unshare(CLONE_NEWUSER)", SYS(SYS_unshare, CLONE_NEWUSER), EPERM);
  expect("unshare(CLONE_NEWNS)", SYS(SYS_unshare, CLONE_NEWNS), EPERM);
  expect("setns(-1, 0)", SYS(SYS_setns, -1, 0), EPERM);
  expect("clone(CLONE_NEWUSER|SIGCHLD)", sys_clone_flags(CLONE_NEWUSER), EPERM);
  expect("clone(CLONE_NEWNET|SIGCHLD)", sys_clone_flags(CLONE_NEWNET), EPERM);
  expect("clone(CLONE_NEWPID|CLONE_NEWNS|SIGCHLD)", sys_clone_flags(CLONE_NEWPID | CLONE_NEWNS), EPERM);
  expect("clone(CLONE_NEWCGROUP|(1<<32)|SIGCHLD)", sys_clone_flags(CLONE_NEWCGROUP | (1UL << 32)), EPERM);
  expect("mount(none, /nonexistent, tmpfs)", SYS(SYS_mount, "none", "/nonexistent-nodecell", "tmpfs", 0, NULL), EPERM);
  expect("umount2(/nonexistent)", SYS(SYS_umount2, "/nonexistent-nodecell", 0), EPERM);
  expect("pivot_root(/nonexistent, /nonexistent)", SYS(SYS_pivot_root, "/nonexistent-nodecell", "/nonexistent-nodecell"), EPERM);
  expect("chroot(/nonexistent)", SYS(SYS_chroot, "/nonexistent-nodecell"), EPERM);
  expect("ptrace(PTRACE_ATTACH, 0)", SYS(SYS_ptrace, PTRACE_ATTACH, 0, 0, 0), EPERM);
  expect("process_vm_readv(self, 0 iov)", SYS(SYS_process_vm_readv, getpid(), NULL, 0, NULL, 0, 0), EPERM);
  expect("process_vm_writev(self, 0 iov)", SYS(SYS_process_vm_writev, getpid(), NULL, 0, NULL, 0, 0), EPERM);
  expect("bpf(BPF_MAP_CREATE, NULL, 0)", SYS(SYS_bpf, 0, NULL, 0), EPERM);
  expect("keyctl(-1)", SYS(SYS_keyctl, -1, 0, 0, 0, 0), EPERM);
  expect("add_key(NULL...)", SYS(SYS_add_key, NULL, NULL, NULL, 0, 0), EPERM);
  expect("request_key(NULL...)", SYS(SYS_request_key, NULL, NULL, NULL, 0), EPERM);
  expect("perf_event_open(NULL...)", SYS(SYS_perf_event_open, NULL, 0, -1, -1, 0), EPERM);
  expect("userfaultfd(O_CLOEXEC) [closed if it succeeds]", ({ long r = syscall(SYS_userfaultfd, O_CLOEXEC); if (r >= 0) close((int)r); r < 0 ? errno : 0; }), EPERM);
  expect("kexec_load(0, 0, NULL, ~0 invalid flags)", SYS(SYS_kexec_load, 0, 0, NULL, ~0UL), EPERM);
  expect("kexec_file_load(-1, -1, 0, NULL, ~0 invalid flags)", SYS(SYS_kexec_file_load, -1, -1, 0, NULL, ~0UL), EPERM);
  expect("init_module(NULL, 0, \"\")", SYS(SYS_init_module, NULL, 0, ""), EPERM);
  expect("finit_module(-1, \"\", 0)", SYS(SYS_finit_module, -1, "", 0), EPERM);
  expect("delete_module(nonexistent, O_NONBLOCK)", SYS(SYS_delete_module, "nodecell_nonexistent", O_NONBLOCK), EPERM);
  expect("open_by_handle_at(-1, NULL, 0)", SYS(SYS_open_by_handle_at, -1, NULL, 0), EPERM);
  expect("name_to_handle_at(-1, \"\", NULL, NULL, 0)", SYS(SYS_name_to_handle_at, -1, "", NULL, NULL, 0), EPERM);
  expect("clock_settime(CLOCK_REALTIME, NULL)", SYS(SYS_clock_settime, 0, NULL), EPERM);
  expect("settimeofday(NULL, NULL) [a no-op if allowed]", SYS(SYS_settimeofday, NULL, NULL), EPERM);
  expect("adjtimex(NULL)", SYS(SYS_adjtimex, NULL), EPERM);
  expect("clock_adjtime(CLOCK_REALTIME, NULL)", SYS(SYS_clock_adjtime, 0, NULL), EPERM);
  expect("swapon(/nonexistent)", SYS(SYS_swapon, "/nonexistent-nodecell", 0), EPERM);
  expect("swapoff(/nonexistent)", SYS(SYS_swapoff, "/nonexistent-nodecell"), EPERM);
  expect("reboot(0, 0, 0, NULL) [bad magic]", SYS(SYS_reboot, 0, 0, 0, NULL), EPERM);
  expect("acct(/nonexistent/x)", SYS(SYS_acct, "/nonexistent-nodecell/x"), EPERM);
  expect("quotactl(0, NULL, 0, NULL)", SYS(SYS_quotactl, 0, NULL, 0, NULL), EPERM);
  expect("setuid(getuid()) [a no-op if allowed]", SYS(SYS_setuid, getuid()), EPERM);
  expect("setgid(getgid()) [a no-op if allowed]", SYS(SYS_setgid, getgid()), EPERM);
  expect("setresuid(-1, -1, -1)", SYS(SYS_setresuid, -1, -1, -1), EPERM);
  expect("setgroups(0, NULL) [probe process only]", SYS(SYS_setgroups, 0, NULL), EPERM);
  expect("capset(NULL, NULL)", SYS(SYS_capset, NULL, NULL), EPERM);
  expect("personality(0xffffffff) [query]", SYS(SYS_personality, 0xffffffffUL), EPERM);
  expect("inotify_init1(0) (fs.watch)", SYS(SYS_inotify_init1, 0), EPERM);
  expect("memfd_create(\"x\", 0)", SYS(SYS_memfd_create, "x", 0), EPERM);
  expect("ioctl(/dev/null, TIOCSTI)", SYS(SYS_ioctl, devnull, TIOCSTI, &c), EPERM);
  expect("ioctl(/dev/null, TIOCSTI | 1<<32)", SYS(SYS_ioctl, devnull, (unsigned long)TIOCSTI | (1UL << 32), &c), EPERM);
  expect("ioctl(/dev/null, TIOCLINUX)", SYS(SYS_ioctl, devnull, TIOCLINUX, &c), EPERM);
  expect("ioctl(/dev/null, TIOCLINUX | 0xffffffff<<32)", SYS(SYS_ioctl, devnull, (unsigned long)TIOCLINUX | 0xffffffff00000000UL, &c), EPERM);
  expect("kill(-1, 0) [sig 0 sends nothing]", SYS(SYS_kill, -1, 0), EPERM);
  expect("prlimit64(getppid(), RLIMIT_NOFILE, NULL, &old)", ({ struct rlimit rl; SYS(SYS_prlimit64, getppid(), RLIMIT_NOFILE, NULL, &rl); }), EPERM);
  expect("prctl(PR_GET_DUMPABLE)", SYS(SYS_prctl, PR_GET_DUMPABLE, 0, 0, 0, 0), EPERM);
  expect("prctl(PR_SET_SECUREBITS, 0)", SYS(SYS_prctl, PR_SET_SECUREBITS, 0, 0, 0, 0), EPERM);
  expect("seccomp(SECCOMP_SET_MODE_FILTER, NEW_LISTENER, NULL)", SYS(SYS_seccomp, 1, 8, NULL), EPERM);
  expect("seccomp(SECCOMP_GET_ACTION_AVAIL, 0, NULL)", SYS(SYS_seccomp, 2, 0, NULL), EPERM);
  {
    int sp[2] = {-1, -1}, v = 4096;
    socketpair(AF_UNIX, SOCK_STREAM, 0, sp); /* allowed (probed below) */
    expect("setsockopt(SOL_SOCKET, SO_REUSEADDR)", SYS(SYS_setsockopt, sp[0], SOL_SOCKET, SO_REUSEADDR, &v, sizeof v), EPERM);
    expect("setsockopt(SOL_SOCKET, SO_PASSCRED)", SYS(SYS_setsockopt, sp[0], SOL_SOCKET, SO_PASSCRED, &v, sizeof v), EPERM);
    expect("setsockopt(SOL_SOCKET | 1<<32, SO_SNDBUF) [level checked on 32 bits: allowed]", SYS(SYS_setsockopt, sp[0], SOL_SOCKET | (1UL << 32), SO_SNDBUF, &v, sizeof v), 0);
    expect("setsockopt(IPPROTO_TCP, SO_SNDBUF)", SYS(SYS_setsockopt, sp[0], IPPROTO_TCP, SO_SNDBUF, &v, sizeof v), EPERM);
    expect("setsockopt(SOL_SOCKET, SO_SNDBUF)", SYS(SYS_setsockopt, sp[0], SOL_SOCKET, SO_SNDBUF, &v, sizeof v), 0);
    expect("setsockopt(SOL_SOCKET, SO_RCVBUF)", SYS(SYS_setsockopt, sp[0], SOL_SOCKET, SO_RCVBUF, &v, sizeof v), 0);
    close(sp[0]);
    close(sp[1]);
  }
  {
    struct sched_param sp = {0};
    expect("sched_setscheduler(0, SCHED_OTHER)", SYS(SYS_sched_setscheduler, 0, SCHED_OTHER, &sp), EPERM);
    expect("sched_setparam(0)", SYS(SYS_sched_setparam, 0, &sp), EPERM);
    expect("sched_getparam(0) (allowed)", SYS(SYS_sched_getparam, 0, &sp), 0);
  }
  expect("x32 ABI getpid (0x40000000|39)", SYS(0x40000000 | 39), EPERM);

  puts("# answered by node_enosys -> ENOSYS (so glibc/libuv fall back)");
  struct io_uring_params p;
  memset(&p, 0, sizeof p);
  expect("io_uring_setup(1, &params) [closed if it succeeds]", ({ long r = syscall(SYS_io_uring_setup, 1, &p); if (r >= 0) close((int)r); r < 0 ? errno : 0; }), ENOSYS);
  expect("io_uring_enter(-1, ...)", SYS(SYS_io_uring_enter, -1, 0, 0, 0, NULL, 0), ENOSYS);
  expect("io_uring_register(-1, ...)", SYS(SYS_io_uring_register, -1, 0, NULL, 0), ENOSYS);
  expect("clone3(NULL, 0) [EINVAL if unfiltered]", SYS(SYS_clone3, NULL, 0), ENOSYS);

  puts("# allowed (with argument checks)");
  expect("socketpair(AF_UNIX, SOCK_STREAM)", ({ int e = SYS(SYS_socketpair, AF_UNIX, SOCK_STREAM, 0, sv); if (!e) { close(sv[0]); close(sv[1]); } e; }), 0);
  expect("clone(SIGCHLD) (fork)", sys_clone_flags(0), 0);
  int one = 1;
  expect("ioctl(/dev/null, FIONBIO)", SYS(SYS_ioctl, devnull, FIONBIO, &one), 0);
  expect("ioctl(/dev/null, TCGETS) -> ENOTTY from the kernel", SYS(SYS_ioctl, devnull, TCGETS, &c), ENOTTY);
  expect("kill(getpid(), 0)", SYS(SYS_kill, getpid(), 0), 0);
  expect("prctl(PR_SET_NAME, \"probe\")", SYS(SYS_prctl, PR_SET_NAME, "probe", 0, 0, 0), 0);
  expect("prlimit64(0, RLIMIT_NOFILE, NULL, &old)", ({ struct rlimit rl; SYS(SYS_prlimit64, 0, RLIMIT_NOFILE, NULL, &rl); }), 0);
  expect("getpid()", SYS(SYS_getpid), 0);

  puts("# other ABIs");
  /* i386 ABI via int $0x80: seccompiler's arch check answers AUDIT_ARCH_I386 with
   * SECCOMP_RET_KILL_PROCESS (SIGSYS). Done in a child; getpid (i386 nr 20) is harmless. */
  pid_t kid = fork();
  if (kid == 0) {
    long r;
    __asm__ volatile("int $0x80" : "=a"(r) : "a"(20L) : "memory");
    _exit(r > 0 ? 0 : 3);
  }
  int st = 0;
  waitpid(kid, &st, 0);
  int killed = WIFSIGNALED(st) ? WTERMSIG(st) : 0;
  printf("%-4s %-58s %s\n", killed == SIGSYS ? "ok" : "FAIL", "i386 int $0x80 getpid (want child killed by SIGSYS)",
         killed ? strsignal(killed) : "child exited normally");
  if (killed != SIGSYS) failures++;

  printf("%d failure(s)\n", failures);
  return failures ? 1 : 0;
}
