//! System calls of zygotes and their children (the launcher's zygote module), and the host's
//! pidfds of those children.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use super::{forked, Forked};

/// `fork(2)` in a zygote: a Node process with threads of its own (V8's platform workers, its
/// delayed-task scheduler, Node's SIGUSR1 watcher), where only the calling thread goes on in
/// the child.
pub fn fork_zygote() -> io::Result<Forked> {
    // SAFETY: after fork in a multi-threaded process the child may only rely on state that
    // no other thread could have held mid-update at the time of the copy. glibc's fork takes
    // its own locks (malloc arenas, stdio) around the copy and runs the at-fork handlers
    // (libuv resets its threadpool and signal lock, OpenSSL marks its random state for
    // reseeding). The zygote's other threads are idle when it forks: V8 runs with
    // --single-threaded (its jobs run on the calling thread; the task each one posts to the
    // platform's one worker, --v8-pool-size=1, finds nothing to do), and the zygote never
    // starts libuv's threadpool; every thread of Node's is then parked on a condition
    // variable or in epoll_wait, holding no lock. A child that posts a worker task signals
    // a condition variable with one ghost waiter, which glibc's signal never waits on.
    forked(unsafe { libc::fork() }.into())
}

/// With `true`, children that exit are reaped by the kernel (SIGCHLD ignored); with
/// `false`, SIGCHLD's default again.
pub fn reap_children_automatically(on: bool) -> io::Result<()> {
    use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal};
    let handler = if on {
        SigHandler::SigIgn
    } else {
        SigHandler::SigDfl
    };
    let action = SigAction::new(handler, SaFlags::empty(), SigSet::empty());
    // SAFETY: SIG_IGN and SIG_DFL are no handlers of ours: no code runs on the signal.
    unsafe { nix::sys::signal::sigaction(Signal::SIGCHLD, &action) }.map_err(io::Error::from)?;
    Ok(())
}

/// Ends this process at once: no atexit handlers and no destructors (those of a forked
/// copy of Node belong to the zygote).
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit(2) takes an integer and never returns.
    unsafe { libc::_exit(code) }
}

/// Puts `fd` at `target` (replacing what was there, not close-on-exec) and closes `fd`.
pub fn place_fd(fd: OwnedFd, target: RawFd) -> io::Result<()> {
    if fd.as_raw_fd() == target {
        nix::fcntl::fcntl(
            &fd,
            nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::empty()),
        )?;
        std::mem::forget(fd);
        return Ok(());
    }
    // SAFETY: dup2 takes integers; `fd` is open (owned here) and `target` is replaced
    // atomically. Whatever owned `target` before is the caller's to have given up (the
    // forked copies of the zygote's own fds 1-5, which only the zygote uses).
    if unsafe { libc::dup2(fd.as_raw_fd(), target) } == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Owns the fds an SCM_RIGHTS message just gave this process.
pub fn adopt_received_fds(raw: Vec<RawFd>) -> Vec<OwnedFd> {
    raw.into_iter()
        // SAFETY: the kernel installed these fds in this process for this message; nothing
        // else refers to them yet.
        .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) })
        .collect()
}

/// Makes every mapping of this process copied into children again (`MADV_DOFORK`): official
/// Node builds (V8's private-mapping fork optimisation) mark V8's heap `MADV_DONTFORK`, so
/// that a fork before exec does not copy it, and a zygote's children need it. Works without
/// /proc: madvise over a range applies to every mapping in it (holes only make it answer
/// ENOMEM) and stops at one that refuses (EINVAL: VM_IO mappings such as `[vvar]`), so the
/// range is halved around those.
pub fn copy_all_mappings_on_fork() {
    // SAFETY: sysconf takes an integer.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(4096) as usize;
    // The user address space of x86-64 and arm64 with 4-level page tables.
    let end: usize = 1 << 47;
    let mut ranges = vec![(page, end)];
    while let Some((start, stop)) = ranges.pop() {
        // SAFETY: MADV_DOFORK only clears a flag of the mappings in the range; it neither
        // moves nor frees memory, so no reference of this process is affected.
        let r =
            unsafe { libc::madvise(start as *mut libc::c_void, stop - start, libc::MADV_DOFORK) };
        if r == 0 || io::Error::last_os_error().raw_os_error() == Some(libc::ENOMEM) {
            continue;
        }
        if stop - start > page {
            let middle = start + ((stop - start) / 2 / page).max(1) * page;
            ranges.push((start, middle));
            ranges.push((middle, stop));
        }
    }
}

