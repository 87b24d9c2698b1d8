//! One child of a zygote, from the host's side: the request on the control socket, the
//! host's half of the handshake on the link (the id maps, written from here), and the
//! host's handle on the child (a pidfd: the child is no child of the host's).

use std::io::IoSlice;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::sys::socket::{
    recvmsg, sendmsg, setsockopt, socketpair, sockopt, AddressFamily, ControlMessage,
    ControlMessageOwned, MsgFlags, SockFlag, SockType,
};
use tokio::io::unix::AsyncFd;
use tokio::net::unix::pipe;

use super::Zygote;
use crate::error::StartError;
use crate::launch::zygote::{ChildSpec, LINK_EXIT, LINK_PROC, LINK_UNSHARED};
use crate::sandbox::channel::RunnerChannel;
use crate::sandbox::process::{SandboxProcess, Started};

/// Why a zygote gave no child.
pub(crate) enum ForkError {
    /// The zygote is gone (its control socket closed): a fresh one may serve.
    Gone(String),
    Start(StartError),
}

impl From<StartError> for ForkError {
    fn from(e: StartError) -> Self {
        ForkError::Start(e)
    }
}

impl From<ForkError> for StartError {
    fn from(e: ForkError) -> Self {
        match e {
            ForkError::Gone(why) => StartError::NotReady(why),
            ForkError::Start(e) => e,
        }
    }
}

/// Asks `zygote` for one child confined as `spec` says; the sandbox once the child said on
/// its link that it exists and was sent its /proc directory (the report on its status fd
/// and its "ready" are read by the sandbox core).
/// `joins` are the run's cgroup files the child moves itself into (`spec.join_cgroups` of
/// them), sent with the request.
pub(crate) async fn fork(
    zygote: Arc<Zygote>,
    spec: ChildSpec,
    joins: &[OwnedFd],
    timeout_ms: u64,
) -> Result<Started, ForkError> {
    let started = Instant::now();
    let (channel, status, link) = request(&zygote, &spec, joins)?;
    let timeout = Duration::from_millis(timeout_ms.max(1));
    let handshake = tokio::task::spawn_blocking(move || handshake(link, timeout))
        .await
        .map_err(|e| StartError::NotReady(format!("the zygote's handshake: {e}")))?;
    let (pid, pidfd, link) = match handshake {
        Ok(h) => h,
        Err(e) => {
            // A zygote that died as it was asked: a fresh one may serve.
            tokio::time::sleep(Duration::from_millis(50)).await;
            let why = format!("the zygote's child: {e}");
            return Err(match zygote.running() {
                true => ForkError::Start(StartError::NotReady(why)),
                false => ForkError::Gone(why),
            });
        }
    };
    let process = ZygoteChild {
        pid: pid as u32,
        pidfd,
        link: crate::sys::async_reader(link).map_err(StartError::Spawn)?,
        _zygote: zygote,
    };
    Ok(Started {
        process: Box::new(process),
        channel,
        status: Some(status),
        started,
    })
}

type Request = (
    RunnerChannel,
    Box<dyn crate::sandbox::channel::ReadHalf>,
    OwnedFd,
);

/// Sends the request; the host's ends of the child's fds and of its link.
fn request(zygote: &Zygote, spec: &ChildSpec, joins: &[OwnedFd]) -> Result<Request, ForkError> {
    let spawn = |e: nix::Error| StartError::Spawn(e.into());
    let pipe_pair = || nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(spawn);
    let (out_r, out_w) = pipe_pair()?;
    let (err_r, err_w) = pipe_pair()?;
    let (job_r, job_w) = pipe_pair()?;
    let (ev_r, ev_w) = pipe_pair()?;
    let (st_r, st_w) = pipe_pair()?;
    let (link, link_child) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .map_err(spawn)?;
    setsockopt(&link, sockopt::PassCred, &true).map_err(spawn)?;
    let text = serde_json::to_vec(spec).map_err(|e| StartError::Spawn(e.into()))?;
    let mut fds = vec![
        out_w.as_raw_fd(),
        err_w.as_raw_fd(),
        job_r.as_raw_fd(),
        ev_w.as_raw_fd(),
        st_w.as_raw_fd(),
        link_child.as_raw_fd(),
    ];
    fds.extend(joins.iter().map(|f| f.as_raw_fd()));
    zygote.forks.fetch_add(1, Ordering::Relaxed);
    let sent = sendmsg::<()>(
        zygote.control.as_raw_fd(),
        &[IoSlice::new(&text)],
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::MSG_NOSIGNAL,
        None,
    );
    if let Err(e) = sent {
        zygote.broken.store(true, Ordering::Relaxed);
        return Err(ForkError::Gone(format!("the zygote is gone: {e}")));
    }
    drop((out_w, err_w, job_r, ev_w, st_w, link_child));
    let receiver = |fd| pipe::Receiver::from_owned_fd(fd).map_err(StartError::Spawn);
    let channel = RunnerChannel {
        job: Box::new(pipe::Sender::from_owned_fd(job_w).map_err(StartError::Spawn)?),
        events: Box::new(receiver(ev_r)?),
        stdout: Box::new(receiver(out_r)?),
        stderr: Box::new(receiver(err_r)?),
    };
    Ok((channel, Box::new(receiver(st_r)?), link))
}

