//! The crate's only unsafe code: thin wrappers over system calls that neither std nor nix
//! expose safely. Each wrapper states why its call is sound.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

mod zygote;
pub use zygote::*;

/// Flags of every namespace a native sandbox gets.
pub const SANDBOX_NAMESPACES: libc::c_int = libc::CLONE_NEWUSER
    | libc::CLONE_NEWPID
    | libc::CLONE_NEWNS
    | libc::CLONE_NEWNET
    | libc::CLONE_NEWIPC
    | libc::CLONE_NEWUTS
    | libc::CLONE_NEWCGROUP;

/// Where a `fork`-like call returned.
pub enum Forked {
    Parent(libc::pid_t),
    Child,
}

/// `clone(2)` with `flags` and fork semantics: no CLONE_VM and no new stack, so the child
/// gets a copy-on-write copy of the address space and continues on its copy of the stack.
///
/// # Safety
/// In the child, only what is sound after a fork of this process may run: anything if the
/// process was single-threaded, otherwise only async-signal-safe calls.
unsafe fn fork_like_clone(flags: libc::c_int) -> io::Result<Forked> {
    // SAFETY: the arguments are plain integers (a null stack pointer means "the current
    // stack, copied"); what the child may do afterwards is the caller's contract above.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone,
            (flags | libc::SIGCHLD) as libc::c_ulong,
            0usize,
            0usize,
            0usize,
            0usize,
        )
    };
    forked(ret)
}

/// Where a fork-like call returned, from its return value (-1: failed, with errno set).
fn forked(ret: i64) -> io::Result<Forked> {
    match ret {
        -1 => Err(io::Error::last_os_error()),
        0 => Ok(Forked::Child),
        pid => Ok(Forked::Parent(pid as libc::pid_t)),
    }
}

/// `clone(2)` into new namespaces, with fork semantics.
///
/// Must only be called while the process is single-threaded (the launcher is).
pub fn clone_with_namespaces(flags: libc::c_int) -> io::Result<Forked> {
    // SAFETY: the launcher is single-threaded, so no lock can be held by another thread at
    // the time of the copy, and the child may go on running arbitrary code.
    unsafe { fork_like_clone(flags) }
}

/// `fork(2)`; must only be called while the process is single-threaded.
pub fn fork_single_threaded() -> io::Result<Forked> {
    // SAFETY: the launcher is single-threaded (it never starts threads), so the child may
    // keep running arbitrary code, including allocation, after the fork.
    forked(unsafe { libc::fork() }.into())
}

/// Closes every fd from `first` upwards.
pub fn close_fds_from(first: RawFd) -> io::Result<()> {
    // SAFETY: close_range(2) takes plain integers and touches no memory of ours. Closing fds
    // that Rust objects might own is avoided by the callers, which hold none above `first`.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first as libc::c_uint,
            libc::c_uint::MAX,
            0,
        )
    };
    if ret == -1 {
        let err = io::Error::last_os_error();
        // gVisor (2022) answers EINVAL; older kernels ENOSYS: one close per possible fd.
        if !matches!(err.raw_os_error(), Some(libc::EINVAL | libc::ENOSYS)) {
            return Err(err);
        }
        let (soft, _) = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)?;
        for fd in first..(soft.min(1 << 20) as RawFd) {
            // SAFETY: as above; EBADF for fds that are not open is expected and ignored.
            unsafe { libc::close(fd) };
        }
    }
    Ok(())
}

/// Empties the capability bounding set and the ambient set, so that no exec can ever regain
/// a capability. Needs CAP_SETPCAP for the bounding set, so it must run before the identity
/// change that clears the effective set.
pub fn drop_bounding_and_ambient_capabilities() -> io::Result<()> {
    // Capabilities are numbered from 0 without gaps, and the kernel answers EINVAL for
    // the first one it does not know: that ends the loop (/proc, with cap_last_cap, is
    // not mounted in the sandbox).
    for cap in 0..=63 as libc::c_ulong {
        // SAFETY: prctl(PR_CAPBSET_DROP, cap) takes integers only. EPERM means we lack
        // CAP_SETPCAP, in which case the capset below still empties every set that
        // execve would use.
        let ret = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap, 0, 0, 0) };
        if ret == -1 {
            let err = io::Error::last_os_error();
            match err.raw_os_error() {
                Some(libc::EINVAL) => break,
                Some(libc::EPERM) => {}
                _ => return Err(err),
            }
        }
    }
    // SAFETY: integers only.
    if unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL,
            0,
            0,
            0,
        )
    } == -1
    {
        let err = io::Error::last_os_error();
        // EINVAL: a kernel without ambient capabilities (gVisor's Sentry): none to clear.
        if err.raw_os_error() != Some(libc::EINVAL) {
            return Err(err);
        }
    }
    Ok(())
}

