//! Errors, typed per operation, and the one table of stable codes the transports map from.

use std::path::PathBuf;

use crate::cgroup::CgroupError;
use crate::launch::spec::LaunchStep;
use crate::layout::LayoutError;
use crate::limits::LimitError;

/// Starting the engine (configuration and host discovery).
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("launcher {path} not found or not executable")]
    LauncherMissing { path: PathBuf },
    #[error(transparent)]
    Layout(#[from] LayoutError),
}

/// A request that cannot run as asked. Nothing was started.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("code is {size} bytes, more than the limit of {max}")]
    CodeTooLarge { size: u64, max: u64 },
    #[error("inputs are {size} bytes, more than the limit of {max}")]
    InputsTooLarge { size: u64, max: u64 },
    #[error(transparent)]
    Limit(#[from] LimitError),
    #[error("unknown backend {name:?} (known: {known})")]
    UnknownBackend { name: String, known: String },
    #[error("backend {backend} is unavailable on this host: {reason}")]
    BackendUnavailable { backend: String, reason: String },
    #[error("{field}: {message}")]
    Batch {
        field: &'static str,
        message: String,
    },
    #[error(transparent)]
    HostFunctions(#[from] crate::host_call::HostFunctionsError),
}

/// Starting one sandbox.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("creating the run's cgroup: {0}")]
    Cgroup(#[from] CgroupError),
    #[error("spawning the sandbox: {0}")]
    Spawn(std::io::Error),
    #[error("backend {backend} is unavailable on this host: {reason}")]
    Unavailable {
        backend: &'static str,
        reason: String,
    },
    #[error("preparing the sandbox's {what}: {source}")]
    Prepare {
        what: &'static str,
        source: std::io::Error,
    },
    #[error("sandbox setup failed at step {step}: {message}")]
    Launch { step: LaunchStep, message: String },
    #[error("{tool} did not start the sandbox: {log}")]
    Tool { tool: &'static str, log: String },
    #[error("{tool} started Node without: {missing}")]
    Unconfirmed { tool: &'static str, missing: String },
    #[error("the sandbox did not become ready: {0}")]
    NotReady(String),
    #[error("the sandbox did not become ready within {0} ms")]
    StartupTimeout(u64),
    #[error("the zygote did not start: {0}")]
    Zygote(String),
}

/// One run, end to end.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Request(#[from] RequestError),
    #[error(transparent)]
    Start(#[from] StartError),
}

impl RunError {
    /// A stable, machine-readable code (the transports map HTTP and gRPC statuses from it).
    pub fn code(&self) -> &'static str {
        match self {
            RunError::Request(RequestError::CodeTooLarge { .. }) => "code_too_large",
            RunError::Request(RequestError::InputsTooLarge { .. }) => "inputs_too_large",
            RunError::Request(RequestError::Limit(_)) => "invalid_limits",
            RunError::Request(RequestError::UnknownBackend { .. }) => "unknown_backend",
            RunError::Request(RequestError::BackendUnavailable { .. }) => "backend_unavailable",
            RunError::Request(RequestError::Batch { .. } | RequestError::HostFunctions(_)) => {
                "invalid_request"
            }
            RunError::Start(_) => "sandbox_unavailable",
        }
    }

    /// Whether the caller is at fault (bad input) rather than the host.
    pub fn is_bad_request(&self) -> bool {
        matches!(self, RunError::Request(_))
    }
}
