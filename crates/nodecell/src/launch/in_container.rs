//! The launcher as a container's first process (the docker and gvisor backends): a container
//! engine gives its process three streams (stdin, stdout, stderr, through the engine's attach
//! API) where the runner needs five (job, events, stdout, stderr, the launcher's report). So
//! pid 1 of the container multiplexes:
//!
//! ```text
//! host ⇄ engine attach ⇄ pid 1: nodecell-launcher --in-container SPEC
//!                           │  stdin → the job pipe (fd 3); fds 1, 2, 4, 5 → framed on stdout
//!                           └─▶ nodecell-launcher --no-namespaces 1 (the landlock backend's
//!                                │  launcher: rlimits, capabilities, no_new_privs, seccomp)
//!                                └─▶ node
//! ```
//!
//! Each chunk of a stream goes out as a [`MuxFrame`] on pid 1's own stdout, which nothing in
//! the sandbox can write to: Node's fds are pipes that pid 1 reads, so whatever user code
//! writes on any fd lands in the stream it belongs to, tagged by pid 1. (User code can write
//! raw frames on fd 4, as on every backend: the host takes a result only with the run's
//! nonce.)
//!
//! stdin is the host's tie to the sandbox: when it ends (the host closed the attach stream,
//! or died), pid 1 kills every process of the container and exits, and the container ends
//! (and is removed: the engine was asked to). After Node's end pid 1 sends the exit code and
//! waits for that end too, so that the container's cgroup is still there to be read.

use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use crate::sys::{self, Forked};

use super::guest_memory::GuestMemory;
use super::spec::{EVENT_FD, JOB_FD, SPEC_FD, STATUS_FD, WITHOUT_NAMESPACES};

/// The launcher's argument for pid 1 of a container; the spec (JSON) follows it.
pub const IN_CONTAINER: &str = "--in-container";

/// Where the sandbox image holds the launcher.
pub const LAUNCHER_IN_IMAGE: &str = "/nodecell/launcher";

/// The streams pid 1 multiplexes on its stdout, by their tag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum MuxStream {
    Stdout = 1,
    Stderr = 2,
    Events = 4,
    Status = 5,
    /// The OOM kills in a microVM guest's memory cgroup (8 bytes, big endian), once, before
    /// the end of the streams its kill ended (`guest_memory.rs`).
    Oom = 8,
    /// The exit code of the sandbox (4 bytes, big endian), the last frame.
    Exit = 9,
}

impl MuxStream {
    pub fn from_tag(tag: u8) -> Option<MuxStream> {
        [
            MuxStream::Stdout,
            MuxStream::Stderr,
            MuxStream::Events,
            MuxStream::Status,
            MuxStream::Oom,
            MuxStream::Exit,
        ]
        .into_iter()
        .find(|s| *s as u8 == tag)
    }
}

/// Frame header: the stream's tag, then the payload's length (u32, big endian). A payload of
/// length 0 ends its stream.
pub const MUX_HEADER: usize = 5;

/// Largest payload of one frame (what one read of a pipe gives at most).
pub const MUX_CHUNK: usize = 64 * 1024;

/// Entry point of `nodecell-launcher --in-container SPEC`. Never returns.
pub fn main(spec: &str) -> ! {
    let (stdin, stdout) = (std::io::stdin(), std::io::stdout());
    match run(spec, stdin.as_fd(), stdout.as_fd(), None) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("nodecell-launcher {IN_CONTAINER}: {e}");
            std::process::exit(super::EXIT_SETUP_FAILED)
        }
    }
}

fn pipe() -> std::io::Result<(OwnedFd, OwnedFd)> {
    Ok(nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?)
}

