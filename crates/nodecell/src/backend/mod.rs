//! Isolation backends behind one trait, and the registry that is the only list of them.
//!
//! A backend says what it can enforce on this host ([`Backend::offers`],
//! [`Backend::guarantees`]) and plans one sandbox ([`Backend::plan`]); the sandbox core
//! (`crate::sandbox`) starts and runs every plan the same way. Adding one: a module here,
//! a line in [`REGISTRY`], a section in `crate::config::BackendsConfig` if it has settings,
//! and its name in the tests' backend list (`crates/nodecell/tests/common/mod.rs`).

pub(crate) mod docker;
pub(crate) mod firecracker;
pub(crate) mod landlock;
pub(crate) mod launcher;
pub(crate) mod microvm;
pub(crate) mod native;
pub(crate) mod nsjail;
pub(crate) mod qemu;
pub(crate) mod zygote;

#[cfg(feature = "fake")]
pub(crate) mod fake;

use crate::config::EngineConfig;
use crate::enforcement::{EnforcementReport, Guarantee, Offer};
use crate::error::{RequestError, StartError};
use crate::host::HostSupport;
use crate::layout::NodeLayout;
use crate::limits::Limits;
use crate::node_command::RunnerStart;
use crate::sandbox::plan::SandboxPlan;
use crate::sandbox::Prelaunch;

/// Every backend, the default first.
pub(crate) static REGISTRY: &[&dyn Backend] = &[
    &native::Native,
    &nsjail::Nsjail,
    &landlock::Landlock,
    &docker::Docker,
    &docker::Gvisor,
    &qemu::Qemu,
    &firecracker::Firecracker,
];

/// An isolation backend.
pub(crate) trait Backend: Send + Sync {
    /// The name requests and the configuration use.
    fn name(&self) -> &'static str;

    /// What it can apply on this host, protection by protection.
    fn offers(&self, host: &HostSupport, config: &EngineConfig) -> Vec<Offer>;

    /// What every run of it gets, whatever the host.
    fn guarantees(&self, host: &HostSupport) -> Vec<Guarantee>;

    /// Everything the sandbox core needs to start one sandbox.
    fn plan(&self, cx: &PlanContext<'_>) -> Result<SandboxPlan, StartError>;

    /// Starts the sandbox's program before its plan is known, where that saves time (see
    /// [`Prelaunch`]).
    fn prelaunch(&self, _config: &EngineConfig) -> Result<Option<Prelaunch>, StartError> {
        Ok(None)
    }
}

/// What a backend plans one sandbox with.
pub(crate) struct PlanContext<'a> {
    pub config: &'a EngineConfig,
    pub layout: &'a NodeLayout,
    pub host: &'a HostSupport,
    /// What runs of this backend get on this host.
    pub report: &'a EnforcementReport,
    /// The sandbox's limits (memory and processes may still change per job).
    pub limits: &'a Limits,
    /// Node's flags (with V8's heap capped where no memory cgroup holds the limit) and how
    /// the runner starts.
    pub runner: RunnerStart,
    /// The engine's zygotes (backend native's zygote path).
    pub zygotes: &'a zygote::Zygotes,
}

/// The names of every backend, the default first.
pub fn names() -> Vec<&'static str> {
    REGISTRY.iter().map(|b| b.name()).collect()
}

/// The backend called `name`.
pub(crate) fn find(
    backends: &[&'static dyn Backend],
    name: &str,
) -> Result<&'static dyn Backend, RequestError> {
    backends
        .iter()
        .find(|b| b.name() == name)
        .copied()
        .ok_or_else(|| unknown(name, backends.iter().copied()))
}

/// The error for a backend `name` that is none of `known`.
pub(crate) fn unknown<'a>(
    name: &str,
    known: impl Iterator<Item = &'a dyn Backend>,
) -> RequestError {
    RequestError::UnknownBackend {
        name: name.to_string(),
        known: known.map(|b| b.name()).collect::<Vec<_>>().join(", "),
    }
}

/// What one backend enforces on this host.
pub(crate) fn report(
    backend: &dyn Backend,
    host: &HostSupport,
    config: &EngineConfig,
) -> EnforcementReport {
    EnforcementReport::decide(
        backend.name(),
        backend.offers(host, config),
        backend.guarantees(host),
        config.required_protections.as_deref(),
    )
}

impl Prelaunch {
    /// Starts the program of backend `name` ahead of its sandbox, if that backend has one
    /// that can be (`Ok(None)` otherwise). Must be called on the runtime thread that later
    /// awaits the run: the program's parent-death signal follows that thread.
    pub fn for_backend(config: &EngineConfig, name: &str) -> Result<Option<Prelaunch>, StartError> {
        match find(REGISTRY, name) {
            Ok(backend) => backend.prelaunch(config),
            Err(_) => Ok(None),
        }
    }
}
