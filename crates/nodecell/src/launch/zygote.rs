//! The zygote's fork server: run inside a zygote's Node by its addon (`crates/nodecell-zygote`).
//!
//! A zygote is a Node that booted the runner once, inside a base sandbox that
//! nodecell-launcher built (its root filesystem, no network, its own namespaces and cgroup),
//! and that then serves fork requests instead of reading a job. Per sandbox:
//!
//! ```text
//! host ── request (ChildSpec + 6 fds) on the control socket (fd 3) ──▶ zygote
//! zygote, at its first request: fork() ──▶ fork server (single-threaded; serves until the
//!     control socket closes, while the zygote's Node waits for it)
//! fork server: clone(user, pid, mount, net, ipc, uts, cgroup namespaces) ──▶ child, pid 1
//!     of its pid namespace: fds 1-5 placed; "unshared" on the link ──▶ the host learns its
//!     pid from the socket's credentials and opens its /proc entry
//!     ◀── "proc" with that directory's fd: the child writes its own id maps (only an
//!     opener inside the zygote's user namespace or the new one may); libuv's loop made
//!     anew; a fresh /tmp; the addon hidden; then the launcher's confinement (identity,
//!     capabilities, rlimits, no_new_privs, Landlock, seccomp) and its report on fd 5; back
//!     to JavaScript, which runs the runner's start(): "ready", then the job on fd 3.
//! fork server, once the child has exited: reaps it, "exit <code>" on the link.
//! ```
//!
//! The zygote only reads requests and forks: it never writes to the control socket, and
//! never sees a job. The zygote's Node has threads of its own, so it forks once, with
//! glibc's `fork()` (the at-fork handlers of glibc, libuv and OpenSSL run); that copy, the
//! fork server, has one thread, and makes each child with one `clone(2)` into its new
//! namespaces (`sys::clone_sandbox`). The zygote's Node runs V8 single-threaded, so its
//! idle platform threads hold no lock the fork server could need.

use std::io::IoSliceMut;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::PathBuf;

use nix::mount::{mount, MsFlags};
use nix::sys::socket::{recvmsg, send, ControlMessageOwned, MsgFlags};
use nix::unistd::{Gid, Uid};
use serde::{Deserialize, Serialize};

use super::spec::{
    LandlockSpec, LaunchMessage, LaunchStep, Rlimit, EVENT_FD, JOB_FD, SANDBOX_ID, STATUS_FD,
};
use super::{report, Confinement, Step, StepError};
use crate::sys::{self, Forked};

/// The zygote's end of the control socket (a SOCK_SEQPACKET unix socket).
pub const CONTROL_FD: RawFd = JOB_FD;
/// The fds of a request, in this order: the child's stdout, stderr, job, events and status,
/// and its end of the link (a SOCK_SEQPACKET pair whose other end the host holds, with
/// SO_PASSCRED set).
pub const REQUEST_FDS: usize = 6;
/// The most fds a request adds after those: the run's cgroup files the child moves itself
/// into ([`ChildSpec::join_cgroups`]; one per cgroup v1 hierarchy nodecell uses).
pub const MAX_JOIN_FDS: usize = 4;
/// The largest request (its [`ChildSpec`] as JSON).
pub const MAX_REQUEST_BYTES: usize = 64 * 1024;

/// On the link, child → host: it exists, in its namespaces (its pid in the credentials).
pub const LINK_UNSHARED: &[u8] = b"unshared";
/// On the link, host → child, with the fd of its /proc/<pid> directory: write your id
/// maps. (Their writer must have opened them from inside the zygote's user namespace or the
/// new one; the sandbox has no /proc of its own.)
pub const LINK_PROC: &[u8] = b"proc";
/// On the link, fork server → host, once the child has exited and been reaped: this
/// followed by its exit code (128 + the signal that killed it).
pub const LINK_EXIT: &str = "exit ";

/// What the host asks of one child.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChildSpec {
    /// The child's private /tmp (a fresh tmpfs, noexec).
    pub tmp_size_bytes: u64,
    pub tmp_inodes: u64,
    pub rlimits: Vec<Rlimit>,
    pub landlock: Option<LandlockSpec>,
    pub seccomp: bool,
    pub hostname: String,
    /// Directories the child must not see (the addon's): an empty read-only tmpfs on each.
    pub hide: Vec<PathBuf>,
    /// How many fds follow the request's own: open cgroup v1 `tasks` files of the run's
    /// groups, opened by the host, into which the child moves itself (a single thread
    /// writing `0`) before anything else of its setup.
    #[serde(default)]
    pub join_cgroups: usize,
}

