//! The OpenAPI document of the HTTP API, generated from the code (`GET /openapi.json`): the
//! request and outcome schemas are derived from the library's own types.

use nodecell::{
    ErrorInfo, ExecRequest, LimitOverrides, LogEntry, LogLevel, Outcome, Status, Usage,
};
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};

/// Every error of a request itself (never a run's outcome).
#[derive(Serialize, ToSchema)]
pub struct ErrorResponse {
    pub error: ErrorDetail,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable and machine-readable, e.g. `invalid_request`, `invalid_limits`, `unknown_backend`,
    /// `code_too_large`, `inputs_too_large`, `request_too_large`, `overloaded`, `draining`,
    /// `sandbox_unavailable`, `not_ready`, `unauthenticated`.
    pub code: String,
    pub message: String,
}

/// Runs code once in a fresh sandbox.
#[utoipa::path(
    post,
    path = "/v1/execute",
    request_body = ExecRequest,
    responses(
        (status = 200, description = "The run happened; its status is in the outcome", body = Outcome),
        (status = 400, description = "Malformed or invalid request", body = ErrorResponse),
        (status = 401, description = "A valid bearer token is required", body = ErrorResponse),
        (status = 413, description = "Code, inputs or body too large", body = ErrorResponse),
        (status = 429, description = "Overloaded; see Retry-After", body = ErrorResponse),
        (status = 503, description = "Draining, or sandboxes cannot start", body = ErrorResponse),
    ),
    security(("bearer" = []))
)]
#[allow(dead_code)]
fn execute() {}

/// Alive.
#[utoipa::path(get, path = "/healthz", responses((status = 200, description = "The process is alive")))]
#[allow(dead_code)]
fn healthz() {}

/// Ready: warm sandboxes exist and the backend's required protections are in force.
#[utoipa::path(get, path = "/readyz", responses(
    (status = 200, description = "Ready"),
    (status = 503, description = "Not ready, and why", body = ErrorResponse),
))]
#[allow(dead_code)]
fn readyz() {}

/// Prometheus metrics.
#[utoipa::path(get, path = "/metrics", responses((status = 200, description = "Prometheus text format")))]
#[allow(dead_code)]
fn metrics() {}

/// Version, Node version, backends with their enforcement reports, limits, allowed modules.
#[utoipa::path(get, path = "/v1/info", responses((status = 200, description = "Service information")), security(("bearer" = [])))]
#[allow(dead_code)]
fn info() {}

#[derive(OpenApi)]
#[openapi(
    info(title = "nodecell", description = "Runs untrusted JavaScript in sandboxed Node.js"),
    paths(execute, healthz, readyz, metrics, info),
    components(schemas(ExecRequest, LimitOverrides, Outcome, Status, ErrorInfo, LogEntry, LogLevel, Usage, ErrorResponse, ErrorDetail)),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The document, as served.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
