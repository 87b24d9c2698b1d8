//! The one table of API errors. Each stable code has one row: its HTTP status, its gRPC code,
//! whether a retry may succeed, whether it comes with a retry delay, where it can be raised and
//! what it means. HTTP responses, gRPC statuses (with their google.rpc details), the OpenAPI
//! document and README's list of codes are all generated from it; a new row shows up in each.

use std::collections::HashMap;
use std::time::Duration;

use nodecell::limits::LimitError;
use nodecell::{RequestError, RunError, StartError};
use serde::Serialize;

/// The `domain` of every google.rpc.ErrorInfo nodecell sends.
pub const ERROR_DOMAIN: &str = "nodecell";

/// Where a code can be raised, so that the OpenAPI document lists it under the right paths.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RaisedBy {
    /// A run request: `POST /v1/execute`, gRPC `Execute` and `ExecuteStream`.
    Execute,
    /// Every call that needs a bearer token (when tokens are configured).
    Authenticated,
    /// The readiness probe, `GET /readyz`.
    Readiness,
    /// HTTP's routing: a path or a method no operation has.
    Routing,
}

/// One row of the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Row {
    /// Stable and machine-readable: the HTTP body's `error.code`, the gRPC message's prefix,
    /// the `nodecell-error-code` metadata and google.rpc.ErrorInfo's `reason`.
    pub code: &'static str,
    pub http_status: u16,
    pub grpc_code: tonic::Code,
    /// Whether the same request may succeed later (or on another instance).
    pub retryable: bool,
    /// When set: HTTP `Retry-After` and gRPC `retry-after` metadata and google.rpc.RetryInfo.
    pub retry_after_s: Option<u64>,
    pub raised_by: RaisedBy,
    /// One line, for the OpenAPI document and README.
    pub description: &'static str,
}

macro_rules! error_table {
    ($(
        $variant:ident => $code:literal, $http:literal, $grpc:ident,
            retryable: $retryable:literal, retry_after_s: $retry_after:expr, $raised:ident,
            $description:literal;
    )*) => {
        /// Every stable error code of the API.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $($variant,)*
        }

        impl ErrorCode {
            /// Every code, in the table's order.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)*];

            /// This code's row.
            pub const fn row(self) -> Row {
                match self {
                    $(ErrorCode::$variant => Row {
                        code: $code,
                        http_status: $http,
                        grpc_code: tonic::Code::$grpc,
                        retryable: $retryable,
                        retry_after_s: $retry_after,
                        raised_by: RaisedBy::$raised,
                        description: $description,
                    },)*
                }
            }
        }
    };
}

