//! When a connection has overstayed: what it is doing (waiting for a request's header, idle
//! between requests, or serving requests), as both transports report it. A connection is
//! *busy* while a request of it is in progress, from the moment its header has been read
//! until its response body has been sent (or dropped); it is never closed for time then (a run
//! may take as long as its limits allow). Otherwise:
//!
//! - it must send a request's header within `header_timeout` of its first byte (and its very
//!   first request within `header_timeout` of being accepted), so that a client trickling a
//!   header ("Slowloris") or saying nothing at all is closed;
//! - HTTP/2 connections (gRPC's included) are exempt from the header rule once their preface has
//!   arrived (pings and settings flow while they idle; HTTP/2 keepalive pings find dead peers);
//! - and it may stay idle `idle_timeout` at most after its last request ended.

use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::Instant;

/// The first bytes of every HTTP/2 connection.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// A request's header, from its first byte (the first request's: from the accept).
    pub header: Duration,
    /// No request in progress, from the end of the last one.
    pub idle: Duration,
}

/// When a connection is to be closed, and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Deadline {
    pub at: Instant,
    pub why: &'static str,
}

/// One connection's state, shared by its socket (which closes itself at the deadline) and
/// its requests (which report when they begin and end).
pub struct Activity {
    timeouts: Timeouts,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    /// Requests in progress.
    busy: usize,
    /// Since when the connection has had no request in progress.
    idle_since: Instant,
    /// Since when a request's header has been awaited with part of it received (or, for the
    /// first request, since the accept).
    header_since: Option<Instant>,
    /// How many of the first bytes matched HTTP/2's preface, while that is undecided.
    preface: Preface,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Preface {
    /// This many bytes of the preface matched so far.
    Matching(usize),
    Http2,
    Http1,
}

impl Activity {
    pub fn new(timeouts: Timeouts) -> Activity {
        let now = Instant::now();
        Activity {
            timeouts,
            state: Mutex::new(State {
                busy: 0,
                idle_since: now,
                header_since: Some(now),
                preface: Preface::Matching(0),
            }),
        }
    }

    pub fn timeouts(&self) -> Timeouts {
        self.timeouts
    }

    /// When the connection is to be closed; `None` while a request is in progress.
    pub fn deadline(&self) -> Option<Deadline> {
        let s = self.lock();
        if s.busy > 0 {
            return None;
        }
        let idle = Deadline {
            at: s.idle_since + self.timeouts.idle,
            why: "the connection was idle for idle_timeout_ms",
        };
        let header = s.header_since.map(|t| Deadline {
            at: t + self.timeouts.header,
            why: "no complete request header within header_timeout_ms",
        });
        Some(header.filter(|h| h.at < idle.at).unwrap_or(idle))
    }

    /// Bytes arrived on the connection.
    pub fn received(&self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        let mut s = self.lock();
        if let Preface::Matching(n) = s.preface {
            let take = bytes.len().min(H2_PREFACE.len() - n);
            s.preface = if bytes[..take] != H2_PREFACE[n..n + take] {
                Preface::Http1
            } else if n + take == H2_PREFACE.len() {
                s.header_since = None;
                Preface::Http2
            } else {
                Preface::Matching(n + take)
            };
        }
        if s.busy == 0 && s.header_since.is_none() && s.preface != Preface::Http2 {
            s.header_since = Some(Instant::now());
        }
    }

    /// The connection speaks HTTP/2, as TLS's ALPN agreed (its preface then comes encrypted,
    /// where [`Activity::received`], which sees the bytes on the wire, cannot find it).
    pub fn set_http2(&self) {
        let mut s = self.lock();
        s.preface = Preface::Http2;
        s.header_since = None;
    }