/// Empties the effective, permitted and inheritable capability sets.
pub fn clear_capability_sets() -> io::Result<()> {
    #[repr(C)]
    struct CapHeader {
        version: u32,
        pid: libc::c_int,
    }
    #[repr(C)]
    #[derive(Clone, Copy)]
    struct CapData {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    let header = CapHeader {
        version: 0x2008_0522,
        pid: 0,
    }; // _LINUX_CAPABILITY_VERSION_3
    let data = [CapData {
        effective: 0,
        permitted: 0,
        inheritable: 0,
    }; 2];
    // SAFETY: capset(2) reads one header and, for version 3, exactly two data structs, both
    // valid, properly laid out (repr(C)) and alive for the duration of the call.
    let ret =
        unsafe { libc::syscall(libc::SYS_capset, &header as *const CapHeader, data.as_ptr()) };
    if ret == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The Landlock ABI version of the running kernel, or `None` if Landlock is unavailable.
pub fn landlock_abi() -> Option<i32> {
    const LANDLOCK_CREATE_RULESET_VERSION: libc::c_uint = 1;
    // SAFETY: with a null attribute pointer, size 0 and the VERSION flag, the call only
    // returns an integer and reads no memory.
    let v = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<u8>(),
            0usize,
            LANDLOCK_CREATE_RULESET_VERSION,
        )
    };
    (v > 0).then_some(v as i32)
}

/// Arranges for `cmd`'s child to have `fds[i].0` duplicated onto `fds[i].1` (inheritable).
///
/// Sources must stay open until the command is spawned. Sources and targets may overlap:
/// every source is first moved above all targets.
pub fn inherit_fds(cmd: &mut tokio::process::Command, fds: Vec<(RawFd, RawFd)>) {
    let above = fds.iter().map(|&(_, dst)| dst).max().unwrap_or(2) + 1;
    let mut moved: Vec<RawFd> = vec![-1; fds.len()];
    let closure = move || {
        for (i, &(src, _)) in fds.iter().enumerate() {
            // SAFETY: fcntl(F_DUPFD_CLOEXEC) is async-signal-safe and takes integers only.
            let fd = unsafe { libc::fcntl(src, libc::F_DUPFD_CLOEXEC, above) };
            if fd == -1 {
                return Err(io::Error::last_os_error());
            }
            moved[i] = fd;
        }
        for (i, &(_, dst)) in fds.iter().enumerate() {
            // SAFETY: dup2 is async-signal-safe and takes integers only. The copy it makes
            // has no close-on-exec flag, so the target is inherited by the exec'd program.
            if unsafe { libc::dup2(moved[i], dst) } == -1 {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(())
    };
    // SAFETY: the closure only calls fcntl and dup2 (both async-signal-safe), writes into a
    // vector allocated before the fork, and takes no locks: what is allowed between fork and
    // exec in a multithreaded parent.
    unsafe {
        cmd.pre_exec(closure);
    }
}

/// Has the spawned program start in a mount namespace of its own whose `/run` is an empty
/// tmpfs, writable by all like `/tmp` (nsjail's child creates its directories as an unmapped
/// user), where the caller may create one (root); otherwise nothing changes. For nsjail: it
/// keeps two work directories in the first of `/run/user/<uid>/…`, `/run/user/…` and
/// `/tmp/…` it can create and never removes them; this way they are made in that tmpfs and
/// vanish with the namespace, instead of staying in the host's `/tmp`.
pub fn own_run_dir(cmd: &mut tokio::process::Command) {
    let (root, run, tmpfs, options) = (c"/", c"/run", c"tmpfs", c"size=1m,mode=1777");
    let closure = move || {
        // SAFETY: unshare(2) and mount(2) are async-signal-safe system calls; every pointer
        // is a C string literal with static lifetime (or null where mount(2) allows it).
        unsafe {
            if libc::unshare(libc::CLONE_NEWNS) == 0
                && libc::mount(
                    std::ptr::null(),
                    root.as_ptr(),
                    std::ptr::null(),
                    libc::MS_REC | libc::MS_PRIVATE,
                    std::ptr::null(),
                ) == 0
            {
                libc::mount(
                    tmpfs.as_ptr(),
                    run.as_ptr(),
                    tmpfs.as_ptr(),
                    libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
                    options.as_ptr().cast(),
                );
            }
        }
        Ok(())
    };
    // SAFETY: the closure makes only async-signal-safe system calls on static C strings; it
    // allocates nothing and takes no locks, as required between fork and exec in a
    // multithreaded parent. Failing calls change nothing (best effort, see above).
    unsafe {
        cmd.pre_exec(closure);
    }
}

/// Has the spawned program get SIGKILL when the thread that spawned it (a runtime thread of
/// this service) goes away: a sandbox's program never outlives the service, however the
/// service ends (SIGKILL and the OOM killer included).
pub fn die_with_parent(cmd: &mut tokio::process::Command) {
    let closure = move || {
        // SAFETY: prctl(2) is an async-signal-safe system call taking integers only.
        if unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) } == -1 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    };
    // SAFETY: the closure makes one async-signal-safe system call; it allocates nothing and
    // takes no locks, as required between fork and exec in a multithreaded parent.
    unsafe {
        cmd.pre_exec(closure);
    }
}

