//! The host's side of the frames a sandbox's pid 1 multiplexes its streams in (a container's
//! attach stream, a microVM's port: `crate::launch::in_container`): each frame's payload is
//! written into the unix socket its stream's reader in the sandbox core holds, as if the
//! sandbox had written into that socket itself.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::io::AsyncWriteExt;
use tokio::net::UnixStream;

use super::channel::RunnerChannel;
use crate::error::StartError;
use crate::launch::in_container::{MuxStream, MUX_CHUNK, MUX_HEADER};

/// The unix socket pairs of a sandbox whose streams arrive in pid 1's frames: the sandbox
/// core's ends (the runner channel and the launcher's status), and the host's (where the job
/// is read from to go into the sandbox, and [`MuxEnds`] for the frames coming out).
pub(crate) struct MuxedSockets {
    pub channel: RunnerChannel,
    pub status: UnixStream,
    pub job: UnixStream,
    pub ends: MuxEnds,
}

impl MuxedSockets {
    pub(crate) fn new() -> Result<MuxedSockets, StartError> {
        let pair = || UnixStream::pair().map_err(StartError::Spawn);
        let (job, job_host) = pair()?;
        let (events, events_host) = pair()?;
        let (stdout, stdout_host) = pair()?;
        let (stderr, stderr_host) = pair()?;
        let (status, status_host) = pair()?;
        Ok(MuxedSockets {
            channel: RunnerChannel {
                job: Box::new(job),
                events: Box::new(events),
                stdout: Box::new(stdout),
                stderr: Box::new(stderr),
            },
            status,
            job: job_host,
            ends: MuxEnds::new([stdout_host, stderr_host, events_host, status_host]),
        })
    }
}

/// The host ends of a sandbox's stdout, stderr, events and status, and what has arrived of a
/// frame that is not complete yet.
pub(crate) struct MuxEnds {
    ends: [Option<UnixStream>; 4],
    pending: Vec<u8>,
    exit: Option<i32>,
    /// An OOM frame arrived: the guest's memory cgroup killed. Shared with the sandbox's
    /// process ([`MuxEnds::oom_flag`]) and set before any later frame is taken in, so that
    /// whoever sees a stream end that the kill caused sees the kill too.
    oom: Arc<AtomicBool>,
    /// Which streams have had a payload (by [`MuxStream`] tag).
    seen: Vec<u8>,
}

/// The frames cannot be read any further (an unknown tag, a payload over [`MUX_CHUNK`]).
#[derive(Debug)]
pub(crate) struct BrokenFrames;

impl MuxEnds {
    /// `ends`: stdout, stderr, events and status, in that order.
    pub(crate) fn new(ends: [UnixStream; 4]) -> MuxEnds {
        MuxEnds {
            ends: ends.map(Some),
            pending: Vec::new(),
            exit: None,
            oom: Arc::new(AtomicBool::new(false)),
            seen: Vec::new(),
        }
    }

    /// The sandbox's exit code, once its exit frame has arrived.
    pub(crate) fn exit(&self) -> Option<i32> {
        self.exit
    }

    /// Whether pid 1 said the OOM killer of the sandbox's memory cgroup acted (a microVM
    /// guest's, which the host cannot read), for the sandbox's process to answer
    /// `SandboxProcess::oom_killed`.
    pub(crate) fn oom_flag(&self) -> Arc<AtomicBool> {
        self.oom.clone()
    }

    /// Whether a payload of `stream` has arrived.
    pub(crate) fn seen(&self, stream: MuxStream) -> bool {
        self.seen.contains(&(stream as u8))
    }

    /// Bytes that are no frame of pid 1's (what an engine says pid 1 wrote on its stderr,
    /// before the sandbox exists): the sandbox's stderr.
    pub(crate) async fn raw_stderr(&mut self, bytes: &[u8]) {
        if let Some(end) = self.ends[1].as_mut() {
            let _ = end.write_all(bytes).await;
        }
    }

