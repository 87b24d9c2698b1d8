//! The landlock backend: for hosts where the service cannot create namespaces (unprivileged
//! containers, distributions that restrict user namespaces). nodecell's launcher applies
//! rlimits, no_new_privs, Landlock and seccomp before `execve(node)`, as an ordinary process
//! of the service's user, with no namespaces; where the service runs as root, as a uid of
//! the run's own (`run_uid.rs`).
//!
//! - Filesystem (Landlock): read-only access to Node, its libraries, the runner and the few
//!   files Node reads at start; read-write access to a private scratch directory created for
//!   the run and removed after it (as root, a tmpfs of `tmp_size_mib` of its own); nothing
//!   else is readable.
//! - Network: Landlock (ABI ≥ 4) denies TCP bind/connect; the seccomp policy refuses
//!   `socket()` of every family (only AF_UNIX socketpairs), so UDP and unix sockets are
//!   refused too.
//! - Signals and abstract unix sockets are scoped (Landlock ABI ≥ 6).
//! - Memory without cgroups: V8's heap cap, RLIMIT_DATA (lowered by the host to what the job
//!   may add once the sandbox is ready) and a host-side watchdog on the run's resident memory.
//! - Processes: the launcher is a child subreaper that kills Node's whole subtree when Node
//!   ends; the watchdog holds the run to its process limit; RLIMIT_NPROC is a per-user
//!   backstop (per run as root, shared by every run otherwise). As root, every process of
//!   the run's uid is killed when the run ends, however it ended.

use std::path::{Path, PathBuf};

use crate::config::EngineConfig;
use crate::enforcement::{Guarantee, Offer, Protection};
use crate::error::StartError;
use crate::host::{landlock_detail, HostSupport, SECCOMP_DETAIL};
use crate::launch::spec::{LandlockSpec, LaunchSpec, RootEntry};
use crate::node_command::{devices, host_executables, node_argv};
use crate::run_uid::RunUid;
use crate::sandbox::plan::{AccountingPlan, SandboxPlan};
use crate::sandbox::Prelaunch;
use crate::scratch::{ScratchCap, ScratchDir};

use super::{launcher, Backend, PlanContext};

/// Files outside the layout that Node reads at start and fails without (Node exits if the
/// OpenSSL configuration exists but cannot be read).
const NODE_READS: [&str; 1] = ["/etc/ssl/openssl.cnf"];

/// RLIMIT_DATA while the sandbox boots, above its memory limit: Node's own private memory
/// (heap, thread stacks, the loaded modules; ~55 MiB resident) and what it reserves without
/// touching: since Node 22, V8 reserves its whole 510 MiB code range at start (private
/// mappings count against RLIMIT_DATA when they are made, not when used). For the job the
/// host sets the limit to what the ready sandbox uses plus the job's memory limit.
pub const BOOT_DATA_ALLOWANCE: u64 = 768 << 20;

pub(crate) struct Landlock;

