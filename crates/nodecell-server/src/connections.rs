//! The one accept loop of both listeners (HTTP and gRPC): connections are counted against
//! `max_connections` and `max_connections_per_peer` (HTTP and gRPC together) while they are
//! open, one past a cap is closed as soon as it is accepted, and every connection admitted is
//! a [`Conn`] that closes itself when it overstays the header or idle timeout (see
//! [`crate::activity`]).

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{ready, Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{Instant, Sleep};

use crate::activity::{Activity, ConnInfo, Timeouts};
use crate::config::ServerConfig;

/// After an accept error (out of file descriptors, say), the listener waits this long before it
/// accepts again, instead of spinning.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// The connections open now, HTTP and gRPC together, against their caps.
pub struct Connections {
    max_total: usize,
    max_per_peer: usize,
    timeouts: Timeouts,
    open: Mutex<Open>,
}

#[derive(Default)]
struct Open {
    total: usize,
    per_peer: HashMap<IpAddr, usize>,
}

impl Connections {
    pub fn new(config: &ServerConfig) -> Arc<Connections> {
        Arc::new(Connections {
            max_total: config.max_connections,
            max_per_peer: config.max_connections_per_peer,
            timeouts: Timeouts {
                header: Duration::from_millis(config.header_timeout_ms),
                idle: Duration::from_millis(config.idle_timeout_ms),
            },
            open: Mutex::new(Open::default()),
        })
    }

    /// The header and idle timeouts of every connection.
    pub fn timeouts(&self) -> Timeouts {
        self.timeouts
    }

    /// Connections open now (all of them, and those from `peer`).
    pub fn open(&self, peer: IpAddr) -> (usize, usize) {
        let open = self.lock();
        (open.total, open.per_peer.get(&peer).copied().unwrap_or(0))
    }

    /// A place for a connection from `peer`, or `None` past a cap.
    fn admit(self: &Arc<Self>, peer: IpAddr) -> Option<Slot> {
        let mut open = self.lock();
        let from_peer = open.per_peer.get(&peer).copied().unwrap_or(0);
        if open.total >= self.max_total || from_peer >= self.max_per_peer {
            return None;
        }
        open.total += 1;
        open.per_peer.insert(peer, from_peer + 1);
        Some(Slot {
            connections: self.clone(),
            peer,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Open> {
        // Every change under the lock is one step: a panic elsewhere leaves the counts right.
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// One counted connection; the count goes down when the connection is dropped.
struct Slot {
    connections: Arc<Connections>,
    peer: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.connections.lock();
        open.total -= 1;
        if let Some(n) = open.per_peer.get_mut(&self.peer) {
            *n -= 1;
            if *n == 0 {
                open.per_peer.remove(&self.peer);
            }
        }
    }
}

/// The connections of a listener that are within the caps, as a stream (what tonic serves;
/// the HTTP loop takes them one by one). Accept errors are logged, never the end of it.
pub struct Incoming {
    listener: TcpListener,
    connections: Arc<Connections>,
    backoff: Option<Pin<Box<Sleep>>>,
}

impl Incoming {
    pub fn new(listener: TcpListener, connections: Arc<Connections>) -> Incoming {
        Incoming {
            listener,
            connections,
            backoff: None,
        }
    }
}

impl tokio_stream::Stream for Incoming {
    type Item = io::Result<Conn>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            if let Some(backoff) = self.backoff.as_mut() {
                ready!(backoff.as_mut().poll(cx));
                self.backoff = None;
            }
            match ready!(self.listener.poll_accept(cx)) {
                Ok((io, peer)) => match self.connections.admit(peer.ip()) {
                    Some(slot) => {
                        // Small writes go out at once (Nagle's algorithm against the peer's
                        // delayed ACK held each host call's event ~40 ms).
                        if let Err(e) = io.set_nodelay(true) {
                            tracing::debug!(%peer, "setting TCP_NODELAY: {e}");
                        }
                        return Poll::Ready(Some(Ok(Conn::new(io, peer, slot))));
                    }
                    None => {
                        // Dropping it closes it: no fd, no task, no timer is kept for it.
                        tracing::debug!(%peer, "connection refused: over the connection cap");
                        metrics::counter!(crate::telemetry::CONNECTIONS_REFUSED).increment(1);
                    }
                },
                Err(e) => {
                    tracing::warn!("accepting a connection: {e}");
                    self.backoff = Some(Box::pin(tokio::time::sleep(ACCEPT_BACKOFF)));
                }
            }
        }
    }
}

/// An admitted connection: the socket, its place under the caps, and the timer that closes
/// it when it overstays (checked whenever a read or a write has to wait: a connection's
/// reads are always pending while it waits for a request).
pub struct Conn {
    io: TcpStream,
    info: ConnInfo,
    timer: Pin<Box<Sleep>>,
    /// The deadline `timer` is set for.
    armed: Instant,
    _slot: Slot,
}

impl Conn {
    fn new(io: TcpStream, peer: SocketAddr, slot: Slot) -> Conn {
        let activity = Arc::new(Activity::new(slot.connections.timeouts));
        let now = Instant::now();
        Conn {
            io,
            info: ConnInfo { peer, activity },
            timer: Box::pin(tokio::time::sleep_until(now)),
            armed: now,
            _slot: slot,
        }
    }

    /// The socket (for a watcher of its own on a duplicate of it).
    pub fn tcp(&self) -> &TcpStream {
        &self.io
    }

    /// What the connection's requests know of it.
    pub fn info(&self) -> ConnInfo {
        self.info.clone()
    }

    /// An error when the connection has overstayed; else the timer is armed for when it would.
    fn check(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        loop {
            let now = Instant::now();
            let deadline = match self.info.activity.deadline() {
                Some(d) if d.at <= now => {
                    return Err(io::Error::new(io::ErrorKind::TimedOut, d.why))
                }
                Some(d) => d.at,
                // A request is in progress: look again later.
                None => now + self.info.activity.timeouts().idle,
            };
            if deadline != self.armed {
                self.timer.as_mut().reset(deadline);
                self.armed = deadline;
            }
            if self.timer.as_mut().poll(cx).is_pending() {
                return Ok(());
            }
        }
    }
}

impl tonic::transport::server::Connected for Conn {
    type ConnectInfo = ConnInfo;

    fn connect_info(&self) -> ConnInfo {
        self.info.clone()
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.io).poll_read(cx, buf) {
            Poll::Pending => match self.check(cx) {
                Ok(()) => Poll::Pending,
                Err(e) => Poll::Ready(Err(e)),
            },
            Poll::Ready(Ok(())) => {
                self.info.activity.received(&buf.filled()[before..]);
                Poll::Ready(Ok(()))
            }
            ready => ready,
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.io).poll_write(cx, buf) {
            Poll::Pending => self
                .check(cx)
                .map_or_else(|e| Poll::Ready(Err(e)), |()| Poll::Pending),
            ready => ready,
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match Pin::new(&mut self.io).poll_flush(cx) {
            Poll::Pending => self
                .check(cx)
                .map_or_else(|e| Poll::Ready(Err(e)), |()| Poll::Pending),
            ready => ready,
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.io).poll_write_vectored(cx, bufs) {
            Poll::Pending => self
                .check(cx)
                .map_or_else(|e| Poll::Ready(Err(e)), |()| Poll::Pending),
            ready => ready,
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connections(max_total: usize, max_per_peer: usize) -> Arc<Connections> {
        Connections::new(&ServerConfig {
            max_connections: max_total,
            max_connections_per_peer: max_per_peer,
            ..ServerConfig::default()
        })
    }

    #[test]
    fn caps_hold_per_peer_and_in_total_and_places_come_back() {
        let c = connections(3, 2);
        let (a, b, d): (IpAddr, IpAddr, IpAddr) = (
            "10.0.0.1".parse().unwrap(),
            "10.0.0.2".parse().unwrap(),
            "10.0.0.3".parse().unwrap(),
        );
        let a1 = c.admit(a).unwrap();
        let _a2 = c.admit(a).unwrap();
        assert!(c.admit(a).is_none(), "a third from one peer");
        let _b1 = c.admit(b).unwrap();
        assert!(c.admit(d).is_none(), "a fourth in all");
        drop(a1);
        assert_eq!(c.open(a), (2, 1));
        let _d1 = c.admit(d).expect("a place came back");
        assert_eq!(c.open(d), (3, 1));
    }
}