/// Where [`serve`] returned.
pub enum Served {
    /// The control socket closed: the zygote's work is over.
    Closed,
    /// In a child, confined, with its fds in place: run the job.
    Child,
}

/// Serves fork requests on [`CONTROL_FD`] until it closes. `in_child` runs in each child
/// first (the addon makes libuv's loop anew there). A child whose setup fails reports the
/// step on its status fd and exits; [`Served::Child`] means everything is in force.
pub fn serve(in_child: &mut dyn FnMut() -> Result<(), String>) -> std::io::Result<Served> {
    // V8's heap is marked not to be copied by fork (official Node builds): children need it.
    // (Nothing of the zygote's allocates while it serves.)
    sys::copy_all_mappings_on_fork();
    // The zygote's own fds above the sandbox's (Node's event loops, V8's platform): each
    // child closes those it still shares with the zygote once its loop is made anew.
    let zygote_fds = sys::duplicate_fds_from(STATUS_FD + 1);
    sys::default_sigchld()?;
    // The fork server is forked at the first request: by then the host has moved the
    // zygote into its cgroup, where the server and its children start.
    sys::wait_readable(&[CONTROL_FD])?;
    match sys::fork_zygote()? {
        Forked::Parent(server) => {
            wait_for(server);
            Ok(Served::Closed)
        }
        Forked::Child => {
            // The fork server never returns to JavaScript but in a child.
            let served = fork_server(&zygote_fds, in_child);
            match served {
                Ok(()) => Ok(Served::Child),
                Err(_) => sys::exit_now(0),
            }
        }
    }
}

/// Waits for the fork server to end.
fn wait_for(server: libc::pid_t) {
    let pid = nix::unistd::Pid::from_raw(server);
    while let Err(nix::errno::Errno::EINTR) = nix::sys::wait::waitpid(pid, None) {}
}

/// A live child of the fork server: its pidfd (readable once it has exited) and the
/// server's end of its link, for the exit report.
struct LiveChild {
    pidfd: OwnedFd,
    link: OwnedFd,
}

/// The fork server (single-threaded): one child per request, each reaped and reported once
/// it ends. Returns `Ok` in a child, ready to run its job; `Err` in the server once the
/// control socket has closed (or failed).
fn fork_server(
    zygote_fds: &[(RawFd, RawFd)],
    in_child: &mut dyn FnMut() -> Result<(), String>,
) -> Result<(), std::io::Error> {
    // It dies with the zygote (which only ends after it, or killed).
    nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)?;
    // What a child needs of its server; without it, each request is answered with why.
    let setup = sys::ThreadRecord::current()
        .and_then(|t| Ok((t, sys::LockPipe::find(zygote_fds, STATUS_FD + 1)?)))
        .map_err(|e| format!("the zygote's fork server cannot fork: {e}"));
    let mut live: Vec<LiveChild> = Vec::new();
    loop {
        let mut fds = vec![CONTROL_FD];
        fds.extend(live.iter().map(|c| c.pidfd.as_raw_fd()));
        let ready = sys::wait_readable(&fds)?;
        // Exits first: their reports, then the fds let go.
        let mut i = 0;
        live.retain(|c| {
            i += 1;
            if !ready[i] {
                return true;
            }
            let code = sys::reap_pidfd(&c.pidfd).unwrap_or(-1);
            let _ = send(
                c.link.as_raw_fd(),
                format!("{LINK_EXIT}{code}").as_bytes(),
                MsgFlags::MSG_NOSIGNAL | MsgFlags::MSG_DONTWAIT,
            );
            false
        });
        if !ready[0] {
            continue;
        }
        let Some((spec, fds)) = receive()? else {
            return Err(std::io::Error::other("the control socket closed"));
        };
        let mut fds = fds.into_iter();
        let placed: Vec<OwnedFd> = fds.by_ref().take(REQUEST_FDS - 1).collect();
        let link = fds.next().expect("REQUEST_FDS fds");
        let joins: Vec<OwnedFd> = fds.collect();
        let (thread, lock_pipe) = match &setup {
            Ok(setup) => setup,
            Err(why) => {
                let _ = send(link.as_raw_fd(), why.as_bytes(), MsgFlags::MSG_NOSIGNAL);
                continue;
            }
        };
        let ids = (nix::unistd::geteuid(), nix::unistd::getegid());
        match sys::clone_sandbox(thread) {
            Ok((Forked::Parent(_), Some(pidfd))) => live.push(LiveChild { pidfd, link }),
            Ok((Forked::Parent(_), None)) => {} // (never: CLONE_PIDFD gives one)
            Ok((Forked::Child, _)) => {
                // Nothing of its siblings' stays open here.
                live.clear();
                let fds = ChildFds {
                    placed,
                    link,
                    joins,
                };
                let Err(e) = child(&spec, fds, ids, zygote_fds, lock_pipe, in_child) else {
                    return Ok(());
                };
                report(&LaunchMessage::Failed {
                    step: e.step,
                    message: e.message,
                });
                sys::exit_now(super::EXIT_SETUP_FAILED)
            }
            Err(e) => {
                // The host's handshake reads this instead of "unshared", and says it.
                let why = format!("the zygote's fork server: clone: {e}");
                let _ = send(link.as_raw_fd(), why.as_bytes(), MsgFlags::MSG_NOSIGNAL);
            }
        }
    }
}