    /// Takes in the next bytes of the frame stream: every frame they complete goes into its
    /// stream's socket (an empty payload closes it; the exit frame is recorded).
    pub(crate) async fn push(&mut self, bytes: &[u8]) -> Result<(), BrokenFrames> {
        self.pending.extend_from_slice(bytes);
        let mut at = 0;
        let buf = std::mem::take(&mut self.pending);
        let result = loop {
            if buf.len() - at < MUX_HEADER {
                break Ok(());
            }
            let len = u32::from_be_bytes(buf[at + 1..at + 5].try_into().expect("4 bytes")) as usize;
            let Some(stream) = MuxStream::from_tag(buf[at]).filter(|_| len <= MUX_CHUNK) else {
                break Err(BrokenFrames);
            };
            if buf.len() - at < MUX_HEADER + len {
                break Ok(());
            }
            let payload = &buf[at + MUX_HEADER..at + MUX_HEADER + len];
            let index = match stream {
                MuxStream::Stdout => 0,
                MuxStream::Stderr => 1,
                MuxStream::Events => 2,
                MuxStream::Status => 3,
                MuxStream::Exit => {
                    if let Ok(b) = <[u8; 4]>::try_from(payload) {
                        self.exit = Some(i32::from_be_bytes(b));
                    }
                    at += MUX_HEADER + len;
                    continue;
                }
                MuxStream::Oom => {
                    self.oom.store(true, Ordering::Release);
                    at += MUX_HEADER + len;
                    continue;
                }
            };
            if len > 0 && !self.seen.contains(&(stream as u8)) {
                self.seen.push(stream as u8);
            }
            if len == 0 {
                self.ends[index] = None;
            } else if let Some(end) = self.ends[index].as_mut() {
                if end.write_all(payload).await.is_err() {
                    // Nobody reads this stream any more.
                    self.ends[index] = None;
                }
            }
            at += MUX_HEADER + len;
        };
        self.pending = buf;
        self.pending.drain(..at);
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    fn frame(stream: MuxStream, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![stream as u8];
        f.extend((payload.len() as u32).to_be_bytes());
        f.extend(payload);
        f
    }

    #[tokio::test]
    async fn frames_split_anywhere_reach_their_streams_and_the_exit_code_and_oom_are_kept() {
        let pairs: Vec<(UnixStream, UnixStream)> =
            (0..4).map(|_| UnixStream::pair().unwrap()).collect();
        let (host, mut readers): (Vec<_>, Vec<_>) = pairs.into_iter().unzip();
        let mut mux = MuxEnds::new(host.try_into().unwrap());
        let mut wire = frame(MuxStream::Stdout, b"out");
        let oom = mux.oom_flag();
        assert!(!oom.load(Ordering::Acquire));
        wire.extend(frame(MuxStream::Events, b"ev"));
        wire.extend(frame(MuxStream::Stdout, b""));
        wire.extend(frame(MuxStream::Oom, &1u64.to_be_bytes()));
        wire.extend(frame(MuxStream::Exit, &7i32.to_be_bytes()));
        // One byte at a time: every header and payload split.
        for b in &wire {
            mux.push(std::slice::from_ref(b)).await.unwrap();
        }
        assert_eq!(mux.exit(), Some(7));
        assert!(oom.load(Ordering::Acquire));
        assert!(mux.seen(MuxStream::Events) && !mux.seen(MuxStream::Stderr));
        let mut out = Vec::new();
        readers[0].read_to_end(&mut out).await.unwrap();
        assert_eq!(out, b"out", "stdout ended by its empty frame");
        let mut ev = [0u8; 2];
        readers[2].read_exact(&mut ev).await.unwrap();
        assert_eq!(&ev, b"ev");
        assert!(
            mux.push(&[3, 0, 0, 0, 0]).await.is_err(),
            "tag 3 is no stream"
        );
    }
}