    /// A request's header has been read: the connection is busy until the guard drops.
    pub fn begin(self: &Arc<Self>) -> RequestGuard {
        let mut s = self.lock();
        s.busy += 1;
        s.header_since = None;
        RequestGuard(self.clone())
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Each change under the lock is one step: a panic elsewhere leaves the state whole.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A request in progress; the connection is idle again when the last one drops.
pub struct RequestGuard(Arc<Activity>);

impl Drop for RequestGuard {
    fn drop(&mut self) {
        let mut s = self.0.lock();
        s.busy -= 1;
        if s.busy == 0 {
            s.idle_since = Instant::now();
        }
    }
}

/// What a request knows of its connection (a request extension on both transports).
#[derive(Clone)]
pub struct ConnInfo {
    pub peer: std::net::SocketAddr,
    pub activity: Arc<Activity>,
}

/// A response body that keeps its request in progress until it has been sent or dropped.
pub struct Tracked<B> {
    inner: B,
    _request: Option<RequestGuard>,
}

impl<B> Tracked<B> {
    pub fn new(inner: B, request: Option<RequestGuard>) -> Tracked<B> {
        Tracked {
            inner,
            _request: request,
        }
    }
}

impl<B: http_body::Body + Unpin> http_body::Body for Tracked<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// Marks each request of a connection (found by its [`ConnInfo`] extension) in progress until
/// its response body is done: the layer of the gRPC server.
#[derive(Clone, Copy, Default)]
pub struct TrackLayer;

impl<S> tower::Layer<S> for TrackLayer {
    type Service = TrackService<S>;

    fn layer(&self, inner: S) -> TrackService<S> {
        TrackService(inner)
    }
}

#[derive(Clone)]
pub struct TrackService<S>(S);

impl<S, Req, ResBody> tower::Service<axum::http::Request<Req>> for TrackService<S>
where
    S: tower::Service<axum::http::Request<Req>, Response = axum::http::Response<ResBody>>,
    S::Future: Send + 'static,
{
    type Response = axum::http::Response<Tracked<ResBody>>;
    type Error = S::Error;
    type Future =
        Pin<Box<dyn std::future::Future<Output = Result<Self::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, req: axum::http::Request<Req>) -> Self::Future {
        let guard = req
            .extensions()
            .get::<ConnInfo>()
            .map(|info| info.activity.begin());
        let call = self.0.call(req);
        Box::pin(async move {
            let resp = call.await?;
            Ok(resp.map(|body| Tracked::new(body, guard)))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn activity() -> Arc<Activity> {
        Arc::new(Activity::new(Timeouts {
            header: Duration::from_secs(10),
            idle: Duration::from_secs(60),
        }))
    }

    #[tokio::test(start_paused = true)]
    async fn the_first_header_is_due_header_timeout_after_the_accept() {
        let a = activity();
        let t0 = Instant::now();
        let d = a.deadline().unwrap();
        assert_eq!(d.at, t0 + Duration::from_secs(10));
        assert!(d.why.contains("header_timeout_ms"));
        a.received(b"GET / HT");
        assert_eq!(a.deadline().unwrap().at, t0 + Duration::from_secs(10));
    }

    #[tokio::test(start_paused = true)]
    async fn busy_then_idle_then_a_header_trickles_in() {
        let a = activity();
        a.received(b"GET / HTTP/1.1\r\n\r\n");
        let request = a.begin();
        assert_eq!(
            a.deadline(),
            None,
            "never closed while a request is in progress"
        );
        tokio::time::advance(Duration::from_secs(100)).await;
        drop(request);
        let t1 = Instant::now();
        let d = a.deadline().unwrap();
        assert_eq!(d.at, t1 + Duration::from_secs(60));
        assert!(d.why.contains("idle_timeout_ms"));
        tokio::time::advance(Duration::from_secs(5)).await;
        a.received(b"G");
        assert_eq!(
            a.deadline().unwrap().at,
            t1 + Duration::from_secs(15),
            "the next header is due header_timeout after its first byte"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn http2_is_held_to_the_idle_timeout_only() {
        let a = activity();
        let t0 = Instant::now();
        a.received(&H2_PREFACE[..10]);
        a.received(&H2_PREFACE[10..]);
        a.received(b"\0\0\0\x04\0\0\0\0\0");
        assert_eq!(a.deadline().unwrap().at, t0 + Duration::from_secs(60));
        let other = activity();
        other.received(b"PRI * HTTP/1.1\r\n");
        assert_eq!(
            other.deadline().unwrap().at,
            t0 + Duration::from_secs(10),
            "not the preface: HTTP/1"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn http2_by_tls_alpn_is_held_to_the_idle_timeout_only() {
        // Under TLS the bytes on the wire are a handshake, then ciphertext: never the preface.
        let a = activity();
        a.received(b"\x16\x03\x01\x02\x00");
        a.set_http2();
        let t0 = Instant::now();
        let request = a.begin();
        drop(request);
        tokio::time::advance(Duration::from_secs(30)).await;
        a.received(b"\x17\x03\x03\x00\x20 an encrypted ping");
        assert_eq!(
            a.deadline().unwrap().at,
            t0 + Duration::from_secs(60),
            "bytes of an idle HTTP/2 connection start no header timer"
        );
    }
}