/// Whether a process with every sandbox namespace can be created here: clones a child into
/// them that exits at once. Safe to call from a multithreaded process.
pub fn probe_namespaces() -> io::Result<()> {
    // SAFETY: the child makes exactly one call, _exit, which is async-signal-safe, so no
    // lock or allocator state of the copied address space is ever touched.
    match unsafe { fork_like_clone(SANDBOX_NAMESPACES) }? {
        // SAFETY: _exit is async-signal-safe and never returns.
        Forked::Child => unsafe { libc::_exit(0) },
        Forked::Parent(pid) => match nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None)
        {
            Ok(nix::sys::wait::WaitStatus::Exited(_, 0)) => Ok(()),
            other => Err(io::Error::other(format!(
                "the probe child ended with {other:?}"
            ))),
        },
    }
}

/// SIGKILLs every process whose real or saved uid is `uid` (but no process of another uid):
/// a child that becomes `uid` sends `kill(-1, SIGKILL)`, which the kernel applies to every
/// process it may signal in one pass, so none can fork away meanwhile. Needs CAP_SETUID; safe
/// to call from a multithreaded process.
pub fn kill_every_process_of(uid: u32) -> io::Result<()> {
    // SAFETY: the child makes only raw system calls (setresuid, kill, _exit), which are
    // async-signal-safe and touch no lock or allocator state of the copied address space.
    match unsafe { fork_like_clone(0) }? {
        Forked::Child => {
            // SAFETY: integers only; the raw call changes this thread's (the child's only
            // thread) credentials, without glibc's all-threads broadcast.
            let changed = unsafe { libc::syscall(libc::SYS_setresuid, uid, uid, uid) } == 0;
            // SAFETY: integers only. ESRCH: no process of the uid was left.
            let killed = changed
                && (unsafe { libc::syscall(libc::SYS_kill, -1, libc::SIGKILL) } == 0
                    || io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH));
            // SAFETY: _exit is async-signal-safe and never returns.
            unsafe { libc::_exit(if killed { 0 } else { 1 }) }
        }
        Forked::Parent(pid) => {
            let pid = nix::unistd::Pid::from_raw(pid);
            loop {
                match nix::sys::wait::waitpid(pid, None) {
                    Ok(nix::sys::wait::WaitStatus::Exited(_, 0)) => return Ok(()),
                    Err(nix::errno::Errno::EINTR) => continue,
                    other => {
                        return Err(io::Error::other(format!(
                            "killing the processes of uid {uid}: the killer ended with {other:?}"
                        )))
                    }
                }
            }
        }
    }
}

/// An fd the launcher's parent opened for it and that stays open for the launcher's whole
/// life (it is only ever closed by exec, through close-on-exec, or by process exit).
pub fn inherited_fd(fd: RawFd) -> std::os::fd::BorrowedFd<'static> {
    // SAFETY: borrow_raw requires the fd to stay open for the borrow's lifetime; the
    // launcher's inherited fds (3-5) are never closed by the code that borrows them, which
    // runs only in the launcher processes before exec.
    unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) }
}

