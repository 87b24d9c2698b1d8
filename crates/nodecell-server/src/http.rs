//! The HTTP API (axum): thin, over [`AppState`]. `router(state)` serves tests without a socket;
//! [`serve`] serves it on a listener through [`crate::connections`] (caps and timeouts).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};

use crate::access::{self, AccessLayer};
use crate::activity::{ConnInfo, Tracked};
use crate::admission;
use crate::connections::Incoming;
use crate::disconnect::ConnectionWatch;
use crate::error::{ApiError, ErrorCode};
use crate::shares::Client;
use crate::state::AppState;
use crate::tls::{Listener, MaybeTls, Tls};

/// HTTP/2 (both listeners): a ping this often on a connection, and the connection closed when
/// its answer does not come within [`H2_KEEPALIVE_TIMEOUT`].
pub const H2_KEEPALIVE_INTERVAL: Duration = Duration::from_secs(30);
pub const H2_KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(10);
/// HTTP/2 (both listeners): requests in progress at once on one connection.
pub const H2_MAX_CONCURRENT_STREAMS: u32 = 64;

/// Serves the API on `listener` until `shutdown` completes; then connections finish the
/// requests they have begun (the caller bounds how long that may take).
pub async fn serve(
    state: Arc<AppState>,
    listener: tokio::net::TcpListener,
    tls: Option<Arc<Tls>>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    use tokio_stream::StreamExt;
    let mut incoming = Incoming::new(listener, state.connections.clone());
    let app = router(state.clone());
    let (close, closing) = tokio::sync::watch::channel(());
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            conn = incoming.next() => match conn {
                Some(Ok(conn)) => {
                    let handshake = MaybeTls::accept(
                        conn,
                        tls.clone(),
                        Listener::Http,
                        state.connections.timeouts().header,
                    );
                    let (app, closing, state) = (app.clone(), closing.clone(), state.clone());
                    tokio::spawn(async move {
                        match handshake.await {
                            Ok(io) => serve_connection(io, app, closing, &state).await,
                            Err(e) => tracing::debug!("TLS handshake: {e}"),
                        }
                    });
                }
                Some(Err(_)) => {}
                None => break,
            },
        }
    }
    // No new connection from here on (the listening socket closes).
    drop(incoming);
    let _ = close.send(());
    drop(closing);
    close.closed().await;
}

/// One connection: HTTP/1 or HTTP/2, its requests marked in progress until their response is
/// sent, closed gracefully when `closing` changes.
fn serve_connection(
    conn: MaybeTls,
    app: Router,
    mut closing: tokio::sync::watch::Receiver<()>,
    state: &AppState,
) -> impl std::future::Future<Output = ()> + Send + 'static {
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    use tower::ServiceExt;
    let watch = ConnectionWatch::new(conn.conn().tcp());
    let info = conn.conn().info();
    let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
        let request = info.activity.begin();
        let mut req = req.map(Body::new);
        req.extensions_mut().insert(ConnectInfo(watch.clone()));
        req.extensions_mut().insert(info.clone());
        let call = app.clone().oneshot(req);
        async move {
            let resp = call.await?;
            Ok::<_, Infallible>(resp.map(|body| Body::new(Tracked::new(body, Some(request)))))
        }
    });
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    // hyper's own header timer runs from the end of one request until the next one's header
    // is complete, idle time included: it is the idle timeout of HTTP/1 connections (the
    // header timeout proper is the connection's, see activity.rs).
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(state.connections.timeouts().idle);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(H2_KEEPALIVE_INTERVAL)
        .keep_alive_timeout(H2_KEEPALIVE_TIMEOUT)
        .max_concurrent_streams(H2_MAX_CONCURRENT_STREAMS);
    async move {
        let conn = builder.serve_connection(TokioIo::new(conn), service);
        tokio::pin!(conn);
        let mut graceful = false;
        loop {
            tokio::select! {
                result = conn.as_mut() => {
                    if let Err(e) = result {
                        tracing::debug!("HTTP connection ended: {e}");
                    }
                    break;
                }
                _ = closing.changed(), if !graceful => {
                    graceful = true;
                    conn.as_mut().graceful_shutdown();
                }
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut resp = (self.code.http_status(), Json(self.body())).into_response();
        if self.code == ErrorCode::Unauthenticated {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(r#"Bearer realm="nodecell""#),
            );
        }
        if let Some(delay) = self.retry_after() {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(delay.as_secs()));
        }
        resp
    }
}

pub fn router(state: Arc<AppState>) -> Router {
    let api = Router::new()
        .route("/v1/execute", post(execute))
        .route("/v1/execute/batch", post(execute_batch))
        .route("/v1/info", get(info))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_token));
    Router::new()
        .merge(api)
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route(
            "/openapi.json",
            get(|| async { Json(crate::openapi::document()) }),
        )
        .fallback(|| async { ApiError::new(ErrorCode::NotFound, "no such path") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                ErrorCode::MethodNotAllowed,
                "this path does not take this method",
            )
        })
        .with_state(state)
        .layer(AccessLayer { transport: "http" })
}

/// A run request's body must be JSON: no Content-Type, `application/json` (or any
/// `+json` type), or curl's default for `-d`, `application/x-www-form-urlencoded` (its body is
/// still read as JSON).
fn check_media_type(headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Ok(());
    };
    let essence = value
        .to_str()
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
        || essence == "application/x-www-form-urlencoded"
    {
        return Ok(());
    }
    Err(ApiError::new(
        ErrorCode::UnsupportedMediaType,
        format!("the body must be JSON (Content-Type: application/json), not {essence:?}"),
    ))
}

