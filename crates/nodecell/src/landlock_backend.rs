//! The landlock backend: for hosts where the service cannot create namespaces (unprivileged
//! containers, distributions that restrict user namespaces). nodecell's launcher applies
//! rlimits, no_new_privs, Landlock and seccomp before `execve(node)`, as an ordinary process
//! of the service's user (nobody when the service runs as root), with no namespaces.
//!
//! - Filesystem (Landlock): read-only access to Node, its libraries, the runner and the few
//!   files Node reads at start; read-write access to a private scratch directory created for
//!   the run and removed after it; nothing else is readable.
//! - Network: Landlock (ABI ≥ 4) denies TCP bind/connect; the seccomp policy refuses
//!   `socket()` of every family (only AF_UNIX socketpairs), so UDP and unix sockets are
//!   refused too.
//! - Signals and abstract unix sockets are scoped (Landlock ABI ≥ 6).
//! - Memory without cgroups: V8's heap cap, RLIMIT_DATA (lowered by the host to what the job
//!   may add once the sandbox is ready) and a host-side watchdog on the run's resident memory.
//! - Processes: the launcher is a child subreaper that kills Node's whole subtree when Node
//!   ends; the watchdog holds the run to its process limit; RLIMIT_NPROC is a per-user
//!   backstop shared by every run of the user.

use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::config::EngineConfig;
use crate::launch::spec::{
    LandlockSpec, LaunchSpec, Rlimit, RlimitResource, RootEntry, SANDBOX_ID,
};
use crate::layout::NodeLayout;
use crate::limits::Limits;
use crate::native;
use crate::native::RunnerStart;

/// Files outside the layout that Node reads at start and fails without (Node exits if the
/// OpenSSL configuration exists but cannot be read).
const NODE_READS: [&str; 1] = ["/etc/ssl/openssl.cnf"];

/// RLIMIT_DATA while the sandbox boots, above its memory limit: Node's own private memory
/// (heap, thread stacks, the loaded modules; ~55 MiB). For the job the host sets the limit to
/// what the ready sandbox uses plus the job's memory limit.
pub const BOOT_DATA_ALLOWANCE: u64 = 256 << 20;

/// The run's private directory: its cwd, $HOME and $TMPDIR. Removed on drop.
#[derive(Debug)]
pub struct ScratchDir {
    path: PathBuf,
}

impl ScratchDir {
    /// Creates `<temp dir>/nodecell-<pid>-scratch-<n>`, mode 0700, owned by the sandbox's
    /// user.
    pub fn create(host_root: bool) -> std::io::Result<ScratchDir> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let path = std::env::temp_dir().join(format!(
            "nodecell-{}-scratch-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::DirBuilder::new().mode(0o700).create(&path)?;
        let dir = ScratchDir { path };
        if host_root {
            let id = Some(SANDBOX_ID);
            std::os::unix::fs::chown(&dir.path, id, id)?;
        }
        Ok(dir)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Makes every directory beneath `dir` writable and searchable by its owner again, so that
/// what the run left (even with its permissions removed) can be deleted.
fn reopen_permissions(dir: &Path) {
    let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                reopen_permissions(&e.path());
            }
        }
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        if std::fs::remove_dir_all(&self.path).is_err() {
            reopen_permissions(&self.path);
            if let Err(e) = std::fs::remove_dir_all(&self.path) {
                tracing::warn!(path = %self.path.display(), error = %e, "scratch directory not removed");
            }
        }
    }
}

/// What the enforcement decision says to apply.
pub struct LandlockChoices<'a> {
    pub seccomp: bool,
    pub landlock_required: bool,
    /// Node's flags (they cap V8's heap: there is no memory cgroup) and how the runner starts.
    pub runner: RunnerStart,
    pub scratch: &'a Path,
    /// RLIMIT_NPROC: per user, shared by every process of the user.
    pub user_max_processes: u64,
}

pub fn launch_spec(
    layout: &NodeLayout,
    config: &EngineConfig,
    limits: &Limits,
    choices: &LandlockChoices,
) -> LaunchSpec {
    let mut read: Vec<PathBuf> = layout
        .entries
        .iter()
        .filter_map(|e| match e {
            RootEntry::Bind { source, .. } => Some(source.clone()),
            RootEntry::Symlink { .. } => None,
        })
        .collect();
    read.extend(NODE_READS.iter().map(PathBuf::from).filter(|p| p.is_file()));
    let scratch = choices.scratch.to_string_lossy().into_owned();
    let mut env: Vec<(String, String)> = config
        .sandbox_env
        .iter()
        .filter(|(k, _)| k != "HOME" && k != "TMPDIR")
        .cloned()
        .collect();
    env.push(("HOME".into(), scratch.clone()));
    env.push(("TMPDIR".into(), scratch));
    let devices = native::devices();
    LaunchSpec {
        namespaces: false,
        rootfs: None,
        rlimits: vec![
            Rlimit {
                resource: RlimitResource::Nofile,
                value: limits.max_open_files,
            },
            Rlimit {
                resource: RlimitResource::Nproc,
                value: choices.user_max_processes,
            },
            Rlimit {
                resource: RlimitResource::Core,
                value: 0,
            },
            Rlimit {
                resource: RlimitResource::Fsize,
                value: limits.tmp_size_mib << 20,
            },
            Rlimit {
                resource: RlimitResource::Data,
                value: limits.memory_bytes() + BOOT_DATA_ALLOWANCE,
            },
        ],
        landlock: Some(LandlockSpec {
            read,
            read_write: vec![choices.scratch.to_path_buf()],
            execute: native::executables(layout),
            devices,
            required: choices.landlock_required,
        }),
        seccomp: choices.seccomp,
        env,
        argv: native::node_argv(layout, &layout.runner_dir, &choices.runner),
        cwd: choices.scratch.to_path_buf(),
        hostname: String::new(),
    }
}
