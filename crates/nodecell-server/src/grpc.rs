//! The gRPC API (tonic): `nodecell.v1.Sandbox`, thin over [`AppState`], plus the standard
//! health service and server reflection.
//!
//! A run lives exactly as long as its call: `Execute` awaits the run inside the handler, so a
//! client cancellation or an expired deadline drops the run (and its sandbox is killed);
//! `ExecuteStream` runs it in a task that is aborted as soon as the response stream is dropped
//! or an event cannot be delivered.

use std::sync::Arc;
use std::time::Duration;

use nodecell::{LogLevel, Outcome};
use tonic::metadata::{MetadataMap, MetadataValue};
use tonic::service::interceptor::InterceptedService;
use tonic::{Request, Response, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::activity::{ConnInfo, TrackLayer};
use crate::admission;
use crate::connections::Incoming;
use crate::error::{ApiError, ERROR_DOMAIN};
use crate::grpc_session::{self, AbortOnDrop, RunStream};
use crate::http;
pub use crate::proto_json::{json_to_struct, value_to_json};
use crate::shares::Client;
use crate::state::AppState;
use crate::wire_value::WireValue;

/// The generated messages, server and client.
#[allow(clippy::all, clippy::pedantic, missing_docs)]
pub mod pb {
    tonic::include_proto!("nodecell.v1");

    /// The encoded descriptor set of nodecell.proto (with its imports), for reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] =
        tonic::include_file_descriptor_set!("nodecell_descriptor");
}

use pb::sandbox_service_server::{SandboxService as SandboxApi, SandboxServiceServer};

use crate::access::{self, AccessLayer};
use crate::body_deadline::BodyDeadlineLayer;
use crate::tls::{Listener, MaybeTls, Tls};

/// The metadata key carrying the stable error code of a failed call.
pub const ERROR_CODE_KEY: &str = "nodecell-error-code";

/// The metadata key carrying the retry delay in seconds (as HTTP's `Retry-After`).
pub const RETRY_AFTER_KEY: &str = "retry-after";

/// How often the health service's statuses are refreshed from [`AppState::not_ready`].
const HEALTH_INTERVAL: Duration = Duration::from_millis(500);

/// Serves Sandbox, Health and Reflection on `listener` until `shutdown` completes.
pub async fn serve(
    state: Arc<AppState>,
    listener: tokio::net::TcpListener,
    tls: Option<Arc<Tls>>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), tonic::transport::Error> {
    use futures_util::StreamExt;
    tracing::debug!(addr = ?listener.local_addr().ok(), "serving gRPC");
    let timeout = state.connections.timeouts().header;
    // Handshakes go on side by side, each in a task of its own (within the header timeout);
    // as many as connections may be open, so a slow one never holds up the others.
    let incoming = Incoming::new(listener, state.connections.clone())
        .filter_map(|conn| std::future::ready(conn.ok()))
        .map(move |conn| tokio::spawn(MaybeTls::accept(conn, tls.clone(), Listener::Grpc, timeout)))
        .buffer_unordered(state.config.max_connections)
        .filter_map(|io| {
            std::future::ready(match io {
                Ok(Ok(io)) => Some(Ok::<_, std::io::Error>(io)),
                Ok(Err(e)) => {
                    tracing::debug!("TLS handshake: {e}");
                    None
                }
                Err(e) => {
                    tracing::debug!("TLS handshake task: {e}");
                    None
                }
            })
        });
    serve_incoming(state, incoming, shutdown).await
}

/// [`serve`] on any stream of connections (tests use in-memory ones). Connections that are
/// [`crate::connections::Conn`]s are held to the header and idle timeouts.
pub async fn serve_incoming<IO, IE>(
    state: Arc<AppState>,
    incoming: impl tokio_stream::Stream<Item = Result<IO, IE>> + Send + 'static,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), tonic::transport::Error>
where
    IO: tokio::io::AsyncRead
        + tokio::io::AsyncWrite
        + tonic::transport::server::Connected
        + Send
        + Unpin
        + 'static,
    IE: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let (reporter, health) = tonic_health::server::health_reporter();
    update_health(&reporter, &state).await;
    let _health_updater = AbortOnDrop(tokio::spawn({
        let state = state.clone();
        async move {
            loop {
                tokio::time::sleep(HEALTH_INTERVAL).await;
                update_health(&reporter, &state).await;
            }
        }
    }));

    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    let reflection_v1 = reflection()
        .build_v1()
        .expect("the compiled-in descriptor sets are valid");
    let reflection_v1alpha = reflection()
        .build_v1alpha()
        .expect("the compiled-in descriptor sets are valid");

    let max_request = admission::max_request_bytes(&state.engine.config().default_limits);
    let sandbox = SandboxServiceServer::new(SandboxService {
        state: state.clone(),
    })
    .max_decoding_message_size(max_request);
    let tokens = Arc::new(state.config.auth_tokens.clone());
    let sandbox =
        InterceptedService::new(sandbox, move |req: Request<()>| check_token(&tokens, req));

    tonic::transport::Server::builder()
        .http2_keepalive_interval(Some(http::H2_KEEPALIVE_INTERVAL))
        .http2_keepalive_timeout(Some(http::H2_KEEPALIVE_TIMEOUT))
        .max_concurrent_streams(http::H2_MAX_CONCURRENT_STREAMS)
        .layer(TrackLayer)
        .layer(AccessLayer { transport: "grpc" })
        .layer(BodyDeadlineLayer {
            timeout: std::time::Duration::from_millis(state.config.body_timeout_ms),
        })
        .add_service(health)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(sandbox)
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await
}

async fn update_health(reporter: &tonic_health::server::HealthReporter, state: &AppState) {
    let status = match state.not_ready() {
        None => tonic_health::ServingStatus::Serving,
        Some(_) => tonic_health::ServingStatus::NotServing,
    };
    for name in ["", pb::sandbox_service_server::SERVICE_NAME] {
        reporter.set_service_status(name, status).await;
    }
}

/// When tokens are configured, `authorization: Bearer <token>` must carry one of them.
#[allow(clippy::result_large_err)]
fn check_token(tokens: &[String], req: Request<()>) -> Result<Request<()>, Status> {
    let given = req.metadata().get("authorization").map(|v| v.as_bytes());
    admission::authorize(tokens, given).map_err(to_status)?;
    Ok(req)
}

/// An [`ApiError`] as a gRPC status: the code from the error table, the message prefixed with
/// the stable code, which is also in the `nodecell-error-code` metadata; and the standard
/// google.rpc details (`grpc-status-details-bin`): ErrorInfo always (reason: the stable code,
/// domain: `nodecell`), RetryInfo when the table gives a retry delay, BadRequest when fields of
/// the request are at fault.
pub fn to_status(e: ApiError) -> Status {
    let code = e.code.as_str();
    let mut metadata = MetadataMap::new();
    metadata.insert(ERROR_CODE_KEY, MetadataValue::from_static(code));
    let mut details = ErrorDetails::new();
    details.set_error_info(code, ERROR_DOMAIN, e.info_metadata());
    if let Some(delay) = e.retry_after() {
        metadata.insert(RETRY_AFTER_KEY, MetadataValue::from(delay.as_secs()));
        details.set_retry_info(Some(delay));
    }
    for (field, why) in &e.fields {
        details.add_bad_request_violation(field, why);
    }
    Status::with_error_details_and_metadata(
        e.code.grpc_code(),
        format!("{code}: {}", e.message),
        details,
        metadata,
    )
}

struct SandboxService {
    state: Arc<AppState>,
}

impl SandboxService {
    /// Whom a call counts against: its token, or its peer's address.
    fn client<T>(&self, request: &Request<T>) -> Client {
        let peer = request.extensions().get::<ConnInfo>().map(|c| c.peer.ip());
        let authorization = request.metadata().get("authorization");
        Client::of(
            &self.state.config.auth_tokens,
            authorization.map(|v| v.as_bytes()),
            peer,
        )
    }
}

#[tonic::async_trait]
impl SandboxApi for SandboxService {
    async fn execute(
        &self,
        request: Request<pb::ExecuteRequest>,
    ) -> Result<Response<pb::ExecuteResponse>, Status> {
        let client = self.client(&request);
        let context = access::context(request.extensions());
        let req = admission::request_from_proto(request.into_inner()).map_err(to_status)?;
        // Awaited here: when tonic drops this future (cancellation, deadline), the run drops.
        let outcome = access::stamped(context, self.state.execute(client, req, None))
            .await
            .map_err(to_status)?;
        Ok(Response::new(to_response(outcome)))
    }

    async fn execute_batch(
        &self,
        request: Request<pb::ExecuteBatchRequest>,
    ) -> Result<Response<pb::ExecuteBatchResponse>, Status> {
        let client = self.client(&request);
        let context = access::context(request.extensions());
        let batch = admission::batch_from_proto(request.into_inner()).map_err(to_status)?;
        let mut outcome = self
            .state
            .execute_batch(client, batch)
            .await
            .map_err(to_status)?;
        access::stamp_batch(context.as_deref(), &mut outcome);
        Ok(Response::new(pb::ExecuteBatchResponse {
            outcomes: outcome.outcomes.into_iter().map(to_response).collect(),
            usage: Some(to_usage(&outcome.usage)),
            stdout: outcome.stdout,
            stderr: outcome.stderr,
            request_id: outcome.request_id.unwrap_or_default(),
        }))
    }

    type ExecuteStreamStream = RunStream<pb::ExecuteStreamResponse>;

    async fn execute_stream(
        &self,
        request: Request<pb::ExecuteStreamRequest>,
    ) -> Result<Response<Self::ExecuteStreamStream>, Status> {
        let client = self.client(&request);
        let context = access::context(request.extensions());
        let req = admission::request_from_proto(request.into_inner().request.unwrap_or_default())
            .map_err(to_status)?;
        Ok(Response::new(grpc_session::stream(
            self.state.clone(),
            client,
            req,
            context,
        )))
    }

    type ExecuteSessionStream = RunStream<pb::ExecuteSessionResponse>;

    async fn execute_session(
        &self,
        request: Request<tonic::Streaming<pb::ExecuteSessionRequest>>,
    ) -> Result<Response<Self::ExecuteSessionStream>, Status> {
        let client = self.client(&request);
        let context = access::context(request.extensions());
        let stream =
            grpc_session::session(self.state.clone(), client, request.into_inner(), context)
                .await?;
        Ok(Response::new(stream))
    }
}

/// A console line as its message.
pub(crate) fn to_log(l: nodecell::LogEntry) -> pb::Log {
    pb::Log {
        level: level_str(l.level).into(),
        message: l.message,
    }
}

/// A run's usage as its message.
pub(crate) fn to_usage(u: &nodecell::Usage) -> pb::Usage {
    pb::Usage {
        wall_ms: u.wall_ms,
        cpu_ms: u.cpu_ms,
        memory_peak_bytes: u.memory_peak_bytes,
        host_wait_ms: u.host_wait_ms,
        host_calls: u.host_calls,
    }
}

fn level_str(level: LogLevel) -> &'static str {
    match level {
        LogLevel::Log => "log",
        LogLevel::Info => "info",
        LogLevel::Warn => "warn",
        LogLevel::Error => "error",
        LogLevel::Debug => "debug",
    }
}