/// When tokens are configured, `Authorization: Bearer <token>` must carry one of them.
async fn require_token(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    req: Request,
    next: Next,
) -> Response {
    let given = headers.get(header::AUTHORIZATION).map(|v| v.as_bytes());
    match admission::authorize(&state.config.auth_tokens, given) {
        Ok(()) => next.run(req).await,
        Err(e) => e.into_response(),
    }
}

async fn execute(State(state): State<Arc<AppState>>, req: Request) -> Result<Response, ApiError> {
    let cap = admission::max_request_bytes(&state.engine.config().default_limits);
    let context = access::context(req.extensions());
    let (client, watch, bytes) = run_request(&state, req, cap).await?;
    let req = admission::request_from_json(&bytes)?;
    let run = access::stamped(context, state.execute(client, req, None));
    let outcome = until_client_leaves(watch, run).await?;
    Ok(Json(outcome).into_response())
}

async fn execute_batch(
    State(state): State<Arc<AppState>>,
    req: Request,
) -> Result<Response, ApiError> {
    let cap = admission::max_batch_request_bytes(&state.engine.config().default_limits);
    let context = access::context(req.extensions());
    let (client, watch, bytes) = run_request(&state, req, cap).await?;
    let batch = admission::batch_from_json(&bytes)?;
    let mut outcome = until_client_leaves(watch, state.execute_batch(client, batch)).await?;
    access::stamp_batch(context.as_deref(), &mut outcome);
    Ok(Json(outcome).into_response())
}

/// A run request's client, its connection (present when served through `Server`, absent when
/// a test calls the router directly) and its body, at most `cap` bytes within
/// `body_timeout_ms`.
async fn run_request(
    state: &AppState,
    req: Request,
    cap: usize,
) -> Result<(Client, Option<ConnectionWatch>, Vec<u8>), ApiError> {
    check_media_type(req.headers())?;
    let watch = req
        .extensions()
        .get::<ConnectInfo<ConnectionWatch>>()
        .map(|c| c.0.clone());
    let peer = req.extensions().get::<ConnInfo>().map(|c| c.peer.ip());
    let authorization = req.headers().get(header::AUTHORIZATION);
    let client = Client::of(
        &state.config.auth_tokens,
        authorization.map(|v| v.as_bytes()),
        peer,
    );
    let deadline =
        tokio::time::Instant::now() + Duration::from_millis(state.config.body_timeout_ms);
    let bytes = read_capped(req.into_body(), cap, deadline)
        .await?
        .ok_or_else(|| admission::body_timed_out(state.config.body_timeout_ms))?;
    Ok((client, watch, bytes))
}

/// `run`, dropped (which kills its sandboxes) as soon as the client's connection closes.
async fn until_client_leaves<T>(
    watch: Option<ConnectionWatch>,
    run: impl std::future::Future<Output = Result<T, ApiError>>,
) -> Result<T, ApiError> {
    match watch {
        Some(watch) => tokio::select! {
            outcome = run => outcome,
            () = watch.closed() => Err(ApiError::new(ErrorCode::ClientClosed, "the client went away")),
        },
        None => run.await,
    }
}

/// At most the whole body after this many bytes over the cap are read and discarded, so that a
/// client still sending it reads the 413 instead of a broken pipe.
const DRAIN_BYTES: usize = 128 << 20;
/// ... and for at most this long.
const DRAIN_TIME: std::time::Duration = std::time::Duration::from_secs(10);

/// The body, if it is at most `cap` bytes (nothing past the cap is kept) and arrives by
/// `deadline` (None otherwise: a body trickled in byte by byte would hold its connection for
/// ever).
async fn read_capped(
    body: Body,
    cap: usize,
    deadline: tokio::time::Instant,
) -> Result<Option<Vec<u8>>, ApiError> {
    use tokio_stream::StreamExt;
    let mut stream = body.into_data_stream();
    let mut bytes = Vec::new();
    loop {
        let Ok(next) = tokio::time::timeout_at(deadline, stream.next()).await else {
            return Ok(None);
        };
        let Some(chunk) = next else {
            return Ok(Some(bytes));
        };
        let chunk =
            chunk.map_err(|e| ApiError::invalid(format!("reading the request body: {e}")))?;
        if bytes.len() + chunk.len() <= cap {
            bytes.extend_from_slice(&chunk);
            continue;
        }
        let mut drained = 0usize;
        let _ = tokio::time::timeout(DRAIN_TIME, async {
            while let Some(Ok(c)) = stream.next().await {
                drained += c.len();
                if drained > DRAIN_BYTES {
                    break;
                }
            }
        })
        .await;
        return Err(admission::request_too_large(cap));
    }
}

async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    match state.not_ready() {
        None => match state.zygote_fallback() {
            None => (StatusCode::OK, "ready").into_response(),
            Some(why) => (StatusCode::OK, format!("ready ({why})")).into_response(),
        },
        Some(why) => ApiError::new(ErrorCode::NotReady, why).into_response(),
    }
}

async fn info(State(state): State<Arc<AppState>>) -> Json<serde_json::Value> {
    Json(state.info())
}

async fn metrics(State(state): State<Arc<AppState>>) -> String {
    crate::telemetry::refresh(&state);
    state.metrics.render()
}
