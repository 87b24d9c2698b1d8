//! What the host asks the launcher to build, and what the launcher reports back.
//!
//! The host starts `nodecell-launcher` with two arguments, [`WITH_NAMESPACES`] or
//! [`WITHOUT_NAMESPACES`] and the host's pid, and writes the sandbox's [`LaunchSpec`] (JSON) into a pipe on fd 6
//! ([`SPEC_FD`]): so a launcher can be started, and its namespaces created, before the spec is
//! known (`nodecell run` does that while it discovers the host). The launcher answers on fd 5
//! with JSON lines ([`LaunchMessage`]); fd 5 is close-on-exec in the final process, so the
//! host sees EOF once Node has been exec'd.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The fd on which the runner reads its job.
pub const JOB_FD: i32 = 3;
/// The fd on which the runner writes its events.
pub const EVENT_FD: i32 = 4;
/// The fd on which the launcher reports setup progress and errors.
pub const STATUS_FD: i32 = 5;

/// The fd on which the launcher reads its spec (to EOF).
pub const SPEC_FD: i32 = 6;

/// The launcher's argument for a sandbox with its own namespaces (backend native).
pub const WITH_NAMESPACES: &str = "--namespaces";
/// The launcher's argument for a sandbox without namespaces (backend landlock).
pub const WITHOUT_NAMESPACES: &str = "--no-namespaces";

/// The uid and gid the code runs as inside its user namespace ("nobody").
pub const SANDBOX_ID: u32 = 65534;

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LaunchSpec {
    /// New user, PID, mount, network, IPC, UTS and cgroup namespaces (native backend).
    pub namespaces: bool,
    /// A minimal root filesystem to pivot into (requires `namespaces`).
    pub rootfs: Option<RootFs>,
    pub rlimits: Vec<Rlimit>,
    pub landlock: Option<LandlockSpec>,
    /// Install the seccomp policy compiled from `policy/seccomp/node.json`.
    pub seccomp: bool,
    /// The complete environment of the Node process.
    pub env: Vec<(String, String)>,
    /// `argv[0]` is the absolute path of the Node binary (inside the sandbox).
    pub argv: Vec<String>,
    pub cwd: PathBuf,
    pub hostname: String,
    /// Without namespaces: the host uid and gid Node runs as (the run's own, leased by the
    /// host; the launcher must be root to take it). None: the launcher's own, which must
    /// then not be root. With namespaces Node is always [`SANDBOX_ID`] inside.
    pub run_as: Option<u32>,
    /// Without namespaces, in a container whose first process is the launcher's
    /// multiplexer (the launcher's in-container mode): that pid 1 reaps what Node leaves, and the
    /// container's pid namespace ends with it, so the launcher is no subreaper (gVisor does
    /// not offer it).
    #[serde(default)]
    pub in_container: bool,
    /// Node is a zygote (see the zygote module): at exec, fd 5 becomes /dev/null instead
    /// of closing, so that none of Node's own fds takes 3-5, where its children's go; and
    /// only seccomp's ENOSYS filter is installed (no io_uring: its children could not use it).
    #[serde(default)]
    pub zygote: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RootFs {
    /// Built in order inside an empty tmpfs that becomes `/`.
    pub entries: Vec<RootEntry>,
    /// Device nodes bound from the host (read-write, e.g. /dev/null).
    pub devices: Vec<PathBuf>,
    /// Size of the private `/tmp` (nosuid, nodev, noexec).
    pub tmp_size_bytes: u64,
    /// Inode cap of `/tmp`.
    pub tmp_inodes: u64,
}

/// One path of the host made visible at the same path inside the sandbox.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum RootEntry {
    /// A symlink with the same target as on the host (e.g. /lib64 -> usr/lib64).
    Symlink { path: PathBuf, target: PathBuf },
    /// A read-only bind mount of the host's `source` (a file or directory) at `path`;
    /// `exec` leaves it executable.
    Bind {
        source: PathBuf,
        path: PathBuf,
        dir: bool,
        exec: bool,
    },
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LandlockSpec {
    /// Readable (files and directory listings) beneath these paths.
    pub read: Vec<PathBuf>,
    /// Readable and writable (create, remove, truncate) beneath these paths.
    pub read_write: Vec<PathBuf>,
    /// Regular files that may be executed.
    pub execute: Vec<PathBuf>,
    /// Readable and writable device files (no create or remove).
    pub devices: Vec<PathBuf>,
    /// Fail instead of running when the kernel cannot enforce everything asked.
    pub required: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RlimitResource {
    Nofile,
    Nproc,
    Core,
    Fsize,
    /// Private writable memory (heap, Buffers, committed WebAssembly memory, thread stacks).
    Data,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rlimit {
    pub resource: RlimitResource,
    pub value: u64,
}

/// One line on the status fd.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum LaunchMessage {
    /// A setup step failed; nothing was exec'd.
    Failed { step: LaunchStep, message: String },
    /// Everything was applied; Node is being exec'd with these protections.
    Enforced(LaunchReport),
}

/// What the launcher applied to the Node process, as seen from inside.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LaunchReport {
    pub namespaces: Vec<String>,
    pub rootfs: bool,
    pub landlock: LandlockStatus,
    pub landlock_abi: i32,
    pub seccomp: bool,
    pub no_new_privs: bool,
    pub capabilities_dropped: bool,
    pub uid: u32,
    pub gid: u32,
}

/// How far the kernel enforces the Landlock ruleset (rust-landlock's `RulesetStatus`, plus
/// `Off` where no ruleset was asked for).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LandlockStatus {
    FullyEnforced,
    PartiallyEnforced,
    NotEnforced,
    #[default]
    Off,
}

