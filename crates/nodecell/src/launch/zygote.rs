//! The zygote's fork server: run inside a zygote's Node by its addon (`crates/nodecell-zygote`).
//!
//! A zygote is a Node that booted the runner once, inside a base sandbox that
//! nodecell-launcher built (its root filesystem, no network, its own namespaces and cgroup),
//! and that then serves fork requests instead of reading a job. Per sandbox:
//!
//! ```text
//! host ── request (ChildSpec + 6 fds) on the control socket (fd 3) ──▶ zygote
//! zygote: fork() ──▶ intermediate: fds 1-5 placed; unshare(user, pid, mount, net, ipc, uts,
//!                    cgroup); "unshared" on the link ──▶ the host opens its /proc entry
//!                    ◀── "proc" with that directory's fd: it writes its own id maps
//!                    (only an opener inside the zygote's user namespace may); fork(); it
//!                    then execs nodecell-launcher --reap, which reaps the child and
//!                    sends "exit <code>" on the link
//!                    └─▶ child, pid 1 of its pid namespace: "born" on the link (the host
//!                        learns its pid from the socket's credentials); libuv's loop made
//!                        anew; a fresh /tmp; the addon hidden; then the launcher's
//!                        confinement (identity, capabilities, rlimits, no_new_privs,
//!                        Landlock, seccomp) and its report on fd 5; back to JavaScript,
//!                        which runs the runner's start(): "ready", then the job on fd 3.
//! ```
//!
//! The zygote only reads requests and forks: it never writes to the control socket, and
//! never sees a job. Forks use glibc's `fork()`, so that the at-fork handlers of glibc,
//! libuv and OpenSSL run; the zygote's Node runs V8 single-threaded, so its idle platform
//! threads hold no lock a child could need.

use std::io::IoSliceMut;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::PathBuf;

use nix::mount::{mount, MsFlags};
use nix::sys::socket::{recvmsg, send, ControlMessageOwned, MsgFlags};
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
/// The largest request (its [`ChildSpec`] as JSON).
pub const MAX_REQUEST_BYTES: usize = 64 * 1024;

/// On the link, intermediate → host: its namespaces exist (its pid in the credentials).
pub const LINK_UNSHARED: &[u8] = b"unshared";
/// On the link, host → intermediate, with the fd of its /proc/<pid> directory: write your
/// id maps. (Their writer must have opened them from inside the zygote's user namespace or
/// the new one; the sandbox has no /proc of its own.)
pub const LINK_PROC: &[u8] = b"proc";
/// On the link, child → host: the child exists (its pid in the message's credentials).
pub const LINK_BORN: &[u8] = b"born";
/// On the link, intermediate → host, once the child has exited and been reaped: this
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
    /// nodecell-launcher as the zygote sees it: the intermediate execs it ([`REAP_ARG`]) to
    /// wait for the child, dropping its copy of the zygote's memory. Without it (or where
    /// the exec fails) the intermediate waits as it is.
    #[serde(default)]
    pub reaper: Option<PathBuf>,
}

/// nodecell-launcher's first argument in an intermediate that waits for its child (the
/// child's pid next, the link on fd 0).
pub const REAP_ARG: &str = "--reap";

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
    // Intermediates exit at once; the kernel reaps them.
    sys::reap_children_automatically(true)?;
    // V8's heap is marked not to be copied by fork (official Node builds): children need it.
    // (Nothing of the zygote's allocates while it serves.)
    sys::copy_all_mappings_on_fork();
    // The zygote's own fds above the sandbox's (Node's event loops, V8's platform): each
    // child closes those it still shares with the zygote once its loop is made anew.
    let zygote_fds = sys::duplicate_fds_from(STATUS_FD + 1);
    loop {
        let Some((spec, fds)) = receive()? else {
            return Ok(Served::Closed);
        };
        match sys::fork_zygote()? {
            Forked::Parent(_) => drop(fds),
            Forked::Child => {
                let Err(e) = intermediate(&spec, fds, &zygote_fds, in_child) else {
                    return Ok(Served::Child);
                };
                report(&LaunchMessage::Failed {
                    step: e.step,
                    message: e.message,
                });
                sys::exit_now(super::EXIT_SETUP_FAILED)
            }
        }
    }
}

/// One request: the spec's bytes and the fds; None at EOF.
fn receive() -> std::io::Result<Option<(Vec<u8>, Vec<OwnedFd>)>> {
    let mut buf = vec![0u8; MAX_REQUEST_BYTES];
    let mut space = nix::cmsg_space!([RawFd; REQUEST_FDS]);
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
        if truncated || fds.len() != REQUEST_FDS {
            // Not a request the host sends: dropped (its fds closed), the next one read.
            continue;
        }
        buf.truncate(len);
        return Ok(Some((buf, fds)));
    }
}

