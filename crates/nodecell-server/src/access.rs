//! Request ids and access lines, one layer for both transports: every request gets an id (the
//! caller's `x-request-id` when it is a sane one, a fresh UUID otherwise), returned in the
//! `x-request-id` response header (gRPC: response metadata) and in run outcomes; every log line
//! written while the request is served carries it (a `request` span); and when the response
//! has been sent, or the request was abandoned, one access line says what happened
//! (target `nodecell::access`: at info, health checks and scrapes at debug).

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;

use axum::http::{HeaderMap, HeaderValue, Request, Response};
use tracing::Instrument;

use crate::activity::ConnInfo;

/// The header (and gRPC metadata key) carrying a request's id, both ways.
pub const REQUEST_ID_HEADER: &str = "x-request-id";
/// The longest id taken from a caller; a longer one is replaced.
pub const MAX_REQUEST_ID_LEN: usize = 128;

/// What a request is known by, and what its run came to: a request extension on both
/// transports, filled by the handlers, read by the access line.
#[derive(Debug)]
pub struct RequestContext {
    pub id: String,
    run: Mutex<Option<RunNote>>,
}

/// A run's status and backend (for a batch: the first status that is not ok, else ok, and the
/// number of runs).
#[derive(Clone, Debug, PartialEq)]
struct RunNote {
    status: String,
    backend: String,
    runs: usize,
}

impl RequestContext {
    fn new(id: String) -> Self {
        RequestContext {
            id,
            run: Mutex::new(None),
        }
    }

    /// Notes the outcome of the request's run for its access line.
    pub fn note_run(&self, outcome: &nodecell::Outcome) {
        self.note_runs(std::slice::from_ref(outcome));
    }

    /// Notes the outcomes of the request's runs (a batch) for its access line.
    pub fn note_runs(&self, outcomes: &[nodecell::Outcome]) {
        let Some(first) = outcomes.first() else {
            return;
        };
        let worst = outcomes
            .iter()
            .find(|o| o.status != nodecell::Status::Ok)
            .unwrap_or(first);
        let note = RunNote {
            status: worst.status.as_str().to_string(),
            backend: first.backend.clone(),
            runs: outcomes.len(),
        };
        *self.run.lock().unwrap_or_else(|e| e.into_inner()) = Some(note);
    }
}

/// `run`'s outcome stamped with the request's id and noted for its access line.
pub async fn stamped(
    context: Option<Arc<RequestContext>>,
    run: impl std::future::Future<Output = Result<nodecell::Outcome, crate::error::ApiError>>,
) -> Result<nodecell::Outcome, crate::error::ApiError> {
    let mut outcome = run.await?;
    if let Some(c) = context {
        c.note_run(&outcome);
        outcome.request_id = Some(c.id.clone());
    }
    Ok(outcome)
}

/// A batch's outcomes stamped with the request's id (the batch's and each item's) and noted.
pub fn stamp_batch(context: Option<&RequestContext>, batch: &mut nodecell::BatchOutcome) {
    let Some(c) = context else { return };
    c.note_runs(&batch.outcomes);
    batch.request_id = Some(c.id.clone());
    for o in &mut batch.outcomes {
        o.request_id = Some(c.id.clone());
    }
}

/// The request's context, as its handler finds it (absent only for a handler called without
/// the layer).
pub fn context(extensions: &axum::http::Extensions) -> Option<Arc<RequestContext>> {
    extensions.get::<Arc<RequestContext>>().cloned()
}

/// The request's id, as its handler finds it (absent only for a handler called without the
/// layer).
pub fn request_id(extensions: &axum::http::Extensions) -> Option<String> {
    extensions
        .get::<Arc<RequestContext>>()
        .map(|c| c.id.clone())
}

/// The caller's id if it is 1 to [`MAX_REQUEST_ID_LEN`] visible ASCII characters (what can be
/// logged and echoed as a header unchanged), else a new random UUID.
pub fn id_for(headers: &HeaderMap) -> String {
    headers
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            (1..=MAX_REQUEST_ID_LEN).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_graphic())
        })
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}

/// The layer, for one transport (`http` or `grpc`, written in its access lines).
#[derive(Clone, Copy)]
pub struct AccessLayer {
    pub transport: &'static str,
}

impl<S> tower::Layer<S> for AccessLayer {
    type Service = AccessService<S>;

    fn layer(&self, inner: S) -> AccessService<S> {
        AccessService {
            inner,
            transport: self.transport,
        }
    }
}

