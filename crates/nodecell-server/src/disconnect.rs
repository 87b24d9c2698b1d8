//! Noticing that an HTTP client went away while its run is in progress (hyper does not look
//! at the socket while a response is pending). Each connection gets a watcher on a duplicate
//! of its socket that waits for end-of-stream; the execute handler drops its run (which kills
//! the sandbox) when that happens.

use std::os::fd::AsFd;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::sync::watch;

/// Per-connection: whether the peer has closed its side.
#[derive(Clone)]
pub struct ConnectionWatch {
    closed: watch::Receiver<bool>,
    _stop: Arc<StopWatcher>,
}

/// Stops the watcher (and closes its duplicate of the socket) once the connection and every
/// request of it are gone, so that the duplicate never keeps a connection open.
struct StopWatcher(Option<tokio::sync::oneshot::Sender<()>>);

impl Drop for StopWatcher {
    fn drop(&mut self) {
        if let Some(tx) = self.0.take() {
            let _ = tx.send(());
        }
    }
}

impl ConnectionWatch {
    /// Resolves when the client has gone away (never, if it cannot be watched).
    pub async fn closed(&self) {
        let mut rx = self.closed.clone();
        if rx.wait_for(|c| *c).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

impl ConnectionWatch {
    /// Watches `stream` (through a duplicate of its socket) until every clone of the watch is
    /// dropped.
    pub fn new(stream: &TcpStream) -> Self {
        let (tx, closed) = watch::channel(false);
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let dup = stream
            .as_fd()
            .try_clone_to_owned()
            .map(std::net::TcpStream::from)
            .and_then(|s| {
                s.set_nonblocking(true)?;
                TcpStream::from_std(s)
            });
        if let Ok(dup) = dup {
            tokio::spawn(async move {
                tokio::select! {
                    _ = stopped => {}
                    _ = watch_eof(&dup) => { let _ = tx.send(true); }
                }
            });
        }
        ConnectionWatch {
            closed,
            _stop: Arc::new(StopWatcher(Some(stop))),
        }
    }
}

/// Resolves when the peer has closed the connection (EOF or an error), without consuming
/// anything hyper has yet to read.
async fn watch_eof(s: &TcpStream) {
    let mut byte = [0u8; 1];
    loop {
        if s.readable().await.is_err() {
            return;
        }
        match s.peek(&mut byte).await {
            Ok(0) | Err(_) => return,
            // Data hyper has not read yet, after which the peer closed its side (TLS's
            // close_notify, then FIN): gone.
            Ok(_) if peer_hung_up(s) => return,
            // Pipelined data hyper has not read yet: look again a little later.
            Ok(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

/// Whether the peer has shut down its side (POLLRDHUP), whatever data is still unread.
fn peer_hung_up(s: &TcpStream) -> bool {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    // nix names no POLLRDHUP; the kernel's bit is libc's.
    let rdhup = PollFlags::from_bits_retain(libc::POLLRDHUP);
    let gone = rdhup | PollFlags::POLLHUP | PollFlags::POLLERR;
    let mut fds = [PollFd::new(s.as_fd(), rdhup)];
    matches!(poll(&mut fds, PollTimeout::ZERO), Ok(n) if n > 0)
        && fds[0].revents().is_some_and(|r| r.intersects(gone))
}