error_table! {
    InvalidRequest      => "invalid_request",     400, InvalidArgument,   retryable: false, retry_after_s: None,    Execute,
        "The request is malformed: not JSON, or a field missing, mistyped or unknown";
    InvalidLimits       => "invalid_limits",      400, InvalidArgument,   retryable: false, retry_after_s: None,    Execute,
        "A limit override is above its maximum or below its minimum";
    UnknownBackend      => "unknown_backend",     400, InvalidArgument,   retryable: false, retry_after_s: None,    Execute,
        "The backend named is not one nodecell knows";
    BackendUnavailable  => "backend_unavailable", 400, InvalidArgument,   retryable: false, retry_after_s: None,    Execute,
        "The backend named cannot run on this host";
    CodeTooLarge        => "code_too_large",      413, InvalidArgument,   retryable: false, retry_after_s: None,    Execute,
        "The code is larger than max_code_bytes";
    InputsTooLarge      => "inputs_too_large",    413, InvalidArgument,   retryable: false, retry_after_s: None,    Execute,
        "The inputs, as JSON, are larger than max_inputs_bytes";
    RequestTooLarge     => "request_too_large",   413, InvalidArgument,   retryable: false, retry_after_s: None,    Execute,
        "The HTTP request body is larger than twice the code and inputs a request may carry, plus 64 KiB (checked before it is parsed)";
    RequestTimeout      => "request_timeout",     408, DeadlineExceeded,  retryable: true,  retry_after_s: None,    Execute,
        "The request body did not arrive in full within body_timeout_ms of its header";
    Overloaded          => "overloaded",          429, ResourceExhausted, retryable: true,  retry_after_s: Some(1), Execute,
        "The queue is full, or no run slot became free in time; retry after the delay given";
    ClientShareExceeded => "client_share_exceeded", 429, ResourceExhausted, retryable: true, retry_after_s: Some(1), Execute,
        "This client (its bearer token, or its address without tokens) already holds its share of the run slots and queue (client_share_percent); retry after the delay given";
    Draining            => "draining",            503, Unavailable,       retryable: true,  retry_after_s: None,    Execute,
        "The service is shutting down and takes no new runs; retry on another instance";
    SandboxUnavailable  => "sandbox_unavailable", 503, Unavailable,       retryable: true,  retry_after_s: None,    Execute,
        "Sandboxes cannot start on this host at the moment";
    ClientClosed        => "client_closed",       400, Cancelled,         retryable: false, retry_after_s: None,    Execute,
        "The client went away before the outcome; its run is killed and this answer never arrives";
    Unauthenticated     => "unauthenticated",     401, Unauthenticated,   retryable: false, retry_after_s: None,    Authenticated,
        "Tokens are configured and the call carries no valid bearer token";
    NotReady            => "not_ready",           503, Unavailable,       retryable: true,  retry_after_s: None,    Readiness,
        "The service is not ready (no warm sandbox, a required protection missing, or draining)";
    UnsupportedMediaType => "unsupported_media_type", 415, InvalidArgument, retryable: false, retry_after_s: None,  Execute,
        "The request body's Content-Type is not JSON (application/json, or curl's default application/x-www-form-urlencoded holding JSON)";
    NotFound            => "not_found",           404, Unimplemented,     retryable: false, retry_after_s: None,    Routing,
        "HTTP: no such path";
    MethodNotAllowed    => "method_not_allowed",  405, Unimplemented,     retryable: false, retry_after_s: None,    Routing,
        "HTTP: the path exists, but not with this method (the Allow header lists those it has)";
}

impl ErrorCode {
    pub const fn as_str(self) -> &'static str {
        self.row().code
    }

    pub fn http_status(self) -> axum::http::StatusCode {
        axum::http::StatusCode::from_u16(self.row().http_status)
            .expect("the table holds valid HTTP statuses")
    }

    pub const fn grpc_code(self) -> tonic::Code {
        self.row().grpc_code
    }

    /// The code in the table whose string is `s`.
    pub fn parse(s: &str) -> Option<ErrorCode> {
        ErrorCode::ALL.iter().copied().find(|c| c.as_str() == s)
    }

    /// README's list of codes, generated from the table (a test keeps README true to it).
    pub fn markdown_table() -> String {
        let mut out =
            String::from("| code | HTTP | gRPC | retryable | meaning |\n|---|---|---|---|---|\n");
        for c in ErrorCode::ALL {
            let r = c.row();
            out.push_str(&format!(
                "| `{}` | {} | {} | {} | {} |\n",
                r.code,
                r.http_status,
                grpc_code_name(r.grpc_code),
                if r.retryable { "yes" } else { "no" },
                r.description
            ));
        }
        out
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A gRPC code's canonical name (`INVALID_ARGUMENT`), as grpc/status.proto spells it.
pub fn grpc_code_name(code: tonic::Code) -> &'static str {
    use tonic::Code as C;
    match code {
        C::Ok => "OK",
        C::Cancelled => "CANCELLED",
        C::Unknown => "UNKNOWN",
        C::InvalidArgument => "INVALID_ARGUMENT",
        C::DeadlineExceeded => "DEADLINE_EXCEEDED",
        C::NotFound => "NOT_FOUND",
        C::AlreadyExists => "ALREADY_EXISTS",
        C::PermissionDenied => "PERMISSION_DENIED",
        C::ResourceExhausted => "RESOURCE_EXHAUSTED",
        C::FailedPrecondition => "FAILED_PRECONDITION",
        C::Aborted => "ABORTED",
        C::OutOfRange => "OUT_OF_RANGE",
        C::Unimplemented => "UNIMPLEMENTED",
        C::Internal => "INTERNAL",
        C::Unavailable => "UNAVAILABLE",
        C::DataLoss => "DATA_LOSS",
        C::Unauthenticated => "UNAUTHENTICATED",
    }
}