#[derive(Clone)]
pub struct AccessService<S> {
    inner: S,
    transport: &'static str,
}

impl<S, ReqBody, ResBody> tower::Service<Request<ReqBody>> for AccessService<S>
where
    S: tower::Service<Request<ReqBody>, Response = Response<ResBody>>,
    S::Future: Send + 'static,
    ResBody: http_body::Body,
{
    type Response = Response<Logged<ResBody>>;
    type Error = S::Error;
    type Future =
        Pin<Box<dyn std::future::Future<Output = Result<Self::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqBody>) -> Self::Future {
        let context = Arc::new(RequestContext::new(id_for(req.headers())));
        req.extensions_mut().insert(context.clone());
        let mut line = AccessLine {
            transport: self.transport,
            method: req.method().to_string(),
            path: req.uri().path().to_string(),
            peer: req.extensions().get::<ConnInfo>().map(|c| c.peer),
            context,
            start: Instant::now(),
            status: None,
            grpc_status: None,
            bytes: 0,
            complete: false,
        };
        let span = tracing::info_span!("request", id = %line.context.id);
        let call = self.inner.call(req).instrument(span);
        Box::pin(async move {
            let mut resp = call.await?;
            let id = HeaderValue::from_str(&line.context.id).expect("ids are visible ASCII");
            resp.headers_mut().insert(REQUEST_ID_HEADER, id);
            line.status = Some(resp.status().as_u16());
            line.grpc_status = grpc_status(resp.headers());
            Ok(resp.map(|body| {
                // An empty body (a gRPC error, a 405) is never polled: it is complete as it is.
                line.complete = body.is_end_stream();
                Logged { inner: body, line }
            }))
        })
    }
}

fn grpc_status(headers: &HeaderMap) -> Option<String> {
    Some(headers.get("grpc-status")?.to_str().ok()?.to_string())
}

/// One request's access line, written when it drops: with its response body (sent or not), or
/// with the request's future when the request was abandoned before a response.
struct AccessLine {
    transport: &'static str,
    method: String,
    path: String,
    peer: Option<std::net::SocketAddr>,
    context: Arc<RequestContext>,
    start: Instant,
    status: Option<u16>,
    grpc_status: Option<String>,
    bytes: u64,
    complete: bool,
}

impl AccessLine {
    /// Probes and scrapes, which come every few seconds, are written at debug.
    fn routine(&self) -> bool {
        matches!(
            self.path.as_str(),
            "/healthz" | "/readyz" | "/metrics" | "/grpc.health.v1.Health/Check"
        )
    }
}

impl Drop for AccessLine {
    fn drop(&mut self) {
        let run = self
            .context
            .run
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        let (run_status, backend, runs) = match &run {
            Some(r) => (r.status.as_str(), r.backend.as_str(), r.runs),
            None => ("", "", 0),
        };
        let ms = (self.start.elapsed().as_secs_f64() * 1e4).round() / 10.0;
        let peer = self.peer.map(|p| p.to_string()).unwrap_or_default();
        let status = self.status.unwrap_or(0);
        let grpc_status = self.grpc_status.as_deref().unwrap_or("");
        macro_rules! line {
            ($level:ident) => {
                tracing::$level!(
                    target: "nodecell::access",
                    request_id = %self.context.id,
                    transport = self.transport,
                    peer = %peer,
                    method = %self.method,
                    path = %self.path,
                    status,
                    grpc_status,
                    run_status,
                    backend,
                    runs,
                    ms,
                    bytes = self.bytes,
                    complete = self.complete,
                    "{} {} {}", self.method, self.path, status
                )
            };
        }
        if self.routine() {
            line!(debug);
        } else {
            line!(info);
        }
    }
}

/// A response body that writes its request's access line when it ends or is dropped, with the
/// bytes sent and (gRPC) the status from its trailers.
pub struct Logged<B> {
    inner: B,
    line: AccessLine,
}

impl<B: http_body::Body + Unpin> http_body::Body for Logged<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        use bytes::Buf;
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.line.bytes += data.remaining() as u64;
                }
                if let Some(status) = frame.trailers_ref().and_then(grpc_status) {
                    this.line.grpc_status = Some(status);
                }
            }
            Poll::Ready(None) => this.line.complete = true,
            _ => {}
        }
        if this.inner.is_end_stream() {
            this.line.complete = true;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}
