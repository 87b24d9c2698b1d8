//! The host's end of a microVM's port, and the VMM as the sandbox's process.
//!
//! The host writes the guest's start (a length-prefixed `GuestStart`), then carries the job
//! channel's bytes into the port; what comes back is pid 1's frames only
//! (`crate::launch::in_container`), taken apart into the runner channel's sockets by
//! [`MuxEnds`]. Nothing the sandbox writes can become a frame: pid 1 frames every byte.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::UnixStream;
use tokio::process::Child;
use tokio::sync::watch;

use crate::error::StartError;
use crate::launch::in_container::MuxStream;
use crate::sandbox::mux::{MuxEnds, MuxedSockets};
use crate::sandbox::process::{SandboxProcess, Started};

/// What the demultiplexer has seen so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Seen {
    /// The runner's first bytes on its event channel (its ready frame).
    events: bool,
    /// The launcher's first bytes on the status stream (its report, or why it failed).
    status: bool,
    /// The exit frame, or the end of the port: the sandbox is over.
    over: bool,
}

/// Links the guest behind `port` (its VMM `vmm`) to a runner channel: sends `start`, then
/// waits (at most `boot_limit`) until the runner in the guest has said it is ready.
pub(crate) async fn link(
    vmm: Child,
    port: UnixStream,
    start: &[u8],
    boot_limit: Duration,
    t0: Instant,
) -> Result<Started, StartError> {
    let (reader, mut writer) = port.into_split();
    let (seen_tx, seen) = watch::channel(Seen::default());
    let sockets = MuxedSockets::new()?;
    let process = VmProcess {
        vmm,
        exit: Arc::new(Mutex::new(None)),
        oom: sockets.ends.oom_flag(),
        linked: Arc::new(AtomicBool::new(true)),
        seen,
    };
    if let Err(e) = writer
        .write_all(&crate::protocol::encode_frame(start))
        .await
    {
        return Err(process
            .gone(StartError::NotReady(format!("the guest's port: {e}")))
            .await);
    }
    tokio::spawn(feed(sockets.job, writer, process.seen.clone()));
    tokio::spawn(demux(
        reader,
        sockets.ends,
        seen_tx,
        process.exit.clone(),
        process.linked.clone(),
    ));
    let mut seen = process.seen.clone();
    let up = async move {
        let _ = seen.wait_for(|s| s.events || s.over).await.is_ok();
    };
    let failed = match tokio::time::timeout(boot_limit, up).await {
        Err(_) => Some(StartError::StartupTimeout(boot_limit.as_millis() as u64)),
        Ok(()) if !process.seen.borrow().events && !process.seen.borrow().status => Some(
            StartError::NotReady("the guest ended before its launcher reported".into()),
        ),
        Ok(()) => None,
    };
    if let Some(e) = failed {
        return Err(process.gone(e).await);
    }
    // (A guest whose launcher failed ends after its report, which the sandbox core reads.)
    tracing::debug!(
        elapsed_ms = t0.elapsed().as_secs_f64() * 1e3,
        "the guest's runner is up"
    );
    Ok(Started {
        process: Box::new(process),
        channel: sockets.channel,
        status: Some(Box::new(sockets.status)),
        started: t0,
    })
}

/// Carries the job channel into the port. The port stays open until the sandbox is over
/// (the guest ends its sandbox when the host's end closes, which must not come before the
/// result has been read).
async fn feed(mut job: UnixStream, mut port: OwnedWriteHalf, seen: watch::Receiver<Seen>) {
    tokio::select! {
        _ = tokio::io::copy(&mut job, &mut port) => {
            let _ = port.flush().await;
            over(seen).await;
        }
        _ = over(seen.clone()) => {}
    }
}

/// Until the sandbox is over.
async fn over(mut seen: watch::Receiver<Seen>) {
    let _ = seen.wait_for(|s| s.over).await.is_ok();
}

async fn demux(
    mut port: OwnedReadHalf,
    mut ends: MuxEnds,
    seen: watch::Sender<Seen>,
    exit: Arc<Mutex<Option<i32>>>,
    linked: Arc<AtomicBool>,
) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match port.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let pushed = ends.push(&buf[..n]).await;
        let (events, status) = (ends.seen(MuxStream::Events), ends.seen(MuxStream::Status));
        if *seen.borrow()
            != (Seen {
                events,
                status,
                over: false,
            })
        {
            seen.send_modify(|s| (s.events, s.status) = (events, status));
        }
        if let Some(code) = ends.exit() {
            *exit.lock().expect("exit lock") = Some(code);
            break;
        }
        if pushed.is_err() {
            crate::warn_limited!("the guest's frames are broken");
            break;
        }
    }
    linked.store(false, Ordering::Release);
    drop(ends);
    // (A receiver that waits later still sees it: the last value stays.)
    seen.send_modify(|s| s.over = true);
}

/// The host's handle on a microVM: its VMM process. Ending the sandbox ends the VMM (the VM,
/// every process of the sandbox in it, goes with it); the exit code is pid 1's exit frame.
struct VmProcess {
    vmm: Child,
    exit: Arc<Mutex<Option<i32>>>,
    /// Set once pid 1's OOM frame has come: the guest's memory cgroup killed (the flag of
    /// the port's [`MuxEnds`]).
    oom: Arc<AtomicBool>,
    /// Cleared when the port's frames end.
    linked: Arc<AtomicBool>,
    seen: watch::Receiver<Seen>,
}

impl VmProcess {
    /// `why` the VM did not come up, once its VMM is gone and reaped (so that the caller
    /// reads the VMM's whole log).
    async fn gone(mut self, why: StartError) -> StartError {
        let _ = self.vmm.start_kill();
        let _ = self.vmm.wait().await;
        why
    }
}

impl SandboxProcess for VmProcess {
    fn pid(&self) -> Option<u32> {
        self.vmm.id()
    }

    fn stop(&mut self) {
        // Nothing of the sandbox outlives its VM: no orderly stop is needed.
        let _ = self.vmm.start_kill();
    }

    fn kill(&mut self) {
        let _ = self.vmm.start_kill();
    }

    fn alive(&self) -> bool {
        self.linked.load(Ordering::Acquire)
    }

    fn oom_killed(&self) -> bool {
        self.oom.load(Ordering::Acquire)
    }

    fn wait(&mut self) -> Pin<Box<dyn Future<Output = std::io::Result<Option<i32>>> + Send + '_>> {
        Box::pin(async move {
            // The sandbox is over once pid 1 sent its exit code or the port ended (the VMM
            // killed, or gone by itself): then the VMM goes.
            tokio::select! {
                _ = over(self.seen.clone()) => {}
                _ = self.vmm.wait() => {}
            }
            let _ = self.vmm.start_kill();
            self.vmm.wait().await?;
            Ok(*self.exit.lock().expect("exit lock"))
        })
    }
}
