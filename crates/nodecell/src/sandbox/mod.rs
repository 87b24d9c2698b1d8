//! One sandbox, seen from the host: started ahead of its job, given exactly one job, then
//! destroyed. Every figure in the outcome is measured here, never taken from the sandbox.
//!
//! The core knows no backend: a backend hands it a [`plan::SandboxPlan`] (how the sandbox
//! starts, who confirms what is in force, where usage is counted), and the core does the
//! rest, the same for all:
//!
//! | file | holds |
//! |---|---|
//! | `plan.rs` | what a backend hands the core |
//! | `process.rs` | the host's handle on the sandbox's processes; spawning a program with the sandbox's fds; [`Prelaunch`] |
//! | `channel.rs` | the runner channel as byte streams (pipes today, a unix socket or vsock tomorrow) |
//! | `mux.rs` | the host's side of the frames a container's or a microVM's pid 1 sends |
//! | `start.rs` | start: spawn, confirmation, cgroups joined, the runner's ready frame |
//! | `confirm.rs` | what is in force: the launcher's report, or /proc checked against the plan |
//! | `accounting.rs` | own cgroup, nested cgroup, or the watchdog: job limits and usage |
//! | `session.rs` | the one job: deadline, events, output, watchdog |
//! | `output.rs` | the output budget |
//! | `host_link.rs` | host calls: which are passed on, the one pending, its reply |
//! | `end.rs` | how the run ended → [`crate::Outcome`] |
//! | `teardown.rs` | stopping, waiting, removing; teardowns tracked in the background |

mod accounting;
pub(crate) mod channel;
pub(crate) mod confirm;
mod end;
mod host_link;
pub(crate) mod mux;
mod output;
pub(crate) mod plan;
pub(crate) mod process;
mod session;
mod start;
mod teardown;

use std::time::Duration;

use crate::launch::spec::LaunchReport;
use crate::outcome::LogEntry;
use crate::scratch::ScratchDir;

use accounting::Accounting;
use channel::{ReadHalf, WriteHalf};
pub use process::Prelaunch;
use process::SandboxProcess;
pub use teardown::Cleanups;

/// Output of a run as it happens (for streaming transports), through a bounded channel of the
/// caller's: while it is full, the run reads nothing more from its sandbox (which then blocks
/// on its own output), so a caller that does not keep up slows its own run, within the run's
/// wall-time limit, and never makes the host buffer more.
#[derive(Clone, Debug, PartialEq)]
pub enum LiveEvent {
    Log(LogEntry),
    Stdout(String),
    Stderr(String),
    /// User code called a function the caller serves; the run waits for the reply.
    HostCall(crate::host_call::HostCall),
}

/// A started sandbox: Node is up, the runner has loaded its modules and waits for its job.
pub struct Sandbox {
    process: Box<dyn SandboxProcess>,
    /// Taken when the job is sent.
    job: Option<Box<dyn WriteHalf>>,
    /// Taken by the event reader when the job is sent.
    events: Option<Box<dyn ReadHalf>>,
    stdout: Box<dyn ReadHalf>,
    stderr: Box<dyn ReadHalf>,
    accounting: Accounting,
    /// Host pid of Node (0 where Node is not a process of this host).
    node_pid: i32,
    /// The run's private directory, removed with the sandbox.
    scratch: Option<ScratchDir>,
    /// Set by a pool: teardown after a result may finish in the background, tracked here.
    cleanups: Option<std::sync::Arc<Cleanups>>,
    backend: &'static str,
    report: LaunchReport,
    startup: Duration,
    ready_at: std::time::Instant,
    /// V8's heap cap (MiB) Node was started with, where no memory cgroup holds the limit.
    heap_cap_mib: Option<u64>,
    /// See [`plan::SandboxPlan::fixed_memory_mib`].
    fixed_memory_mib: Option<u64>,
}

impl Sandbox {
    /// What the launcher reported it applied (or the host confirmed from /proc).
    pub fn launch_report(&self) -> &LaunchReport {
        &self.report
    }

    /// Time from spawn to the runner's ready frame.
    pub fn startup_time(&self) -> Duration {
        self.startup
    }

    /// Time since the sandbox was ready.
    pub fn age(&self) -> Duration {
        self.ready_at.elapsed()
    }

    /// The directories of this sandbox's cgroups (empty without cgroups).
    pub fn cgroup_dirs(&self) -> Vec<std::path::PathBuf> {
        self.accounting
            .cgroup()
            .map(crate::cgroup::RunCgroup::dirs)
            .unwrap_or_default()
    }

    /// Host pid of the sandbox's program (the root of its process tree on the host).
    pub fn pid(&self) -> Option<u32> {
        self.process.pid()
    }

    /// Records the V8 heap cap Node was started with.
    pub(crate) fn with_heap_cap(mut self, heap_cap_mib: Option<u64>) -> Sandbox {
        self.heap_cap_mib = heap_cap_mib;
        self
    }

    /// Whether a job held to `limits` can run here: a heap cap or a memory limit fixed at
    /// start (a microVM's) must be the job's memory limit (a warm sandbox was started for
    /// the default one).
    pub(crate) fn fits(&self, limits: &crate::Limits) -> bool {
        [self.heap_cap_mib, self.fixed_memory_mib]
            .into_iter()
            .flatten()
            .all(|mib| mib == limits.memory_mib)
    }

    /// Whether it may still run a job (see [`SandboxProcess::alive`]).
    pub fn alive(&self) -> bool {
        self.process.alive()
    }

    /// Host pid of the sandbox's root process, 0 once it is gone.
    fn root_pid(&self) -> i32 {
        self.process.pid().map_or(0, |p| p as i32)
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        // The program is killed (and reaped on drop); the cgroup, if still held, kills what
        // is left; the scratch directory is removed off the async workers where there are any.
        self.process.kill();
        if let Some(scratch) = self.scratch.take() {
            match tokio::runtime::Handle::try_current() {
                Ok(rt) => drop(rt.spawn_blocking(move || drop(scratch))),
                Err(_) => drop(scratch),
            }
        }
    }
}
