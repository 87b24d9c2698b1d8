//! nodecell: run untrusted JavaScript in real, sandboxed Node.js and get a structured outcome.
//!
//! The library owns execution: [`Engine`] validates an [`ExecRequest`], starts a sandbox
//! through a backend, hands it the job and turns what comes back into an [`Outcome`].
//! Transports and the CLI only translate to and from these types.
//!
//! All unsafe code lives in the private `sys` module; the rest of the crate denies it.
#![deny(unsafe_code)]

pub mod cgroup;
pub mod config;
pub mod enforcement;
pub mod engine;
pub mod error;
#[cfg(test)]
mod kafel;
pub mod landlock_backend;
pub mod launch;
pub mod layout;
pub mod limits;
pub mod native;
pub mod nsjail;
pub mod outcome;
pub mod pool;
pub mod procfs;
pub mod protocol;
pub mod request;
pub mod sandbox;
pub mod snapshot;
#[allow(unsafe_code)]
mod sys;

pub use config::EngineConfig;
pub use enforcement::{EnforcementReport, Protection};
pub use engine::{Backend, Discovery, Engine, ModuleLoading};
pub use error::{EngineError, RequestError, RunError, StartError};
pub use limits::{LimitOverrides, Limits};
pub use outcome::{ErrorInfo, LogEntry, LogLevel, Outcome, Status, Usage};
pub use pool::Pool;
pub use request::ExecRequest;
pub use sandbox::{LiveEvent, Prelaunch, Sandbox};