fn write_all(fd: BorrowedFd<'_>, mut bytes: &[u8]) -> std::io::Result<()> {
    while !bytes.is_empty() {
        match nix::unistd::write(fd, bytes) {
            Ok(n) => bytes = &bytes[n..],
            Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Writes one frame on `output`.
fn frame(output: BorrowedFd<'_>, stream: MuxStream, payload: &[u8]) -> std::io::Result<()> {
    let mut out = Vec::with_capacity(MUX_HEADER + payload.len());
    out.push(stream as u8);
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
    write_all(output, &out)
}

/// Starts the launcher with `spec` and multiplexes: `input` (the host's bytes) into the job
/// pipe, the sandbox's streams framed onto `output`, until the host closes `input`; the
/// launcher's exit code. `input` and `output` are a container's stdin and stdout, or a
/// microVM guest's port (`guest.rs`); a guest's `memory` group takes the launcher, and is
/// held to the job's limit when the job's first bytes arrive.
pub(super) fn run(
    spec: &str,
    input: BorrowedFd<'_>,
    output: BorrowedFd<'_>,
    memory: Option<&GuestMemory>,
) -> std::io::Result<i32> {
    // Only as pid 1 (of a container or a guest): killing "every process" below means its.
    if std::process::id() != 1 {
        return Err(std::io::Error::other(
            "must run as pid 1 (of a container or a microVM guest)",
        ));
    }
    let (job_r, job_w) = pipe()?;
    let (ev_r, ev_w) = pipe()?;
    let (st_r, st_w) = pipe()?;
    let (out_r, out_w) = pipe()?;
    let (err_r, err_w) = pipe()?;
    let (spec_r, spec_w) = pipe()?;
    let launcher = CString::new(LAUNCHER_IN_IMAGE).expect("no NUL");
    let args = [
        launcher.clone(),
        CString::new(WITHOUT_NAMESPACES).expect("no NUL"),
        CString::new("1").expect("no NUL"),
    ];
    let null = std::fs::File::open("/dev/null")?;
    match sys::fork_single_threaded()? {
        Forked::Child => {
            if let Some(Err(e)) = memory.map(GuestMemory::join) {
                eprintln!("nodecell-launcher {IN_CONTAINER}: joining the memory cgroup: {e}");
                std::process::exit(super::EXIT_SETUP_FAILED)
            }
            // The sandbox's fds, as the host gives them to the launcher elsewhere.
            let moves = [
                (null.as_raw_fd(), 0),
                (out_w.as_raw_fd(), 1),
                (err_w.as_raw_fd(), 2),
                (job_r.as_raw_fd(), JOB_FD),
                (ev_w.as_raw_fd(), EVENT_FD),
                (st_w.as_raw_fd(), STATUS_FD),
                (spec_r.as_raw_fd(), SPEC_FD),
            ];
            let e = sys::exec_with_fds(&launcher, &args, &moves);
            eprintln!("nodecell-launcher {IN_CONTAINER}: exec {LAUNCHER_IN_IMAGE}: {e}");
            std::process::exit(super::EXIT_SETUP_FAILED)
        }
        Forked::Parent(child) => {
            drop((null, job_r, ev_w, st_w, out_w, err_w, spec_r));
            write_all(spec_w.as_fd(), spec.as_bytes())?;
            drop(spec_w);
            pump(
                (input, output),
                job_w,
                [out_r, err_r, ev_r, st_r],
                Pid::from_raw(child),
                memory,
            )
        }
    }
}

/// Carries the host's input into the job pipe and the sandbox's streams onto the output until
/// every stream has ended, then reaps the launcher and returns its exit code (after its exit
/// frame). Where `memory`'s OOM killer acted, the OOM frame comes before the first stream's
/// end that follows the kill (or before the exit frame).
fn pump(
    (input, output): (BorrowedFd<'_>, BorrowedFd<'_>),
    job: OwnedFd,
    streams: [OwnedFd; 4],
    launcher: Pid,
    memory: Option<&GuestMemory>,
) -> std::io::Result<i32> {
    const TAGS: [MuxStream; 4] = [
        MuxStream::Stdout,
        MuxStream::Stderr,
        MuxStream::Events,
        MuxStream::Status,
    ];
    let mut job = Some(job);
    // The memory limit waits for the job: until then the group holds the ready sandbox.
    let mut unheld = memory;
    let mut oom_said = false;
    let mut open: Vec<Option<OwnedFd>> = streams.into_iter().map(Some).collect();
    let mut buf = vec![0u8; MUX_CHUNK];
    while open.iter().any(Option::is_some) {
        let mut fds = Vec::new();
        let mut which = Vec::new();
        fds.push(PollFd::new(input, PollFlags::POLLIN));
        which.push(None);
        for (i, fd) in open.iter().enumerate() {
            if let Some(fd) = fd {
                fds.push(PollFd::new(fd.as_fd(), PollFlags::POLLIN));
                which.push(Some(i));
            }
        }
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
        let ready: Vec<Option<usize>> = fds
            .iter()
            .zip(&which)
            .filter(|(fd, _)| fd.revents().is_some_and(|r| !r.is_empty()))
            .map(|(_, w)| *w)
            .collect();
        drop(fds);
        for w in ready {
            match w {
                None => {
                    let n = read(input, &mut buf)?;
                    if n == 0 {
                        // The host is gone: nothing of the sandbox may outlive it.
                        let _ = kill(Pid::from_raw(-1), Signal::SIGKILL);
                        return Ok(137);
                    }
                    if let Some(m) = unheld.take() {
                        if let Err(e) = m.hold() {
                            // No job runs without its memory limit.
                            let _ = kill(Pid::from_raw(-1), Signal::SIGKILL);
                            return Err(std::io::Error::other(format!(
                                "holding the sandbox to its memory limit: {e}"
                            )));
                        }
                    }
                    if let Some(j) = &job {
                        if write_all(j.as_fd(), &buf[..n]).is_err() {
                            // The runner no longer reads its job (it has ended).
                            job = None;
                        }
                    }
                }
                Some(i) => {
                    let fd = open[i].as_ref().expect("polled only while open");
                    let n = read(fd.as_fd(), &mut buf)?;
                    if n == 0 {
                        // A stream ends when its writers are gone, perhaps killed by the OOM
                        // killer (which counts the kill before its signal): said first, so
                        // that the host knows why when it sees the end.
                        say_oom(output, memory, &mut oom_said)?;
                        open[i] = None;
                    }
                    frame(output, TAGS[i], &buf[..n])?;
                }
            }
        }
    }
    drop(job);
    let code = loop {
        match waitpid(None::<Pid>, None) {
            Ok(WaitStatus::Exited(pid, code)) if pid == launcher => break code,
            Ok(WaitStatus::Signaled(pid, sig, _)) if pid == launcher => break 128 + sig as i32,
            Ok(_) | Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
    };
    // Orphans re-parented to pid 1 (none normally: the launcher is a subreaper) are reaped.
    while let Ok(WaitStatus::Exited(..) | WaitStatus::Signaled(..)) =
        waitpid(None::<Pid>, Some(WaitPidFlag::WNOHANG))
    {}
    say_oom(output, memory, &mut oom_said)?;
    frame(output, MuxStream::Exit, &code.to_be_bytes())?;
    // The container lives on, empty, until the host closes stdin: the host reads the run's
    // usage and OOM kills from its cgroup first, which the engine removes with it.
    while read(input, &mut buf)? > 0 {}
    Ok(code)
}

/// The OOM frame, once, where `memory`'s OOM killer has killed.
fn say_oom(
    output: BorrowedFd<'_>,
    memory: Option<&GuestMemory>,
    said: &mut bool,
) -> std::io::Result<()> {
    if let Some(kills) = memory
        .filter(|_| !*said)
        .map(GuestMemory::oom_kills)
        .filter(|k| *k > 0)
    {
        frame(output, MuxStream::Oom, &kills.to_be_bytes())?;
        *said = true;
    }
    Ok(())
}

fn read(fd: BorrowedFd<'_>, buf: &mut [u8]) -> std::io::Result<usize> {
    loop {
        match nix::unistd::read(fd, buf) {
            Ok(n) => return Ok(n),
            Err(nix::errno::Errno::EINTR) => continue,
            // A pipe whose writer went away with an error reads as its end.
            Err(nix::errno::Errno::EIO) => return Ok(0),
            Err(e) => return Err(e.into()),
        }
    }
}
