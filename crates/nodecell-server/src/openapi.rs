//! The OpenAPI document of the HTTP API, generated from the code (`GET /openapi.json`): the
//! request and outcome schemas are derived from the library's own types, and the error codes
//! and error responses of each path from the table in [`crate::error`].

use nodecell::{
    BatchOutcome, BatchRequest, ErrorInfo, ExecRequest, Isolation, LimitOverrides, LogEntry,
    LogLevel, Mode, Outcome, Profile, Status, Usage,
};
use serde::Serialize;
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::{RefOr, Schema};
use utoipa::{OpenApi, ToSchema};

use crate::error::{ErrorCode, RaisedBy};

/// Every error of a request itself (never a run's outcome).
#[derive(Serialize, ToSchema)]
pub struct ErrorResponse {
    pub error: ErrorDetail,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    #[schema(schema_with = error_code_schema)]
    pub code: String,
    pub message: String,
}

/// `ErrorDetail.code`: an enum of exactly the table's codes, each described.
fn error_code_schema() -> Schema {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    let described: Vec<String> = ErrorCode::ALL
        .iter()
        .map(|c| {
            let r = c.row();
            let retry = if r.retryable { ", retryable" } else { "" };
            format!(
                "- `{}` ({}{retry}): {}",
                r.code, r.http_status, r.description
            )
        })
        .collect();
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(ErrorCode::ALL.iter().map(|c| c.as_str())))
        .description(Some(format!(
            "Stable and machine-readable:\n\n{}",
            described.join("\n")
        )))
        .into()
}

/// Runs code once in a fresh sandbox.
#[utoipa::path(
    post,
    path = "/v1/execute",
    request_body = ExecRequest,
    responses(
        (status = StatusCode::OK, description = "The run happened; its status is in the outcome", body = Outcome),
    ),
    security(("bearer" = []))
)]
#[allow(dead_code)]
fn execute() {}

/// Runs one code over many items (AVS's loop), the outcomes in item order.
#[utoipa::path(
    post,
    path = "/v1/execute/batch",
    request_body = BatchRequest,
    responses(
        (status = StatusCode::OK, description = "The batch ran; each item's status is in its outcome", body = BatchOutcome),
    ),
    security(("bearer" = []))
)]
#[allow(dead_code)]
fn execute_batch() {}

/// Alive.
#[utoipa::path(get, path = "/healthz", responses((status = StatusCode::OK, description = "The process is alive")))]
#[allow(dead_code)]
fn healthz() {}

/// Ready: warm sandboxes exist and the backend's required protections are in force.
#[utoipa::path(get, path = "/readyz", responses((status = StatusCode::OK, description = "Ready")))]
#[allow(dead_code)]
fn readyz() {}

/// Prometheus metrics.
#[utoipa::path(get, path = "/metrics", responses((status = StatusCode::OK, description = "Prometheus text format")))]
#[allow(dead_code)]
fn metrics() {}

/// Version, Node version, backends with their enforcement reports, limits, allowed modules.
#[utoipa::path(get, path = "/v1/info", responses((status = StatusCode::OK, description = "Service information")), security(("bearer" = [])))]
#[allow(dead_code)]
fn info() {}

#[derive(OpenApi)]
#[openapi(
    info(title = "nodecell", description = "Runs untrusted JavaScript in sandboxed Node.js"),
    paths(execute, execute_batch, healthz, readyz, metrics, info),
    components(schemas(ExecRequest, BatchRequest, BatchOutcome, Isolation, Profile, Mode, LimitOverrides, nodecell::HostFunction, nodecell::host_call::HostCallLimitOverrides, Outcome, Status, ErrorInfo, LogEntry, LogLevel, Usage, ErrorResponse, ErrorDetail)),
    modifiers(&BearerAuth, &ErrorResponses)
)]
pub struct ApiDoc;

/// The operations (by operation id) that raise the codes of each [`RaisedBy`] besides
/// [`RaisedBy::Authenticated`], which every operation with a security requirement raises.
const RAISED_BY: &[(&str, RaisedBy)] = &[
    ("execute", RaisedBy::Execute),
    ("execute_batch", RaisedBy::Execute),
    ("readyz", RaisedBy::Readiness),
];

/// Fills in each operation's error responses from the error table: one response per HTTP
/// status, describing each code that answers with it there.
struct ErrorResponses;