/// An error of the request itself (a run that happened is an outcome, never this).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    /// The request's fields at fault, each with why (gRPC: google.rpc.BadRequest), named as
    /// both transports name them: `code`, `inputs`, `backend`, `limits.timeout_ms`.
    pub fields: Vec<(String, String)>,
    /// More about the error (gRPC: google.rpc.ErrorInfo's metadata), e.g. `backend`.
    pub metadata: Vec<(&'static str, String)>,
}

#[derive(Serialize)]
pub struct ErrorBody<'a> {
    pub error: ErrorDetail<'a>,
}

#[derive(Serialize)]
pub struct ErrorDetail<'a> {
    pub code: &'a str,
    pub message: &'a str,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
            fields: Vec::new(),
            metadata: Vec::new(),
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        ApiError::new(ErrorCode::InvalidRequest, message)
    }

    /// Names a field of the request at fault.
    pub fn with_field(mut self, field: impl Into<String>, why: impl Into<String>) -> Self {
        self.fields.push((field.into(), why.into()));
        self
    }

    pub fn with_metadata(mut self, key: &'static str, value: impl ToString) -> Self {
        self.metadata.push((key, value.to_string()));
        self
    }

    /// How long to wait before retrying, when the table gives a delay.
    pub fn retry_after(&self) -> Option<Duration> {
        self.code.row().retry_after_s.map(Duration::from_secs)
    }

    /// google.rpc.ErrorInfo's metadata: this error's own, then whether it is retryable.
    pub fn info_metadata(&self) -> HashMap<String, String> {
        self.metadata
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .chain([(
                "retryable".to_string(),
                self.code.row().retryable.to_string(),
            )])
            .collect()
    }

    pub fn body(&self) -> ErrorBody<'_> {
        ErrorBody {
            error: ErrorDetail {
                code: self.code.as_str(),
                message: &self.message,
            },
        }
    }
}

/// The library's errors, each to its row, with the fields at fault and what else is known.
impl From<RunError> for ApiError {
    fn from(e: RunError) -> Self {
        let message = e.to_string();
        let new = |code| ApiError::new(code, message.clone());
        match &e {
            RunError::Request(RequestError::CodeTooLarge { size, max }) => {
                new(ErrorCode::CodeTooLarge)
                    .with_field("code", &message)
                    .with_metadata("size", size)
                    .with_metadata("max", max)
            }
            RunError::Request(RequestError::InputsTooLarge { size, max }) => {
                new(ErrorCode::InputsTooLarge)
                    .with_field("inputs", &message)
                    .with_metadata("size", size)
                    .with_metadata("max", max)
            }
            RunError::Request(RequestError::Limit(LimitError::AboveMaximum {
                name,
                value,
                max,
            })) => new(ErrorCode::InvalidLimits)
                .with_field(format!("limits.{name}"), &message)
                .with_metadata("limit", name)
                .with_metadata("value", value)
                .with_metadata("max", max),
            RunError::Request(RequestError::Limit(LimitError::BelowMinimum {
                name,
                value,
                min,
            })) => new(ErrorCode::InvalidLimits)
                .with_field(format!("limits.{name}"), &message)
                .with_metadata("limit", name)
                .with_metadata("value", value)
                .with_metadata("min", min),
            RunError::Request(RequestError::UnknownBackend { name, .. }) => {
                new(ErrorCode::UnknownBackend)
                    .with_field("backend", &message)
                    .with_metadata("backend", name)
            }
            RunError::Request(
                RequestError::Batch { field, .. }
                | RequestError::HostFunctions(nodecell::host_call::HostFunctionsError {
                    field, ..
                }),
            ) => new(ErrorCode::InvalidRequest).with_field(*field, &message),
            RunError::Request(RequestError::BackendUnavailable { backend, .. }) => {
                new(ErrorCode::BackendUnavailable)
                    .with_field("backend", &message)
                    .with_metadata("backend", backend)
            }
            RunError::Start(_) => new(ErrorCode::SandboxUnavailable),
        }
    }
}

