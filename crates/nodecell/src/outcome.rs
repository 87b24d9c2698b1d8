//! The outcome of one run: the single JSON shape that the CLI prints and the transports return.

use serde::{Deserialize, Serialize};

use crate::json_text::JsonText;

/// How a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The code's promise resolved; `result` holds its value.
    Ok,
    /// The code threw or rejected (or its result could not be converted).
    Error,
    /// The wall-time limit was reached; the sandbox was killed.
    Timeout,
    /// The memory limit was reached; the sandbox was killed.
    MemoryLimit,
    /// Captured output passed its limit; output was cut and the sandbox killed.
    OutputLimit,
    /// The sandbox died without producing an outcome.
    Crashed,
}

impl Status {
    pub const ALL: [Status; 6] = [
        Status::Ok,
        Status::Error,
        Status::Timeout,
        Status::MemoryLimit,
        Status::OutputLimit,
        Status::Crashed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Error => "error",
            Status::Timeout => "timeout",
            Status::MemoryLimit => "memory_limit",
            Status::OutputLimit => "output_limit",
            Status::Crashed => "crashed",
        }
    }
}

/// What went wrong, for every status but `ok`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorInfo {
    pub name: String,
    pub message: String,
    #[serde(default)]
    pub stack: Option<String>,
    /// 1-based line in the user's code as written.
    #[serde(default)]
    pub line: Option<u32>,
    /// 1-based column in the user's code as written.
    #[serde(default)]
    pub column: Option<u32>,
}

impl ErrorInfo {
    pub fn new(name: &str, message: impl Into<String>) -> Self {
        ErrorInfo {
            name: name.to_string(),
            message: message.into(),
            ..Default::default()
        }
    }
}

/// The console method that produced a log entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum LogLevel {
    Log,
    Info,
    Warn,
    Error,
    Debug,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LogEntry {
    pub level: LogLevel,
    pub message: String,
}

/// Resources used, as measured by the host (never as reported by the sandbox).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Usage {
    /// From the job reaching the sandbox to its outcome.
    pub wall_ms: f64,
    /// CPU time of everything in the sandbox while the job ran.
    pub cpu_ms: f64,
    /// Peak memory of the sandbox (0 where the backend cannot measure it).
    pub memory_peak_bytes: u64,
    /// Of `wall_ms`, the time spent waiting for the caller's replies to host calls.
    #[serde(default)]
    pub host_wait_ms: f64,
    /// Host calls made.
    #[serde(default)]
    pub host_calls: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Outcome {
    pub status: Status,
    /// The code's result converted to JSON; present when `status` is ok. Kept as the JSON
    /// text the runner sent (checked, never built into a tree on the host).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<serde_json::Value>))]
    pub result: Option<JsonText>,
    /// Present for every status but ok.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorInfo>,
    pub logs: Vec<LogEntry>,
    pub stdout: String,
    pub stderr: String,
    /// Output was cut at `max_output_bytes`.
    pub truncated: bool,
    pub usage: Usage,
    pub backend: String,
    /// The id of the request that ran it (the service's `x-request-id`: the caller's, or one
    /// it made); absent from runs of the library itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}
