//! The HTTP API (axum): thin, over [`AppState`]. `router(state)` serves tests without a socket.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};

use crate::admission;
use crate::disconnect::ConnectionWatch;
use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut resp = (self.code.http_status(), Json(self.body())).into_response();
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
        .with_state(state)
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
    // Present when served through `Server` (absent when a test calls the router directly).
    let watch = req
        .extensions()
        .get::<ConnectInfo<ConnectionWatch>>()
        .cloned();
    let cap = admission::max_request_bytes(&state.engine.config().default_limits);
    let bytes = read_capped(req.into_body(), cap).await?;
    let req = admission::request_from_json(&bytes)?;
    let run = state.execute(req, None);
    let outcome = match watch {
        Some(ConnectInfo(watch)) => tokio::select! {
            outcome = run => outcome?,
            // The client is gone: dropping the run kills its sandbox.
            () = watch.closed() => return Err(ApiError::new(ErrorCode::ClientClosed, "the client went away")),
        },
        None => run.await?,
    };
    Ok(Json(outcome).into_response())
}

/// At most the whole body after this many bytes over the cap are read and discarded, so that a
/// client still sending it reads the 413 instead of a broken pipe.
const DRAIN_BYTES: usize = 128 << 20;
/// ... and for at most this long.
const DRAIN_TIME: std::time::Duration = std::time::Duration::from_secs(10);

/// The body, if it is at most `cap` bytes; nothing past the cap is kept.
async fn read_capped(body: Body, cap: usize) -> Result<Vec<u8>, ApiError> {
    use tokio_stream::StreamExt;
    let mut stream = body.into_data_stream();
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.next().await {
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
    Ok(bytes)
}

async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    match state.not_ready() {
        None => (StatusCode::OK, "ready").into_response(),
        Some(why) => ApiError::new(ErrorCode::NotReady, why).into_response(),
    }
}

async fn info(State(state): State<Arc<AppState>>) -> Json<serde_json::Value> {
    Json(state.info())
}

async fn metrics(State(state): State<Arc<AppState>>) -> String {
    metrics::gauge!("nodecell_warm_sandboxes", "backend" => state.backend.as_str())
        .set(state.pool.warm_count() as f64);
    state.metrics.render()
}
