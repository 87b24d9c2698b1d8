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

/// SIGCHLD's default disposition again (children stay zombies until waited for), whatever
/// this process inherited.
pub fn default_sigchld() -> io::Result<()> {
    use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal};
    let action = SigAction::new(SigHandler::SigDfl, SaFlags::empty(), SigSet::empty());
    // SAFETY: SIG_DFL is no handler of ours: no code runs on the signal.
    unsafe { nix::sys::signal::sigaction(Signal::SIGCHLD, &action) }.map_err(io::Error::from)?;
    Ok(())
}

/// What glibc keeps of the calling thread that a raw `clone(2)` must set in its child, as
/// glibc's own `fork()` does: the address of the thread id in the thread's descriptor
/// (which the kernel then writes with the child's id, `CLONE_CHILD_SETTID`; glibc's
/// `raise`, `abort` and its recursive mutexes read it) and the thread's robust-futex list
/// (which the kernel does not carry into a child). Read from the kernel, where glibc
/// registered both (`PR_GET_TID_ADDRESS`, `get_robust_list`).
pub struct ThreadRecord {
    tid_address: usize,
    robust_head: usize,
    robust_len: usize,
}

impl ThreadRecord {
    /// The calling thread's.
    pub fn current() -> io::Result<Self> {
        let mut tid_address: *mut libc::c_int = std::ptr::null_mut();
        // SAFETY: PR_GET_TID_ADDRESS writes one pointer to the address given, which is a
        // live local of that type.
        let r = unsafe {
            libc::prctl(
                libc::PR_GET_TID_ADDRESS,
                &mut tid_address as *mut *mut libc::c_int,
            )
        };
        if r == -1 {
            return Err(io::Error::last_os_error());
        }
        if tid_address.is_null() {
            return Err(io::Error::other("glibc registered no thread id address"));
        }
        let mut head: *mut libc::c_void = std::ptr::null_mut();
        let mut len: libc::size_t = 0;
        // SAFETY: get_robust_list(0, ...) writes the calling thread's list head and its size
        // to the two addresses given, live locals of those types.
        let r = unsafe {
            libc::syscall(
                libc::SYS_get_robust_list,
                0,
                &mut head as *mut *mut libc::c_void,
                &mut len as *mut libc::size_t,
            )
        };
        if r == -1 {
            return Err(io::Error::last_os_error());
        }
        Ok(ThreadRecord {
            tid_address: tid_address as usize,
            robust_head: head as usize,
            robust_len: len,
        })
    }
}