impl Backend for Landlock {
    fn name(&self) -> &'static str {
        "landlock"
    }

    fn offers(&self, host: &HostSupport, _config: &EngineConfig) -> Vec<Offer> {
        use Protection as P;
        // Without namespaces, Landlock's signal and abstract-socket scoping (ABI 6) is what
        // keeps one run from signalling another run or the service.
        let ll = host.landlock_abi.is_some_and(|abi| abi >= 6);
        vec![
            Offer::absent(P::Namespaces, "none: the host's pid, network and ipc namespaces (other processes are visible; sockets are refused by seccomp, signals scoped by Landlock)"),
            Offer::absent(P::RootFilesystem, "none: the host's filesystem, of which Landlock allows reading only node, its libraries, the runner and /etc/ssl/openssl.cnf, and writing only a private scratch directory"),
            Offer::structural(P::Landlock, ll, match host.landlock_abi {
                Some(abi) if abi >= 6 => landlock_detail(Some(abi)),
                Some(abi) => format!("ABI {abi}: this backend needs ABI 6 (signal and abstract unix socket scoping)"),
                None => "not available in this kernel".into(),
            }),
            Offer::structural(P::Seccomp, host.seccomp, SECCOMP_DETAIL),
            Offer::absent(P::CgroupMemory, "none: V8's heap cap, RLIMIT_DATA (the job may add its limit to what the ready sandbox uses) and a host watchdog on resident memory every 10 ms; /tmp is a scratch directory: as root a tmpfs of tmp_size_mib of its own, otherwise on the host's disk with its files capped one by one by RLIMIT_FSIZE"),
            Offer::absent(P::CgroupPids, "none: the host watchdog kills a run above max_processes; RLIMIT_NPROC is per user ([backends.landlock] user_max_processes): as root each run has a uid of its own, otherwise every run shares the service's"),
            Offer::absent(P::CgroupCpu, "none: a run may use every CPU until its wall-time limit"),
        ]
    }

    fn guarantees(&self, host: &HostSupport) -> Vec<Guarantee> {
        // Without a user namespace: a uid of the run's own where the service can change its
        // identity, else the service's.
        let mut always: Vec<Guarantee> = Guarantee::CONFINED
            .into_iter()
            .filter(|g| *g != Guarantee::UidGidNobody)
            .collect();
        if host.root {
            always.push(Guarantee::UidPerRun);
        }
        always.extend([
            Guarantee::V8HeapCap,
            Guarantee::RlimitData,
            Guarantee::HostWatchdog,
            Guarantee::ProcessTreeKilled,
        ]);
        always
    }

    fn plan(&self, cx: &PlanContext<'_>) -> Result<SandboxPlan, StartError> {
        let cap = ScratchCap {
            bytes: cx.limits.tmp_size_bytes(),
            inodes: cx.limits.tmp_inodes(),
        };
        // As root, a uid of the run's own: no other run can chmod, stat, signal or count
        // against what is its.
        let owner =
            match cx.host.root {
                true => Some(RunUid::lease(cx.config.backends.landlock.uids()).map_err(
                    |source| StartError::Prepare {
                        what: "the run's uid",
                        source,
                    },
                )?),
                false => None,
            };
        let scratch = ScratchDir::create(owner, cap).map_err(|source| StartError::Prepare {
            what: "scratch directory",
            source,
        })?;
        let spec = launch_spec(cx, scratch.path(), scratch.owner_uid());
        // launcher → node
        launcher::plan(cx.config, &spec, 1, AccountingPlan::Watchdog, Some(scratch))
    }

    fn prelaunch(&self, config: &EngineConfig) -> Result<Option<Prelaunch>, StartError> {
        launcher::prelaunch(config, false)
    }
}

fn launch_spec(cx: &PlanContext<'_>, scratch_dir: &Path, run_as: Option<u32>) -> LaunchSpec {
    let (layout, config, limits) = (cx.layout, cx.config, cx.limits);
    let mut read: Vec<PathBuf> = layout
        .entries
        .iter()
        .filter_map(|e| match e {
            RootEntry::Bind { source, .. } => Some(source.clone()),
            RootEntry::Symlink { .. } => None,
        })
        .collect();
    read.extend(NODE_READS.iter().map(PathBuf::from).filter(|p| p.is_file()));
    let scratch = scratch_dir.to_string_lossy().into_owned();
    let mut env: Vec<(String, String)> = config
        .sandbox_env
        .iter()
        .filter(|(k, _)| k != "HOME" && k != "TMPDIR")
        .cloned()
        .collect();
    env.push(("HOME".into(), scratch.clone()));
    env.push(("TMPDIR".into(), scratch));
    let devices = devices();
    LaunchSpec {
        namespaces: false,
        rootfs: None,
        rlimits: launcher::rlimits(
            limits,
            config.backends.landlock.user_max_processes,
            Some(limits.memory_bytes() + BOOT_DATA_ALLOWANCE),
        ),
        landlock: Some(LandlockSpec {
            read,
            read_write: vec![scratch_dir.to_path_buf()],
            execute: host_executables(layout),
            devices,
            required: true,
        }),
        seccomp: cx.report.enforces(Protection::Seccomp),
        env,
        argv: node_argv(&layout.node, &layout.runner_dir, &cx.runner),
        cwd: scratch_dir.to_path_buf(),
        hostname: String::new(),
        run_as,
        in_container: false,
        zygote: false,
    }
}