/// One request: the spec's bytes and the fds; None at EOF.
fn receive() -> std::io::Result<Option<(Vec<u8>, Vec<OwnedFd>)>> {
    let mut buf = vec![0u8; MAX_REQUEST_BYTES];
    let mut space = nix::cmsg_space!([RawFd; REQUEST_FDS + MAX_JOIN_FDS]);
    loop {
        let mut iov = [IoSliceMut::new(&mut buf)];
        let msg = match recvmsg::<()>(
            CONTROL_FD,
            &mut iov,
            Some(&mut space),
            MsgFlags::MSG_CMSG_CLOEXEC,
        ) {
            Ok(msg) => msg,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        };
        let mut fds = Vec::new();
        for cmsg in msg.cmsgs()? {
            if let ControlMessageOwned::ScmRights(raw) = cmsg {
                fds.extend(sys::adopt_received_fds(raw));
            }
        }
        let len = msg.bytes;
        let truncated = msg.flags.contains(MsgFlags::MSG_TRUNC);
        if len == 0 && fds.is_empty() {
            return Ok(None);
        }
        let truncated = truncated || msg.flags.contains(MsgFlags::MSG_CTRUNC);
        if truncated || !(REQUEST_FDS..=REQUEST_FDS + MAX_JOIN_FDS).contains(&fds.len()) {
            // Not a request the host sends: dropped (its fds closed), the next one read.
            continue;
        }
        buf.truncate(len);
        return Ok(Some((buf, fds)));
    }
}

/// The host's answer on the link: the fd of this process's /proc directory.
fn receive_proc(link: &OwnedFd) -> std::io::Result<OwnedFd> {
    let mut buf = [0u8; 16];
    let mut space = nix::cmsg_space!([RawFd; 1]);
    let mut iov = [IoSliceMut::new(&mut buf)];
    let msg = recvmsg::<()>(
        link.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )?;
    let mut fds = Vec::new();
    for cmsg in msg.cmsgs()? {
        if let ControlMessageOwned::ScmRights(raw) = cmsg {
            fds.extend(sys::adopt_received_fds(raw));
        }
    }
    let n = msg.bytes;
    match (iov[0].get(..n) == Some(LINK_PROC), fds.pop()) {
        (true, Some(fd)) if fds.is_empty() => Ok(fd),
        _ => Err(std::io::Error::other("the host went away")),
    }
}

/// The sandbox's nobody inside is `uid` and `gid` outside, the fork server's (in the
/// zygote's user namespace): the one mapping an unprivileged process may write for itself.
fn write_id_maps(proc: &OwnedFd, (uid, gid): (Uid, Gid)) -> std::io::Result<()> {
    use nix::fcntl::{openat, OFlag};
    use nix::sys::stat::Mode;
    for (file, text) in [
        ("setgroups", "deny".to_string()),
        ("uid_map", format!("{SANDBOX_ID} {uid} 1\n")),
        ("gid_map", format!("{SANDBOX_ID} {gid} 1\n")),
    ] {
        let fd = openat(
            proc,
            file,
            OFlag::O_WRONLY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )?;
        nix::unistd::write(&fd, text.as_bytes())?;
    }
    Ok(())
}