/// The host's half of the link: the child's pid (from the credentials of its first
/// message) and a pidfd of it, then its /proc directory sent (for its id maps); the link,
/// non-blocking, for the exit report.
fn handshake(link: OwnedFd, timeout: Duration) -> std::io::Result<(libc::pid_t, OwnedFd, OwnedFd)> {
    let tv = nix::sys::time::TimeVal::new(timeout.as_secs() as _, timeout.subsec_micros() as _);
    setsockopt(&link, sockopt::ReceiveTimeout, &tv)?;
    let child = expect(&link, LINK_UNSHARED)?;
    // (It waits for this answer: its pid cannot have been reused yet.)
    let pidfd = crate::sys::pidfd_open(child)?;
    let proc = nix::fcntl::open(
        format!("/proc/{child}").as_str(),
        nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )?;
    sendmsg::<()>(
        link.as_raw_fd(),
        &[IoSlice::new(LINK_PROC)],
        &[ControlMessage::ScmRights(&[proc.as_raw_fd()])],
        MsgFlags::MSG_NOSIGNAL,
        None,
    )?;
    drop(proc);
    let flags = nix::fcntl::fcntl(&link, nix::fcntl::FcntlArg::F_GETFL)?;
    let flags = nix::fcntl::OFlag::from_bits_retain(flags) | nix::fcntl::OFlag::O_NONBLOCK;
    nix::fcntl::fcntl(&link, nix::fcntl::FcntlArg::F_SETFL(flags))?;
    Ok((child, pidfd, link))
}

/// Reads one link message, which must be `what`; the sender's pid (in the host's pid
/// namespace, from the socket's credentials).
fn expect(link: &OwnedFd, what: &[u8]) -> std::io::Result<libc::pid_t> {
    // (Room for the fork server's reason, where it could not fork.)
    let mut buf = [0u8; 512];
    let mut space = nix::cmsg_space!(nix::sys::socket::UnixCredentials);
    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
    let msg = recvmsg::<()>(
        link.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::empty(),
    )?;
    let mut pid = None;
    for cmsg in msg.cmsgs()? {
        if let ControlMessageOwned::ScmCredentials(creds) = cmsg {
            pid = Some(creds.pid());
        }
    }
    let n = msg.bytes;
    match pid {
        Some(pid) if &buf[..n] == what && pid > 0 => Ok(pid),
        _ if n == 0 => Err(std::io::Error::other(
            "it went away during its setup (its status fd says why)",
        )),
        _ => Err(std::io::Error::other(format!(
            "expected {:?} on the link, got {:?}",
            String::from_utf8_lossy(what),
            String::from_utf8_lossy(&buf[..n])
        ))),
    }
}

/// The host's handle on a zygote's child: pid 1 of its own pid namespace, so killing it
/// kills everything it started; its end is reported on the link by the fork server that
/// reaped it. It keeps its zygote alive (its pid namespace holds it).
struct ZygoteChild {
    pid: u32,
    pidfd: OwnedFd,
    link: AsyncFd<OwnedFd>,
    _zygote: Arc<Zygote>,
}

impl SandboxProcess for ZygoteChild {
    fn pid(&self) -> Option<u32> {
        Some(self.pid)
    }

    fn stop(&mut self) {
        self.kill();
    }

    fn kill(&mut self) {
        let _ = crate::sys::pidfd_send_signal(&self.pidfd, libc::SIGKILL);
    }

    fn wait(
        &mut self,
    ) -> std::pin::Pin<
        Box<dyn std::future::Future<Output = std::io::Result<Option<i32>>> + Send + '_>,
    > {
        // The fork server writes "exit <code>" once it has reaped the child (which, as the
        // first process of its pid namespace, exits only once the namespace is empty), then
        // closes the link; a link that closes without it (the zygote died) says nothing.
        Box::pin(async move {
            let mut buf = [0u8; 32];
            loop {
                let mut guard = self.link.readable().await?;
                let read = guard.try_io(|fd| {
                    nix::sys::socket::recv(fd.as_raw_fd(), &mut buf, MsgFlags::empty())
                        .map_err(std::io::Error::from)
                });
                match read {
                    Ok(Ok(n)) => {
                        let text = String::from_utf8_lossy(&buf[..n]);
                        let code = text.strip_prefix(LINK_EXIT).and_then(|c| c.parse().ok());
                        return Ok(code);
                    }
                    Ok(Err(e)) => return Err(e),
                    Err(_would_block) => continue,
                }
            }
        })
    }
}