impl ErrorResponses {
    fn raised_by(op: &Operation) -> Vec<RaisedBy> {
        let id = op.operation_id.as_deref().unwrap_or_default();
        let mut raised: Vec<RaisedBy> = RAISED_BY
            .iter()
            .filter(|(op_id, _)| *op_id == id)
            .map(|(_, r)| *r)
            .collect();
        if op.security.as_ref().is_some_and(|s| !s.is_empty()) {
            raised.push(RaisedBy::Authenticated);
        }
        raised
    }
}

fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.options,
        &mut item.head,
        &mut item.patch,
        &mut item.trace,
    ]
    .into_iter()
    .filter_map(Option::as_mut)
}

impl utoipa::Modify for ErrorResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use std::collections::BTreeMap;
        use utoipa::openapi::header::HeaderBuilder;
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};

        for item in openapi.paths.paths.values_mut() {
            for op in operations(item) {
                let raised = Self::raised_by(op);
                let mut by_status = BTreeMap::<u16, Vec<ErrorCode>>::new();
                for code in ErrorCode::ALL {
                    if raised.contains(&code.row().raised_by) {
                        by_status
                            .entry(code.row().http_status)
                            .or_default()
                            .push(*code);
                    }
                }
                for (status, codes) in by_status {
                    let description = codes
                        .iter()
                        .map(|c| format!("- `{c}`: {}", c.row().description))
                        .collect::<Vec<_>>()
                        .join("\n");
                    let mut response = ResponseBuilder::new().description(description).content(
                        "application/json",
                        ContentBuilder::new()
                            .schema(Some(Ref::from_schema_name("ErrorResponse")))
                            .build(),
                    );
                    if codes.iter().any(|c| c.row().retry_after_s.is_some()) {
                        response = response.header(
                            "Retry-After",
                            HeaderBuilder::new()
                                .schema(ObjectBuilder::new().schema_type(Type::Integer))
                                .description(Some("Seconds to wait before retrying"))
                                .build(),
                        );
                    }
                    op.responses
                        .responses
                        .insert(status.to_string(), RefOr::T(response.build()));
                }
            }
        }
    }
}

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

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    fn doc() -> serde_json::Value {
        serde_json::to_value(document()).unwrap()
    }

    #[test]
    fn the_error_code_is_an_enum_of_exactly_the_table() {
        let doc = doc();
        let codes: Vec<&str> = doc["components"]["schemas"]["ErrorDetail"]["properties"]["code"]
            ["enum"]
            .as_array()
            .expect("an enum")
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        let table: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(codes, table);
    }

    #[test]
    fn every_code_is_documented_under_its_status_where_it_can_be_raised() {
        let doc = doc();
        let ops = |raised: RaisedBy| -> Vec<(&str, &str)> {
            match raised {
                RaisedBy::Execute => vec![("/v1/execute", "post")],
                RaisedBy::Authenticated => vec![("/v1/execute", "post"), ("/v1/info", "get")],
                RaisedBy::Readiness => vec![("/readyz", "get")],
                RaisedBy::Routing => vec![],
            }
        };
        for code in ErrorCode::ALL {
            let row = code.row();
            for (path, method) in ops(row.raised_by) {
                let response =
                    &doc["paths"][path][method]["responses"][row.http_status.to_string()];
                let description = response["description"].as_str().unwrap_or_default();
                assert!(
                    description.contains(&format!("`{code}`")),
                    "{code} is not documented under {method} {path} {}: {response}",
                    row.http_status
                );
                assert_eq!(
                    response["content"]["application/json"]["schema"]["$ref"],
                    "#/components/schemas/ErrorResponse"
                );
                if row.retry_after_s.is_some() {
                    assert!(response["headers"]["Retry-After"].is_object(), "{code}");
                }
            }
        }
        // Nothing more: the probes and metrics answer no error of the table.
        for path in ["/healthz", "/metrics"] {
            let responses = doc["paths"][path]["get"]["responses"].as_object().unwrap();
            assert_eq!(responses.keys().collect::<Vec<_>>(), ["200"], "{path}");
        }
        // And /v1/info only those of authentication.
        let info: BTreeSet<&String> = doc["paths"]["/v1/info"]["get"]["responses"]
            .as_object()
            .unwrap()
            .keys()
            .collect();
        let mut expected: BTreeSet<String> = ErrorCode::ALL
            .iter()
            .filter(|c| c.row().raised_by == RaisedBy::Authenticated)
            .map(|c| c.row().http_status.to_string())
            .collect();
        expected.insert(axum::http::StatusCode::OK.as_str().to_string());
        assert_eq!(info, expected.iter().collect());
    }
}