/// A pidfd of process `pid` (of this process's pid namespace).
pub fn pidfd_open(pid: libc::pid_t) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes integers and returns a new fd, owned here.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd == -1 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the fd was just made for this process and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// Sends `signal` to the process of `pidfd` (never to another process that took its pid).
pub fn pidfd_send_signal(pidfd: &OwnedFd, signal: libc::c_int) -> io::Result<()> {
    // SAFETY: pidfd_send_signal takes an open fd (borrowed for the call), a signal number and
    // a null siginfo pointer; it touches no memory of ours.
    let r = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            signal,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    if r == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `fd` (non-blocking) registered with tokio's reactor, for reading. Must be called in a
/// tokio runtime.
pub fn async_reader(fd: OwnedFd) -> io::Result<tokio::io::unix::AsyncFd<OwnedFd>> {
    // SAFETY: register requires the fd to stay open while registered: the AsyncFd owns it
    // and deregisters it before the OwnedFd closes it, on drop.
    unsafe { tokio::io::unix::AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE) }
        .map_err(|e| e.into_parts().1)
}

/// The open fds from `first` up, each with a duplicate (close-on-exec) just above the
/// highest of them: so that a forked child can tell which of its fds are still the very
/// files its zygote had ([`same_file`]).
pub fn duplicate_fds_from(first: RawFd) -> Vec<(RawFd, RawFd)> {
    let (soft, _) = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .unwrap_or((1024, 1024));
    let open: Vec<RawFd> = (first..soft.min(65536) as RawFd)
        .filter(|&fd| {
            // SAFETY: fcntl(F_GETFD) takes an integer and touches no memory; a closed fd
            // answers EBADF.
            unsafe { libc::fcntl(fd, libc::F_GETFD) != -1 }
        })
        .collect();
    let above = open.iter().max().map_or(first, |m| m + 1);
    open.into_iter()
        .filter_map(|fd| {
            // SAFETY: F_DUPFD_CLOEXEC takes integers; the new fd is the caller's to close.
            let dup = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, above) };
            (dup != -1).then_some((fd, dup))
        })
        .collect()
}

/// Whether fds `a` and `b` of this process refer to the same open file description.
pub fn same_file(a: RawFd, b: RawFd) -> bool {
    const KCMP_FILE: libc::c_int = 0;
    // SAFETY: kcmp takes integers and compares kernel objects; it touches no memory of ours.
    let pid = unsafe { libc::getpid() };
    // SAFETY: as above.
    unsafe { libc::syscall(libc::SYS_kcmp, pid, pid, KCMP_FILE, a, b) == 0 }
}

/// Closes `fd`, which nothing in this process owns (a forked copy of a zygote's fd).
pub fn close_unowned(fd: RawFd) {
    // SAFETY: close takes an integer; the callers pass fds no Rust object owns.
    unsafe { libc::close(fd) };
}

/// `execveat(fd, "", args, {}, AT_EMPTY_PATH)`: runs the program open at `fd` (an `O_PATH`
/// fd the caller placed there and owns) with an empty environment; returns only on failure.
pub fn exec_fd(fd: RawFd, args: &[&str]) -> io::Result<std::convert::Infallible> {
    let args: Vec<std::ffi::CString> = args
        .iter()
        .map(|a| std::ffi::CString::new(*a).map_err(io::Error::other))
        .collect::<io::Result<_>>()?;
    let no_env: [&std::ffi::CStr; 0] = [];
    // SAFETY: the caller placed an open fd at `fd` and keeps it open; borrowing it for the
    // call does not close or take it.
    let program = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
    Ok(nix::unistd::execveat(
        program,
        c"",
        &args,
        &no_env,
        nix::fcntl::AtFlags::AT_EMPTY_PATH,
    )?)
}
