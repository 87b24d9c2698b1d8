//! The one table of API errors: a stable code, an HTTP status and a gRPC code for each case.

use nodecell::{RequestError, RunError};
use serde::Serialize;

/// What kind of failure; each maps to exactly one HTTP status and one gRPC code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    InvalidRequest,
    TooLarge,
    Overloaded,
    Unavailable,
    Unauthenticated,
    Internal,
}

impl Kind {
    pub fn http_status(self) -> u16 {
        match self {
            Kind::InvalidRequest => 400,
            Kind::TooLarge => 413,
            Kind::Overloaded => 429,
            Kind::Unavailable => 503,
            Kind::Unauthenticated => 401,
            Kind::Internal => 500,
        }
    }

    /// gRPC status code numbers (grpc/status.proto): INVALID_ARGUMENT 3, RESOURCE_EXHAUSTED 8,
    /// UNAVAILABLE 14, UNAUTHENTICATED 16, INTERNAL 13.
    pub fn grpc_code(self) -> i32 {
        match self {
            Kind::InvalidRequest | Kind::TooLarge => 3,
            Kind::Overloaded => 8,
            Kind::Unavailable => 14,
            Kind::Unauthenticated => 16,
            Kind::Internal => 13,
        }
    }
}

/// An error of the request itself (a run that happened is an outcome, never this).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    pub kind: Kind,
    /// Stable, machine-readable.
    pub code: &'static str,
    pub message: String,
    /// For 429: when to retry, in seconds.
    pub retry_after_s: Option<u64>,
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
    pub fn new(kind: Kind, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            kind,
            code,
            message: message.into(),
            retry_after_s: None,
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        ApiError::new(Kind::InvalidRequest, "invalid_request", message)
    }

    pub fn body(&self) -> ErrorBody<'_> {
        ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: &self.message,
            },
        }
    }
}

impl From<RunError> for ApiError {
    fn from(e: RunError) -> Self {
        let kind = match &e {
            RunError::Request(
                RequestError::CodeTooLarge { .. } | RequestError::InputsTooLarge { .. },
            ) => Kind::TooLarge,
            RunError::Request(RequestError::BackendUnavailable { .. }) => Kind::InvalidRequest,
            RunError::Request(_) => Kind::InvalidRequest,
            RunError::Start(_) => Kind::Unavailable,
        };
        ApiError::new(kind, e.code(), e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_one_http_status_and_one_grpc_code() {
        let kinds = [
            Kind::InvalidRequest,
            Kind::TooLarge,
            Kind::Overloaded,
            Kind::Unavailable,
            Kind::Unauthenticated,
            Kind::Internal,
        ];
        let http: Vec<u16> = kinds.iter().map(|k| k.http_status()).collect();
        assert_eq!(http, [400, 413, 429, 503, 401, 500]);
        let grpc: Vec<i32> = kinds.iter().map(|k| k.grpc_code()).collect();
        assert_eq!(grpc, [3, 3, 8, 14, 16, 13]);
    }
}