/// The outcome as the response message.
pub fn to_response(o: Outcome) -> pb::ExecuteResponse {
    let status = match o.status {
        nodecell::Status::Ok => pb::Status::Ok,
        nodecell::Status::Error => pb::Status::Error,
        nodecell::Status::Timeout => pb::Status::Timeout,
        nodecell::Status::MemoryLimit => pb::Status::MemoryLimit,
        nodecell::Status::OutputLimit => pb::Status::OutputLimit,
        nodecell::Status::Crashed => pb::Status::Crashed,
    };
    pb::ExecuteResponse {
        status: status.into(),
        result: o.result.map(WireValue::from_text),
        error: o.error.map(|e| pb::Error {
            name: e.name,
            message: e.message,
            stack: e.stack.unwrap_or_default(),
            line: e.line,
            column: e.column,
        }),
        logs: o.logs.into_iter().map(to_log).collect(),
        stdout: o.stdout,
        stderr: o.stderr,
        truncated: o.truncated,
        usage: Some(to_usage(&o.usage)),
        backend: o.backend,
        request_id: o.request_id.unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use tonic::Code;

    #[test]
    fn api_errors_keep_their_code_and_stable_name() {
        let s = to_status(ApiError::invalid("bad"));
        assert_eq!(s.code(), Code::InvalidArgument);
        assert_eq!(s.message(), "invalid_request: bad");
        assert_eq!(s.metadata().get(ERROR_CODE_KEY).unwrap(), "invalid_request");
    }

    /// What a client reads back with the standard google.rpc details (Go: status.Details()).
    #[test]
    fn every_error_carries_google_rpc_details() {
        use crate::error::ErrorCode;
        use nodecell::limits::LimitError;
        use nodecell::RequestError;

        for code in ErrorCode::ALL {
            let s = to_status(ApiError::new(*code, "why"));
            assert_eq!(s.code(), code.grpc_code());
            assert_eq!(s.message(), format!("{code}: why"));
            let details = s.check_error_details().expect("the details decode");
            let info = details.error_info().expect("ErrorInfo");
            assert_eq!(
                (info.reason.as_str(), info.domain.as_str()),
                (code.as_str(), "nodecell")
            );
            assert_eq!(info.metadata["retryable"], code.row().retryable.to_string());
            assert_eq!(
                details.retry_info().is_some(),
                code.row().retry_after_s.is_some(),
                "{code}"
            );
            assert!(details.bad_request().is_none(), "{code}");
        }

        let s = to_status(ApiError::new(ErrorCode::Overloaded, "the queue is full"));
        assert_eq!(s.code(), Code::ResourceExhausted);
        assert_eq!(s.metadata().get(RETRY_AFTER_KEY).unwrap(), "1");
        let retry = s
            .get_error_details()
            .retry_info()
            .cloned()
            .expect("RetryInfo");
        assert_eq!(retry.retry_delay, Some(Duration::from_secs(1)));

        let s = to_status(ApiError::from(RequestError::Limit(
            LimitError::AboveMaximum {
                name: "timeout_ms",
                value: 10_000_000,
                max: 300_000,
            },
        )));
        assert_eq!(s.code(), Code::InvalidArgument);
        assert_eq!(s.metadata().get(ERROR_CODE_KEY).unwrap(), "invalid_limits");
        let details = s.get_error_details();
        let info = details.error_info().unwrap();
        assert_eq!(info.reason, "invalid_limits");
        assert_eq!(info.metadata["limit"], "timeout_ms");
        assert_eq!(info.metadata["max"], "300000");
        let violations = &details.bad_request().expect("BadRequest").field_violations;
        assert_eq!(violations.len(), 1);
        assert_eq!(violations[0].field, "limits.timeout_ms");
        assert!(violations[0].description.contains("above its maximum"));

        let s = to_status(ApiError::from(RequestError::UnknownBackend {
            name: "qemu".into(),
            known: "native".into(),
        }));
        let details = s.get_error_details();
        assert_eq!(details.error_info().unwrap().metadata["backend"], "qemu");
        assert_eq!(
            details.bad_request().unwrap().field_violations[0].field,
            "backend"
        );

        for (e, field) in [
            (RequestError::CodeTooLarge { size: 2, max: 1 }, "code"),
            (RequestError::InputsTooLarge { size: 2, max: 1 }, "inputs"),
        ] {
            let s = to_status(ApiError::from(e));
            let details = s.get_error_details();
            assert_eq!(
                details.bad_request().unwrap().field_violations[0].field,
                field
            );
        }
    }
}
