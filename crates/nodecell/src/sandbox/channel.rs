//! The runner channel: four byte streams between the host and the runner (the job in, events
//! out, and the code's stdout and stderr), whatever carries them: pipes for a sandbox the host
//! spawned, a unix socket or a vsock for a runner further away. The framing and its caps are
//! the same on every carrier (`crate::protocol`).

use std::os::fd::AsFd;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio::sync::mpsc;

use crate::error::StartError;
use crate::host_call::HostCall;
use crate::outcome::LogEntry;
use crate::protocol::{self, FrameError, RunnerEvent, RunnerResult};

/// A stream the host reads from: async, and a file descriptor so that what is buffered can be
/// read without waiting (pipes, unix sockets, vsock).
pub(crate) trait ReadHalf: AsyncRead + AsFd + Send + Unpin {}
impl<T: AsyncRead + AsFd + Send + Unpin> ReadHalf for T {}

/// A stream the host writes to.
pub(crate) trait WriteHalf: AsyncWrite + Send + Unpin {}
impl<T: AsyncWrite + Send + Unpin> WriteHalf for T {}

/// The host's ends of the runner channel.
pub(crate) struct RunnerChannel {
    /// The job frame goes here (the runner's fd 3).
    pub job: Box<dyn WriteHalf>,
    /// Log and result frames come from here (the runner's fd 4).
    pub events: Box<dyn ReadHalf>,
    pub stdout: Box<dyn ReadHalf>,
    pub stderr: Box<dyn ReadHalf>,
}

/// Reads everything until EOF, or a little past `cap` (bounded by the caller's timeout).
pub(crate) async fn read_to_end_capped<R: AsyncRead + Unpin + ?Sized>(
    r: &mut R,
    cap: usize,
) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = r.read(&mut buf).await {
        if n == 0 || out.len() > cap {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    out
}

/// The runner's ready frame (with its stderr as the explanation if something else comes).
pub(crate) async fn ready_frame(
    events: &mut Box<dyn ReadHalf>,
    stderr: &mut Box<dyn ReadHalf>,
) -> Result<(), StartError> {
    match protocol::read_event(events, 4096).await {
        Ok(Some(RunnerEvent::Ready)) => Ok(()),
        Ok(other) => {
            let err = read_to_end_capped(stderr, 4096).await;
            Err(StartError::NotReady(format!(
                "expected the runner's ready frame, got {other:?}; stderr: {}",
                String::from_utf8_lossy(&err).trim()
            )))
        }
        Err(e) => Err(StartError::NotReady(format!("runner channel: {e}"))),
    }
}

/// Reads what is buffered in a (non-blocking) stream right now, without waiting; `keep`
/// returns false once the output budget is exceeded, which stops the read and is returned.
pub(crate) fn drain_buffered(
    stream: &impl AsFd,
    buf: &mut [u8],
    mut keep: impl FnMut(&[u8]) -> bool,
) -> bool {
    loop {
        match nix::unistd::read(stream.as_fd(), buf) {
            Ok(0) => return true,
            Ok(n) => {
                if !keep(&buf[..n]) {
                    return false;
                }
            }
            Err(nix::errno::Errno::EINTR) => continue,
            // EAGAIN: nothing more is buffered; anything else: nothing more can be read.
            Err(_) => return true,
        }
    }
}

/// What the event reader passes on.
#[derive(Debug)]
pub enum Read {
    Log(LogEntry),
    /// A host call carrying this run's nonce, and the size of its frame.
    Call(HostCall, usize),
    /// The result carrying this run's nonce, and the size of its frame.
    Result(RunnerResult, usize),
    /// A well-framed frame the host does not accept, of this many bytes.
    Ignored(usize),
    /// End of stream between frames.
    Closed,
    /// The framing itself is broken (a length over the cap, a cut frame, an i/o error).
    Broken(FrameError),
}

/// Reads the event stream until the real result, the end, or broken framing. Runs as a task
/// of its own: reading a frame is not cancel-safe. Any byte stream will do (the fuzz target
/// `runner_frame` drives it from a slice).
pub async fn read_events<R: AsyncRead + Unpin>(
    mut events: R,
    cap: u64,
    nonce: String,
    tx: mpsc::Sender<Read>,
) {
    loop {
        let read = match protocol::read_frame(&mut events, cap).await {
            Ok(None) => Read::Closed,
            Err(e) => Read::Broken(e),
            Ok(Some(body)) => match RunnerEvent::from_frame(&body) {
                Ok(RunnerEvent::Log { level, message }) => Read::Log(LogEntry { level, message }),
                Ok(RunnerEvent::Result(r)) if r.nonce() == nonce => Read::Result(r, body.len()),
                Ok(RunnerEvent::Call {
                    nonce: n,
                    id,
                    name,
                    args,
                }) if n == nonce => Read::Call(HostCall { id, name, args }, body.len()),
                Ok(_) | Err(_) => Read::Ignored(body.len()),
            },
        };
        let last = matches!(read, Read::Result(..) | Read::Closed | Read::Broken(_));
        if tx.send(read).await.is_err() || last {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    /// The same framing and caps over a unix socket as over pipes: a forged result or call
    /// (another nonce) is ignored, a call with the run's nonce is passed on, the real one ends the stream, and a frame over the cap is broken
    /// framing.
    #[tokio::test]
    async fn events_are_read_the_same_over_a_unix_socket() {
        let (host, mut runner) = tokio::net::UnixStream::pair().unwrap();
        let frames = [
            r#"{"type":"log","level":"log","message":"hi"}"#.to_string(),
            r#"{"type":"result","status":"ok","nonce":"forged","result":1}"#.to_string(),
            r#"{"type":"call","nonce":"forged","id":1,"name":"f","args":[]}"#.to_string(),
            r#"{"type":"call","nonce":"n1","id":1,"name":"f","args":[1]}"#.to_string(),
            r#"{"type":"result","status":"ok","nonce":"n1","result":2}"#.to_string(),
        ];
        for f in &frames {
            runner
                .write_all(&protocol::encode_frame(f.as_bytes()))
                .await
                .unwrap();
        }
        let (tx, mut rx) = mpsc::channel(8);
        read_events(Box::new(host), 4096, "n1".into(), tx).await;
        assert!(matches!(rx.recv().await, Some(Read::Log(l)) if l.message == "hi"));
        assert!(matches!(rx.recv().await, Some(Read::Ignored(_))));
        assert!(matches!(rx.recv().await, Some(Read::Ignored(_))));
        assert!(
            matches!(rx.recv().await, Some(Read::Call(c, _)) if c.id == 1 && c.name == "f" && c.args.get() == "[1]")
        );
        assert!(
            matches!(rx.recv().await, Some(Read::Result(r, len)) if r.nonce() == "n1" && len == frames[4].len())
        );

        let (host, mut runner) = tokio::net::UnixStream::pair().unwrap();
        runner
            .write_all(&protocol::encode_frame(&[b' '; 100]))
            .await
            .unwrap();
        let (tx, mut rx) = mpsc::channel(8);
        read_events(Box::new(host), 10, "n1".into(), tx).await;
        assert!(matches!(rx.recv().await, Some(Read::Broken(_))));
    }

    /// What is buffered is read without waiting, from a socket as from a pipe.
    #[tokio::test]
    async fn buffered_output_is_drained_without_waiting() {
        let (host, mut runner) = tokio::net::UnixStream::pair().unwrap();
        runner.write_all(b"abc").await.unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 2];
        assert!(drain_buffered(&host, &mut buf, |b| {
            got.extend_from_slice(b);
            true
        }));
        assert_eq!(got, b"abc");
    }
}