/// Takes ownership of an fd the launcher's parent opened for it and that nothing else in
/// the launcher owns (the spec pipe): the caller reads and closes it.
pub fn take_inherited_fd(fd: RawFd) -> OwnedFd {
    // SAFETY: from_raw_fd requires `fd` to be open and owned by nobody else. The spec fd is
    // opened by the host for the launcher, never wrapped anywhere else in the launcher, and
    // taken exactly once per process (by init, or by the launcher without namespaces; the
    // launcher with namespaces only takes its own copy, after the clone, to close it).
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// The sandbox init the launcher kills on SIGTERM (0: none yet).
static INIT_PID: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);

extern "C" fn kill_init(_signal: libc::c_int) {
    let pid = INIT_PID.load(std::sync::atomic::Ordering::Relaxed);
    if pid > 0 {
        // SAFETY: kill(2) is async-signal-safe and takes integers only.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
        }
    }
}

/// Sets a resource limit of another process (the host lowering a sandbox's RLIMIT_DATA for
/// its job).
pub fn set_process_rlimit(pid: libc::pid_t, resource: libc::c_int, value: u64) -> io::Result<()> {
    let limit = libc::rlimit64 {
        rlim_cur: value,
        rlim_max: value,
    };
    // SAFETY: prlimit64 reads the rlimit64 passed by reference, which outlives the call, and
    // writes nothing (the old-limit pointer is null).
    let r = unsafe { libc::prlimit64(pid, resource as _, &limit, std::ptr::null_mut()) };
    if r == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// An anonymous in-memory file holding `content` (read from offset 0 by whoever inherits it).
pub fn memfd_with(name: &str, content: &[u8]) -> io::Result<std::os::fd::OwnedFd> {
    let fd = nix::sys::memfd::memfd_create(name, nix::sys::memfd::MFdFlags::MFD_CLOEXEC)?;
    let mut file = std::fs::File::from(fd);
    io::Write::write_all(&mut file, content)?;
    Ok(file.into())
}

/// Blocks or unblocks SIGTERM for the calling thread.
pub fn block_sigterm(block: bool) -> io::Result<()> {
    use nix::sys::signal::{SigSet, SigmaskHow, Signal};
    let how = if block {
        SigmaskHow::SIG_BLOCK
    } else {
        SigmaskHow::SIG_UNBLOCK
    };
    nix::sys::signal::sigprocmask(how, Some(&SigSet::from(Signal::SIGTERM)), None)
        .map_err(io::Error::from)
}

/// From now on, SIGTERM makes this process SIGKILL `init` (and nothing else): the launcher
/// then sees init's exit, which the kernel completes only once the pid namespace is empty.
/// `init` 0 makes SIGTERM kill nothing.
pub fn kill_init_on_sigterm(init: libc::pid_t) -> io::Result<()> {
    use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal};
    INIT_PID.store(init, std::sync::atomic::Ordering::Relaxed);
    let action = SigAction::new(
        SigHandler::Handler(kill_init),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    // SAFETY: the handler only loads an atomic and calls kill(2), both async-signal-safe.
    unsafe { nix::sys::signal::sigaction(Signal::SIGTERM, &action) }.map_err(io::Error::from)?;
    Ok(())
}

/// Execs `program` with `args`, the fds of `moves` (from, to) at their places and nothing
/// else inherited (every fd is close-on-exec but those placed). Returns only on failure.
/// For a child forked from a single-threaded process.
pub fn exec_with_fds(
    program: &std::ffi::CStr,
    args: &[std::ffi::CString],
    moves: &[(RawFd, RawFd)],
) -> io::Error {
    use nix::fcntl::{fcntl, FcntlArg};
    // Out of the way first, so that no move overwrites the source of a later one.
    let mut parked = Vec::new();
    for &(from, to) in moves {
        match fcntl(
            // SAFETY: borrowing for the duration of the call; `from` is open (the caller's).
            unsafe { std::os::fd::BorrowedFd::borrow_raw(from) },
            FcntlArg::F_DUPFD_CLOEXEC(100),
        ) {
            Ok(fd) => parked.push((fd, to)),
            Err(e) => return e.into(),
        }
    }
    for (fd, to) in parked {
        // SAFETY: dup2 takes integers; `fd` is open (just duplicated) and `to` is replaced
        // atomically. The new fd has no close-on-exec flag, so it crosses the exec.
        if unsafe { libc::dup2(fd, to) } == -1 {
            return io::Error::last_os_error();
        }
    }
    let env: [&std::ffi::CStr; 0] = [];
    match nix::unistd::execve(program, args, &env) {
        Err(e) => e.into(),
        Ok(never) => match never {},
    }
}