fn intermediate(
    spec: &[u8],
    fds: Vec<OwnedFd>,
    zygote_fds: &[(RawFd, RawFd)],
    in_child: &mut dyn FnMut() -> Result<(), String>,
) -> Result<(), StepError> {
    let mut fds = fds.into_iter();
    // fds 1-5 first: from here on, failures go to the child's status fd.
    for target in [1, 2, JOB_FD, EVENT_FD, STATUS_FD] {
        let fd = fds.next().expect("REQUEST_FDS fds");
        sys::place_fd(fd, target).step(LaunchStep::PlaceFds)?;
    }
    let link = fds.next().expect("REQUEST_FDS fds");
    let spec: ChildSpec = serde_json::from_slice(spec).step(LaunchStep::ParseSpec)?;
    sys::reap_children_automatically(false).step(LaunchStep::PlaceFds)?;
    nix::sched::unshare(nix::sched::CloneFlags::from_bits_retain(
        sys::SANDBOX_NAMESPACES,
    ))
    .step(LaunchStep::CreateNamespaces)?;
    send(link.as_raw_fd(), LINK_UNSHARED, MsgFlags::empty()).step(LaunchStep::WaitIdMaps)?;
    let proc = receive_proc(&link).step(LaunchStep::WaitIdMaps)?;
    write_id_maps(&proc).step(LaunchStep::WriteIdMaps)?;
    drop(proc);
    // Opened before the fork: the child hides its directory.
    let reaper = spec.reaper.as_ref().and_then(|path| {
        nix::fcntl::open(
            path,
            nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .ok()
    });
    // The child is pid 1 of the new pid namespace. This process waits for it (so that it is
    // reaped at once) and tells the host how it ended.
    match sys::fork_single_threaded().step(LaunchStep::ForkNode)? {
        Forked::Parent(child) => wait_and_report(child, link, reaper),
        Forked::Child => {
            drop(reaper);
            nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)
                .step(LaunchStep::DieWithLauncher)?;
            child(&spec, link, zygote_fds, in_child)
        }
    }
}

/// The intermediate, once the child exists: nothing of the child's kept, dies with the
/// zygote; then, as nodecell-launcher `--reap` where `reaper` is that binary (a fresh
/// address space: its copy of the zygote's memory is gone) or as it is, reaps the child,
/// sends `exit <code>` on the link and exits.
fn wait_and_report(child: libc::pid_t, link: OwnedFd, reaper: Option<OwnedFd>) -> ! {
    if sys::place_fd(link, 0).is_err() {
        sys::exit_now(1);
    }
    let reaper = reaper.and_then(|fd| sys::place_fd(fd, 1).ok());
    let _ = sys::close_fds_from(if reaper.is_some() { 2 } else { 1 });
    let _ = nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL);
    if reaper.is_some() {
        // Only returns where the exec failed: then this process waits as it is.
        let _ = sys::exec_fd(1, &["nodecell-reaper", REAP_ARG, &child.to_string()]);
    }
    report_exit(child)
}

/// nodecell-launcher `--reap <pid>`: an intermediate that exec'd the launcher (see
/// [`wait_and_report`]), with the link on fd 0.
pub fn reap_main(child: Option<String>) -> ! {
    match child.and_then(|c| c.parse::<libc::pid_t>().ok()) {
        Some(pid) if pid > 0 => report_exit(pid),
        _ => sys::exit_now(1),
    }
}

/// Reaps `child`, sends `exit <code>` on the link (fd 0) and exits.
fn report_exit(child: libc::pid_t) -> ! {
    let link = 0;
    let code = loop {
        match nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(child), None) {
            Ok(nix::sys::wait::WaitStatus::Exited(_, code)) => break code,
            Ok(nix::sys::wait::WaitStatus::Signaled(_, sig, _)) => break 128 + sig as i32,
            Ok(_) | Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => break -1,
        }
    };
    let _ = send(
        link,
        format!("exit {code}").as_bytes(),
        MsgFlags::MSG_NOSIGNAL,
    );
    sys::exit_now(0)
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

/// The sandbox's nobody inside is this process's own uid and gid outside (in the zygote's
/// user namespace): the one mapping an unprivileged process may write for itself.
fn write_id_maps(proc: &OwnedFd) -> std::io::Result<()> {
    use nix::fcntl::{openat, OFlag};
    use nix::sys::stat::Mode;
    let (uid, gid) = (nix::unistd::geteuid(), nix::unistd::getegid());
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

fn child(
    spec: &ChildSpec,
    link: OwnedFd,
    zygote_fds: &[(RawFd, RawFd)],
    in_child: &mut dyn FnMut() -> Result<(), String>,
) -> Result<(), StepError> {
    send(link.as_raw_fd(), LINK_BORN, MsgFlags::empty()).step(LaunchStep::WaitIdMaps)?;
    drop(link);
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
