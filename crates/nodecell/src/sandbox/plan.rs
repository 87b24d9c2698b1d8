//! What a backend hands the sandbox core: how to start the sandbox, who confirms what is in
//! force, and where its usage is counted and limited.

use std::future::Future;
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::pin::Pin;

use crate::cgroup::{CgroupPlan, RunCgroup};
use crate::error::StartError;
use crate::launch::spec::LaunchReport;
use crate::scratch::ScratchDir;

use super::process::Started;

/// One sandbox, as its backend planned it.
pub(crate) struct SandboxPlan {
    pub program: Program,
    pub confirmation: Confirmation,
    pub accounting: AccountingPlan,
    /// The run's private directory on the host, removed with the sandbox.
    pub scratch: Option<ScratchDir>,
    /// Forked from a zygote (backend native's zygote path): the engine falls back to the
    /// boot path where that fails (`Zygotes::failed`, in backend/zygote).
    pub from_zygote: bool,
    /// The memory limit (MiB), where it is fixed at the sandbox's start (a microVM's RAM
    /// and its guest's memory cgroup): a job with another limit gets a sandbox of its own.
    pub fixed_memory_mib: Option<u64>,
}

/// How the sandbox's processes come to be.
pub(crate) enum Program {
    /// A program spawned by the host with the runner channel's fds (3 job, 4 events, 1 and 2
    /// stdout and stderr), 5 (its status) and 6 (`input`): nodecell-launcher or nsjail.
    Spawn {
        path: PathBuf,
        args: Vec<String>,
        input: ProgramInput,
        /// Start it in a mount namespace of its own with an empty tmpfs on `/run` (see
        /// [`crate::sys::own_run_dir`]), for a program that leaves files in `/run` or `/tmp`.
        own_run_dir: bool,
    },
    /// A sandbox the backend has already started, with its runner channel (the fake
    /// backend).
    #[cfg_attr(not(feature = "fake"), allow(dead_code))]
    Started(Started),
    /// A sandbox its backend starts asynchronously (a container, through its engine's API),
    /// with the cgroup its engine made for it where that is on this host.
    Starting(StartingSandbox),
}

/// What [`Program::Starting`] awaits.
pub(crate) type StartingSandbox =
    Pin<Box<dyn Future<Output = Result<(Started, Option<RunCgroup>), StartError>> + Send>>;

/// What a spawned program reads on fd 6.
pub(crate) enum ProgramInput {
    /// A spec, written into a pipe once the program runs (so that it can be started before
    /// the spec is known: see [`super::Prelaunch`]).
    Spec(Vec<u8>),
    /// A configuration file (a memfd).
    Config(OwnedFd),
}

/// Who says what is in force for Node once the sandbox is up.
pub(crate) enum Confirmation {
    /// nodecell-launcher reports what it applied on the status fd, which closes when Node is
    /// exec'd `node_depth` generations below the program.
    LauncherReport { node_depth: usize },
    /// The program (`tool`) writes only its own log to the status fd; Node is its child, and
    /// the host reads from /proc what is in force and checks it against `expected`.
    Inspect {
        tool: &'static str,
        expected: LaunchReport,
    },
    /// Nothing to check: the runner is not a process of the host (the fake backend).
    #[cfg_attr(not(feature = "fake"), allow(dead_code))]
    Declared(LaunchReport),
    /// nodecell-launcher in a container reports what it applied (as with
    /// [`Confirmation::LauncherReport`]); Node is no process the host looks up, and the
    /// namespaces and read-only root are the engine's, as configured.
    ContainerLauncher { namespaces: Vec<String> },
}

/// Where the run's memory, processes and CPU time are counted and limited.
pub(crate) enum AccountingPlan {
    /// nodecell's own cgroup, made right after the program is spawned (making it overlaps
    /// the program's work); the host moves Node into it while Node boots.
    OwnCgroup(CgroupPlan),
    /// nodecell's own cgroup, made by [`Program::Starting`] before the program existed and
    /// given back with it: a zygote's child, which moves itself into it where it can
    /// (`RunCgroup::self_join_files`); the host moves Node into it otherwise.
    OwnCgroupFromStart,
    /// A group nodecell made, in which the program creates Node's own group (named by
    /// `inner` from Node's host pid): usage and OOM kills are read from `outer` (they are
    /// hierarchical, and outlive the inner group), job limits set on the inner one.
    NestedCgroup {
        outer: RunCgroup,
        inner: fn(i32) -> String,
    },
    /// No cgroup: /proc figures, RLIMIT_DATA set per job, and the host's watchdog.
    Watchdog,
    /// Nothing of the host to count or limit (the fake backend's runner is a task).
    #[cfg_attr(not(feature = "fake"), allow(dead_code))]
    Unmetered,
    /// The group [`Program::Starting`] gives (its engine made it, and removes it), with job
    /// limits set there above what the ready sandbox uses, and pids with the allowance;
    /// without one, nothing of the host to count.
    FromStart(PidsAllowance),
}

/// How a container's pids limit follows the run's `max_processes`: what runs the sandbox
/// (the launcher, gVisor's Sentry and its stubs) has host processes and threads of its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PidsAllowance {
    pub per_process: u64,
    pub extra: u64,
}

impl PidsAllowance {
    pub(crate) fn limit(self, max_processes: u64) -> u64 {
        self.per_process * max_processes + self.extra
    }
}