impl LandlockStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            LandlockStatus::FullyEnforced => "fully_enforced",
            LandlockStatus::PartiallyEnforced => "partially_enforced",
            LandlockStatus::NotEnforced => "not_enforced",
            LandlockStatus::Off => "off",
        }
    }
}

/// The launcher's steps, in the order they run (see `launch/mod.rs`); a failed one is named
/// in [`LaunchMessage::Failed`] and in the host's [`crate::StartError::Launch`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LaunchStep {
    ParseArgs,
    DieWithParent,
    CloseInheritedFds,
    ClearGroups,
    ReadSpec,
    ParseSpec,
    // Without namespaces: the launcher supervises Node itself.
    ChildSubreaper,
    // With namespaces: init in new namespaces, its id maps written by the launcher.
    SyncPipe,
    BlockSigterm,
    CreateNamespaces,
    UnblockSigterm,
    StopHandler,
    WriteIdMaps,
    ReleaseInit,
    WaitInit,
    InitDieWithLauncher,
    WaitIdMaps,
    SetHostname,
    BuildRootFilesystem,
    ForkNode,
    Reap,
    // Node's process, before it execs.
    NewSession,
    DropBoundingSet,
    SetGid,
    SetUid,
    DieWithLauncher,
    DropCapabilities,
    SetRlimits,
    Chdir,
    NoNewPrivs,
    Landlock,
    Argv,
    Env,
    Seccomp,
    CloseStatusOnExec,
    ExecNode,
    // A zygote's child (launch/zygote.rs), before it returns to JavaScript.
    PlaceFds,
    JoinCgroup,
    LoopFork,
}

impl LaunchStep {
    /// The step's name, as on the wire.
    pub fn as_str(self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default()
    }
}

impl std::fmt::Display for LaunchStep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_and_statuses_keep_their_wire_names() {
        let failed = LaunchMessage::Failed {
            step: LaunchStep::BuildRootFilesystem,
            message: "m".into(),
        };
        let text = serde_json::to_string(&failed).unwrap();
        assert_eq!(
            text,
            r#"{"failed":{"step":"build_root_filesystem","message":"m"}}"#
        );
        assert_eq!(
            serde_json::from_str::<LaunchMessage>(&text).unwrap(),
            failed
        );
        assert_eq!(LaunchStep::DropBoundingSet.to_string(), "drop_bounding_set");
        assert_eq!(
            serde_json::to_string(&LandlockStatus::FullyEnforced).unwrap(),
            format!("\"{}\"", LandlockStatus::FullyEnforced.as_str())
        );
    }
}