impl From<RequestError> for ApiError {
    fn from(e: RequestError) -> Self {
        RunError::from(e).into()
    }
}

impl From<StartError> for ApiError {
    fn from(e: StartError) -> Self {
        RunError::from(e).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::Code;

    #[test]
    fn every_code_keeps_its_http_status_and_grpc_code() {
        let expected = [
            ("invalid_request", 400, Code::InvalidArgument),
            ("invalid_limits", 400, Code::InvalidArgument),
            ("unknown_backend", 400, Code::InvalidArgument),
            ("backend_unavailable", 400, Code::InvalidArgument),
            ("code_too_large", 413, Code::InvalidArgument),
            ("inputs_too_large", 413, Code::InvalidArgument),
            ("request_too_large", 413, Code::InvalidArgument),
            ("request_timeout", 408, Code::DeadlineExceeded),
            ("overloaded", 429, Code::ResourceExhausted),
            ("client_share_exceeded", 429, Code::ResourceExhausted),
            ("draining", 503, Code::Unavailable),
            ("sandbox_unavailable", 503, Code::Unavailable),
            ("client_closed", 400, Code::Cancelled),
            ("unauthenticated", 401, Code::Unauthenticated),
            ("not_ready", 503, Code::Unavailable),
            ("unsupported_media_type", 415, Code::InvalidArgument),
            ("not_found", 404, Code::Unimplemented),
            ("method_not_allowed", 405, Code::Unimplemented),
        ];
        let table: Vec<_> = ErrorCode::ALL
            .iter()
            .map(|c| (c.as_str(), c.http_status().as_u16(), c.grpc_code()))
            .collect();
        assert_eq!(table, expected);
    }

    #[test]
    fn codes_are_unique_and_parse_back() {
        for c in ErrorCode::ALL {
            assert_eq!(ErrorCode::parse(c.as_str()), Some(*c));
            assert!(!c.row().description.is_empty() && !c.row().description.contains('\n'));
            assert_eq!(
                c.row().retry_after_s.is_some(),
                matches!(c, ErrorCode::Overloaded | ErrorCode::ClientShareExceeded)
            );
        }
        assert_eq!(ErrorCode::parse("nope"), None);
    }

    #[test]
    fn library_errors_map_to_their_rows_with_the_fields_at_fault() {
        let e = ApiError::from(RequestError::Limit(LimitError::AboveMaximum {
            name: "timeout_ms",
            value: 9,
            max: 1,
        }));
        assert_eq!(e.code, ErrorCode::InvalidLimits);
        assert_eq!(e.fields[0].0, "limits.timeout_ms");
        assert!(e.metadata.contains(&("limit", "timeout_ms".into())));
        let e = ApiError::from(RequestError::CodeTooLarge { size: 2, max: 1 });
        assert_eq!(
            (e.code, e.fields[0].0.as_str()),
            (ErrorCode::CodeTooLarge, "code")
        );
        let e = ApiError::from(RequestError::InputsTooLarge { size: 2, max: 1 });
        assert_eq!(
            (e.code, e.fields[0].0.as_str()),
            (ErrorCode::InputsTooLarge, "inputs")
        );
        let e = ApiError::from(RequestError::UnknownBackend {
            name: "bochs".into(),
            known: "native".into(),
        });
        assert_eq!(
            (e.code, e.fields[0].0.as_str()),
            (ErrorCode::UnknownBackend, "backend")
        );
        assert!(e.metadata.contains(&("backend", "bochs".into())));
        let e = ApiError::from(StartError::NotReady("x".into()));
        assert_eq!(e.code, ErrorCode::SandboxUnavailable);
        assert!(e.fields.is_empty());
    }

    /// README's list of error codes is the table's.
    #[test]
    fn readme_lists_the_codes_of_the_table() {
        let readme = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md"),
        )
        .unwrap();
        let table = ErrorCode::markdown_table();
        assert!(
            readme.contains(&table),
            "README.md's list of error codes differs from the table in error.rs; it should read:\n{table}"
        );
    }
}
