//! What the microVM backends (qemu, firecracker) share: the guest's start (the launcher's
//! spec for the sandbox inside the VM), the protections the guest applies itself, the
//! VMM's cgroup and private directory, and finding a VMM's binary.

use std::path::{Path, PathBuf};

use crate::cgroup::CgroupPlan;
use crate::config::EngineConfig;
use crate::enforcement::{Offer, Protection};
use crate::error::StartError;
use crate::host::HostSupport;
use crate::launch::guest::GuestStart;
use crate::launch::spec::{LandlockSpec, LaunchSpec, SANDBOX_ID};
use crate::node_command::{node_argv, DEVICES};
use crate::scratch::{ScratchCap, ScratchDir};

use super::{launcher, PlanContext};

/// Where the guest image holds Node, its loader and libraries, and the runner.
const GUEST_NODE: &str = "/usr/local/bin/node";
const GUEST_RUNNER: &str = "/opt/nodecell/runner";
const GUEST_READ: [&str; 4] = ["/usr/local/bin", "/lib", "/lib64", GUEST_RUNNER];
const GUEST_LOADER: &str = "/lib64/ld-linux-x86-64.so.2";

/// Host threads of one VMM (main loop, vCPUs, I/O workers): the VMM's pids limit. The run's
/// own processes are the guest's, held there by RLIMIT_NPROC.
pub(crate) const VMM_THREADS: u64 = 64;

/// The length-prefixed-to-be `GuestStart` of the sandbox `cx` plans: the launcher in the
/// guest confines Node as in a container (uid 65534, no capabilities, rlimits, Landlock,
/// seccomp), with a size-capped /tmp, in a memory cgroup of the guest's held to the memory
/// limit once the job comes.
pub(crate) fn guest_start(cx: &PlanContext<'_>) -> Result<Vec<u8>, StartError> {
    let (config, limits, report) = (cx.config, cx.limits, cx.report);
    // The guest has no startup snapshot and no code caches of the host's V8.
    let mut runner = cx.runner.clone();
    runner.snapshot = None;
    runner.caches = false;
    let spec = LaunchSpec {
        namespaces: false,
        rootfs: None,
        // The guest's uid 65534 is the sandbox's alone: RLIMIT_NPROC is the run's limit.
        rlimits: launcher::rlimits(limits, limits.max_processes, None),
        landlock: Some(LandlockSpec {
            read: GUEST_READ.map(PathBuf::from).to_vec(),
            read_write: vec!["/tmp".into()],
            execute: vec![GUEST_NODE.into(), GUEST_LOADER.into()],
            devices: DEVICES.map(PathBuf::from).to_vec(),
            required: report.requires(Protection::Landlock),
        }),
        seccomp: true,
        env: config.sandbox_env.clone(),
        argv: node_argv(Path::new(GUEST_NODE), Path::new(GUEST_RUNNER), &runner),
        cwd: "/tmp".into(),
        hostname: "nodecell".into(),
        run_as: Some(SANDBOX_ID),
        in_container: true,
        zygote: false,
    };
    serde_json::to_vec(&GuestStart {
        tmp_size_bytes: limits.tmp_size_bytes(),
        memory_limit_bytes: limits.memory_bytes(),
        spec: serde_json::to_string(&spec).map_err(|e| StartError::Spawn(e.into()))?,
    })
    .map_err(|e| StartError::Spawn(e.into()))
}

/// The VMM's cgroup: until the job sets its own limit, the guest's RAM (`ram_mib`) and the
/// VMM's own (`vmm_overhead_mib`); the VMM's threads; the CPU rate where enforced.
pub(crate) fn vmm_cgroup(
    cx: &PlanContext<'_>,
    ram_mib: u64,
    vmm_overhead_mib: u64,
) -> Option<CgroupPlan> {
    cx.host.cgroups.as_ref().ok().map(|driver| CgroupPlan {
        driver: driver.clone(),
        memory_bytes: (ram_mib + vmm_overhead_mib) << 20,
        max_processes: VMM_THREADS,
        cpu_ms_per_sec: cx
            .report
            .enforces(Protection::CgroupCpu)
            .then_some(cx.config.cpu_ms_per_sec),
    })
}

/// The VM's private directory (its sockets, its logs; a jailed VMM's chroot), the
/// service's, gone with the sandbox.
pub(crate) fn vm_dir() -> Result<ScratchDir, StartError> {
    ScratchDir::create(
        None,
        ScratchCap {
            bytes: 0,
            inodes: 0,
        },
    )
    .map_err(|source| StartError::Prepare {
        what: "the VM's directory",
        source,
    })
}

/// What every microVM offers besides its boundary: the guest's own confinement, the VMM's
/// cgroup on the host, processes held in the guest. `vmm` names the VMM.
pub(crate) fn guest_offers(host: &HostSupport, config: &EngineConfig, vmm: &str) -> Vec<Offer> {
    use Protection as P;
    let cg = host.cgroups.is_ok();
    vec![
        Offer::applies(
            P::Landlock,
            true,
            "in the guest's kernel, applied by the launcher in the guest: the image's files \
             read-only, /tmp read-write, no /proc, /sys or link device",
        ),
        Offer::applies(
            P::Seccomp,
            true,
            "node.json, installed by the launcher in the guest on Node",
        ),
        Offer::applies(
            P::CgroupMemory,
            true,
            if cg {
                format!(
                    "the sandbox's memory cgroup in the guest's kernel, held to the limit \
                     above what the ready sandbox uses, its OOM kills reported by the guest's \
                     pid 1; on the host, the VMM's cgroup (the whole VM: the guest RAM it \
                     touched and {vmm}'s own) with the same limit above what the ready VM uses \
                     as a backstop, and peak usage"
                )
            } else {
                format!(
                    "the sandbox's memory cgroup in the guest's kernel, held to the limit \
                     above what the ready sandbox uses, its OOM kills reported by the guest's \
                     pid 1; no peak usage ({})",
                    host.cgroup_detail("")
                )
            },
        ),
        Offer::applies(
            P::CgroupPids,
            true,
            format!(
                "RLIMIT_NPROC of the guest's uid 65534, which only the sandbox has: its \
                 processes + threads; the VMM's own threads held to {VMM_THREADS} by its \
                 cgroup where there is one"
            ),
        ),
        host.cpu_offer(config.cpu_ms_per_sec, "the VMM's cgroup: "),
    ]
}

/// Where the PATH is looked up when the service has none (as `execvp` does, and where
/// Debian's packages install).
const DEFAULT_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// The executable file `binary` names: a path, or a name on the PATH; `hint` says how to get
/// it where it is missing.
pub(crate) fn resolve(binary: &Path, hint: &str) -> Result<PathBuf, String> {
    let candidates: Vec<PathBuf> = if binary.components().count() > 1 {
        vec![binary.to_path_buf()]
    } else {
        let path = std::env::var_os("PATH").unwrap_or_else(|| DEFAULT_PATH.into());
        std::env::split_paths(&path)
            .map(|d| d.join(binary))
            .collect()
    };
    use std::os::unix::fs::PermissionsExt;
    candidates
        .into_iter()
        .find(|c| {
            std::fs::metadata(c).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
        .ok_or_else(|| format!("{} is not found ({hint})", binary.display()))
}