/// A child of the calling process, in fresh namespaces ([`super::SANDBOX_NAMESPACES`]),
/// made the way glibc's `fork()` makes one (`CLONE_CHILD_SETTID` and `CLONE_CHILD_CLEARTID`
/// on the thread id of `thread`, its robust list registered again in the child, every
/// signal blocked across the copy), with `CLONE_PIDFD`: in the parent, the child's pid and
/// pidfd. glibc's `fork()` itself cannot give a child new namespaces; `unshare` of a user
/// and a pid namespace would change this process's own.
///
/// Must only be called in a single-threaded process whose at-fork handlers have nothing
/// left to do (a fork server forked by glibc's `fork()` that never started a thread): no
/// lock can be held by another thread, and glibc's list of threads holds this one only.
pub fn clone_sandbox(thread: &ThreadRecord) -> io::Result<(Forked, Option<OwnedFd>)> {
    use nix::sys::signal::{sigprocmask, SigSet, SigmaskHow};
    let mut saved = SigSet::empty();
    sigprocmask(
        SigmaskHow::SIG_SETMASK,
        Some(&SigSet::all()),
        Some(&mut saved),
    )?;
    let flags = (super::SANDBOX_NAMESPACES
        | libc::CLONE_PIDFD
        | libc::CLONE_CHILD_SETTID
        | libc::CLONE_CHILD_CLEARTID
        | libc::SIGCHLD) as libc::c_ulong;
    let mut pidfd: libc::c_int = -1;
    let pidfd_at = &mut pidfd as *mut libc::c_int as usize;
    // clone's last two arguments, the child's tid address and its TLS, in x86_64's order;
    // arm64 takes them the other way round.
    #[cfg(target_arch = "x86_64")]
    let (fourth, fifth) = (thread.tid_address, 0usize);
    #[cfg(target_arch = "aarch64")]
    let (fourth, fifth) = (0usize, thread.tid_address);
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    let (fourth, fifth): (usize, usize) = {
        let _ = (flags, pidfd_at);
        return Err(io::Error::other(
            "zygote children are built on x86_64 and arm64 only",
        ));
    };
    // SAFETY: a null stack means "the current stack, copied", as for fork; the kernel writes
    // the pidfd to `pidfd_at` (a live local) in the parent, and the child's id to the
    // calling thread's own descriptor in the child's copy. What the child then runs is the
    // caller's contract above: the copy of a single-threaded process.
    let ret = unsafe { libc::syscall(libc::SYS_clone, flags, 0usize, pidfd_at, fourth, fifth) };
    let forked = forked(ret);
    if let Ok(Forked::Child) = forked {
        // SAFETY: set_robust_list takes the head glibc registered for this very thread
        // descriptor (copied with the process) and its size; the kernel only records them.
        unsafe {
            libc::syscall(
                libc::SYS_set_robust_list,
                thread.robust_head,
                thread.robust_len,
            )
        };
    }
    let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&saved), None);
    match forked? {
        Forked::Child => Ok((Forked::Child, None)),
        // SAFETY: CLONE_PIDFD made this fd for this process; nothing else owns it.
        parent => Ok((parent, Some(unsafe { OwnedFd::from_raw_fd(pidfd) }))),
    }
}