/// What a child gets of its request: its fds 1-5, its end of the link, and the cgroup files
/// it joins.
struct ChildFds {
    placed: Vec<OwnedFd>,
    link: OwnedFd,
    joins: Vec<OwnedFd>,
}

/// A fresh child of the fork server, pid 1 of its namespaces: its fds, its cgroups, its id
/// maps, then everything it must not keep of the zygote's, its mounts and its confinement.
fn child(
    spec: &[u8],
    ChildFds {
        placed,
        link,
        joins,
    }: ChildFds,
    ids: (Uid, Gid),
    zygote_fds: &[(RawFd, RawFd)],
    lock_pipe: &Option<sys::LockPipe>,
    in_child: &mut dyn FnMut() -> Result<(), String>,
) -> Result<(), StepError> {
    // fds 1-5 first: from here on, failures go to the child's status fd.
    for (fd, target) in placed.into_iter().zip([1, 2, JOB_FD, EVENT_FD, STATUS_FD]) {
        sys::place_fd(fd, target).step(LaunchStep::PlaceFds)?;
    }
    nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)
        .step(LaunchStep::DieWithLauncher)?;
    let spec: ChildSpec = serde_json::from_slice(spec).step(LaunchStep::ParseSpec)?;
    let spec = &spec;
    // Into the run's cgroups first, while it has one thread: what it dirties from here on is
    // the run's.
    if joins.len() != spec.join_cgroups {
        return Err(std::io::Error::other(format!(
            "{} cgroup files for {} to join",
            joins.len(),
            spec.join_cgroups
        )))
        .step(LaunchStep::JoinCgroup);
    }
    for tasks in joins {
        nix::unistd::write(&tasks, b"0").step(LaunchStep::JoinCgroup)?;
    }
    send(link.as_raw_fd(), LINK_UNSHARED, MsgFlags::empty()).step(LaunchStep::WaitIdMaps)?;
    let proc = receive_proc(&link).step(LaunchStep::WaitIdMaps)?;
    write_id_maps(&proc, ids).step(LaunchStep::WriteIdMaps)?;
    drop((proc, link));
    if let Some(pipe) = lock_pipe {
        pipe.renew().step(LaunchStep::LoopFork)?;
    }
    in_child().step(LaunchStep::LoopFork)?;
    // fd 0: a /dev/null of its own (the zygote's would share its file offset and flags).
    let null = nix::fcntl::open(
        "/dev/null",
        nix::fcntl::OFlag::O_RDWR,
        nix::sys::stat::Mode::empty(),
    )
    .step(LaunchStep::PlaceFds)?;
    sys::place_fd(null, 0).step(LaunchStep::PlaceFds)?;
    // Nothing of the zygote's stays open: what libuv made anew is another file.
    for &(fd, zygotes) in zygote_fds {
        if sys::same_file(fd, zygotes) {
            sys::close_unowned(fd);
        }
        sys::close_unowned(zygotes);
    }
    nix::unistd::sethostname(&spec.hostname).step(LaunchStep::SetHostname)?;
    let tmp = format!(
        "size={},nr_inodes={},mode=1777",
        spec.tmp_size_bytes, spec.tmp_inodes
    );
    let fresh = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    mount(
        Some("tmpfs"),
        "/tmp",
        Some("tmpfs"),
        fresh,
        Some(tmp.as_str()),
    )
    .step(LaunchStep::BuildRootFilesystem)?;
    for dir in &spec.hide {
        let empty = fresh | MsFlags::MS_RDONLY;
        mount(
            Some("tmpfs"),
            dir,
            Some("tmpfs"),
            empty,
            Some("size=4k,nr_inodes=1"),
        )
        .step(LaunchStep::BuildRootFilesystem)?;
    }
    let namespaces = ["user", "pid", "mount", "network", "ipc", "uts", "cgroup"];
    let confinement = Confinement {
        in_userns: true,
        run_as: None,
        rlimits: &spec.rlimits,
        cwd: std::path::Path::new("/tmp"),
        landlock: spec.landlock.as_ref(),
        seccomp: spec.seccomp,
        rootfs: true,
    };
    let enforced = confinement.apply(false, namespaces.iter().map(|n| n.to_string()).collect())?;
    report(&LaunchMessage::Enforced(enforced));
    drop(sys::take_inherited_fd(STATUS_FD));
    Ok(())
}
