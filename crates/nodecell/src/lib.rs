//! nodecell: run untrusted JavaScript in real, sandboxed Node.js and get a structured outcome.
//!
//! The library owns execution: [`Engine`] validates an [`ExecRequest`], starts a sandbox
//! through a backend, hands it the job and turns what comes back into an [`Outcome`].
//! Transports and the CLI only translate to and from these types.
//!
//! All unsafe code lives in the private `sys` module; the rest of the crate denies it.
#![deny(unsafe_code)]

pub mod backend;
pub mod batch;
mod cgroup;
pub mod config;
mod dir_lock;
pub mod docker;
pub mod enforcement;
mod engine;
pub mod error;
/// What the fuzz targets (`fuzz/`) drive that is otherwise private; not part of the API.
#[doc(hidden)]
pub mod fuzzing {
    pub use crate::sandbox::channel::{read_events, Read};
}
mod host;
pub mod host_call;
pub mod json_text;
#[cfg(test)]
mod kafel;
#[doc(hidden)]
pub mod launch;
mod layout;
pub mod limits;
pub mod log_limit;
mod node_command;
pub mod node_version;
pub mod outcome;
mod pool;
pub mod procfs;
pub mod protocol;
mod request;
mod run_uid;
mod sandbox;
mod scratch;
mod snapshot;
#[allow(unsafe_code)]
mod sys;
mod trust;
mod vm;

pub use batch::{BatchOutcome, BatchRequest, Isolation};
pub use cgroup::instance::{current as cgroup_instance, made as cgroup_instances_made};
pub use config::{
    BackendsConfig, EngineConfig, FirecrackerConfig, LandlockConfig, NativeConfig, NsjailConfig,
    QemuAccel, QemuConfig,
};
pub use enforcement::{EnforcementReport, Guarantee, Protection, ProtectionState};
pub use engine::{BackendId, CheckedRequest, Engine};
pub use error::{EngineError, RequestError, RunError, StartError};
pub use host::Discovery;
pub use host_call::{HostCall, HostFunction, HostFunctions, HostReply, Reply};
pub use json_text::{JsonError, JsonObject, JsonText};
pub use launch::spec::{LandlockStatus, LaunchReport, LaunchStep};
pub use layout::{LayoutError, NodeLayout};
pub use limits::{LimitOverrides, Limits};
pub use node_command::ModuleLoading;
pub use outcome::{ErrorInfo, LogEntry, LogLevel, Outcome, Status, Usage};
pub use pool::Pool;
pub use request::{BatchItems, ExecRequest, Mode, Profile, Work};
pub use run_uid::UidRange;
pub use sandbox::{Cleanups, LiveEvent, Prelaunch, Sandbox};