/// Waits for the exited child of `pidfd` (readable once it has exited) and reaps it: its
/// exit code, or 128 + the signal that killed it.
pub fn reap_pidfd(pidfd: &OwnedFd) -> io::Result<i32> {
    use nix::sys::wait::{waitid, Id, WaitPidFlag, WaitStatus};
    use std::os::fd::AsFd;
    loop {
        match waitid(Id::PIDFd(pidfd.as_fd()), WaitPidFlag::WEXITED) {
            Ok(WaitStatus::Exited(_, code)) => return Ok(code),
            Ok(WaitStatus::Signaled(_, sig, _)) => return Ok(128 + sig as i32),
            Ok(_) | Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// Blocks until one of `fds` is readable (or closed); which ones are.
pub fn wait_readable(fds: &[RawFd]) -> io::Result<Vec<bool>> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use std::os::fd::BorrowedFd;
    let mut polled: Vec<PollFd> = fds
        .iter()
        // SAFETY: the callers' fds stay open for this call (a zygote's control socket, and
        // the pidfds its fork server's live children own).
        .map(|&fd| PollFd::new(unsafe { BorrowedFd::borrow_raw(fd) }, PollFlags::POLLIN))
        .collect();
    loop {
        match poll(&mut polled, PollTimeout::NONE) {
            Ok(_) => break,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(polled
        .iter()
        .map(|p| p.revents().is_some_and(|r| !r.is_empty()))
        .collect())
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

/// The open fds of this process from `first` up (below its open-files limit).
fn open_fds_from(first: RawFd) -> Vec<RawFd> {
    let (soft, _) = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .unwrap_or((1024, 1024));
    (first..soft.min(65536) as RawFd)
        .filter(|&fd| {
            // SAFETY: fcntl(F_GETFD) takes an integer and touches no memory; a closed fd
            // answers EBADF.
            unsafe { libc::fcntl(fd, libc::F_GETFD) != -1 }
        })
        .collect()
}

/// The open fds from `first` up, each with a duplicate (close-on-exec) just above the
/// highest of them: so that a forked child can tell which of its fds are still the very
/// files its zygote had ([`same_file`]).
pub fn duplicate_fds_from(first: RawFd) -> Vec<(RawFd, RawFd)> {
    let open = open_fds_from(first);
    let above = open.iter().max().map_or(first, |m| m + 1);
    open.into_iter()
        .filter_map(|fd| {
            // SAFETY: F_DUPFD_CLOEXEC takes integers; the new fd is the caller's to close.
            let dup = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, above) };
            (dup != -1).then_some((fd, dup))
        })
        .collect()
}

/// libuv's signal lock: a pipe that holds one byte while the lock is free, made anew in
/// every child by libuv's at-fork handler (`uv__signal_global_reinit`). A fork server's
/// children come from `clone(2)`, which runs no at-fork handler, so each one makes its own
/// ([`LockPipe::renew`]) instead of sharing its server's with its siblings.
pub struct LockPipe {
    read: RawFd,
    write: RawFd,
}

impl LockPipe {
    /// The fds a fork server's at-fork handlers made anew, found against `zygote_fds` (the
    /// zygote's fds and their duplicates, [`duplicate_fds_from`], taken before the fork):
    /// none, or libuv's signal lock pipe. Anything else is an error: a file a child would
    /// share with its siblings, which nodecell does not know how to renew.
    pub fn find(zygote_fds: &[(RawFd, RawFd)], first: RawFd) -> io::Result<Option<LockPipe>> {
        let known: std::collections::BTreeSet<RawFd> =
            zygote_fds.iter().flat_map(|&(fd, dup)| [fd, dup]).collect();
        let mut anew: Vec<RawFd> = open_fds_from(first)
            .into_iter()
            .filter(|fd| !known.contains(fd))
            .collect();
        anew.extend(
            zygote_fds
                .iter()
                .filter(|&&(fd, dup)| !same_file(fd, dup))
                .map(|&(fd, _)| fd),
        );
        anew.sort_unstable();
        let pipe = |fd: RawFd| {
            // SAFETY: the fd is open (just listed) and only borrowed for the calls.
            let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
            let stat = nix::sys::stat::fstat(fd).ok()?;
            let flags = nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_GETFL).ok()?;
            let is_fifo = stat.st_mode & libc::S_IFMT == libc::S_IFIFO;
            is_fifo.then_some((stat.st_ino, flags & libc::O_ACCMODE))
        };
        match anew.as_slice() {
            [] => Ok(None),
            &[a, b] => match (pipe(a), pipe(b)) {
                (Some((ia, libc::O_RDONLY)), Some((ib, libc::O_WRONLY))) if ia == ib => {
                    Ok(Some(LockPipe { read: a, write: b }))
                }
                _ => Err(io::Error::other(format!(
                    "fds {a} and {b}, made anew by the at-fork handlers, are no pipe"
                ))),
            },
            other => Err(io::Error::other(format!(
                "the at-fork handlers made fds {other:?} anew; only libuv's signal lock pipe \
                 is known"
            ))),
        }
    }

    /// In a child: a pipe of its own at the same fds (close-on-exec, as libuv makes it),
    /// holding the byte of a free lock.
    pub fn renew(&self) -> io::Result<()> {
        let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
        for (fd, target) in [(&r, self.read), (&w, self.write)] {
            // SAFETY: dup3 takes integers; `target` is the copy of the server's lock pipe,
            // which libuv's globals name and nothing in Rust owns: it is replaced atomically.
            if unsafe { libc::dup3(fd.as_raw_fd(), target, libc::O_CLOEXEC) } == -1 {
                return Err(io::Error::last_os_error());
            }
        }
        // SAFETY: `self.write` was just made the write end of the new pipe; borrowed only.
        let write = unsafe { std::os::fd::BorrowedFd::borrow_raw(self.write) };
        nix::unistd::write(write, &[42])?;
        Ok(())
    }
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
