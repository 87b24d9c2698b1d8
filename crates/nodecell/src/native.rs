//! The native backend: nodecell's own launcher, with namespaces, a minimal root, Landlock,
//! seccomp and cgroups. This module renders the launch spec of one native sandbox.

use std::path::PathBuf;

use crate::config::EngineConfig;
use crate::launch::spec::{LandlockSpec, LaunchSpec, Rlimit, RlimitResource, RootEntry, RootFs};
use crate::layout::{NodeLayout, RUNNER_MOUNT};
use crate::limits::Limits;

/// Device nodes a sandbox gets (read-write; everything else of /dev is absent).
pub const DEVICES: [&str; 4] = ["/dev/null", "/dev/zero", "/dev/urandom", "/dev/random"];

/// What the enforcement decision says to apply, and how the runner loads its modules.
pub struct NativeChoices {
    pub seccomp: bool,
    pub landlock: bool,
    pub landlock_required: bool,
    pub modules: crate::engine::ModuleLoading,
    /// Without a memory cgroup, V8's heap is capped instead (Buffers and WebAssembly
    /// memory are not covered by this).
    pub v8_heap_limit_mib: Option<u64>,
}

pub fn launch_spec(
    layout: &NodeLayout,
    config: &EngineConfig,
    limits: &Limits,
    choices: &NativeChoices,
) -> LaunchSpec {
    let executables: Vec<PathBuf> = layout
        .entries
        .iter()
        .filter_map(|e| match e {
            RootEntry::Bind {
                path,
                exec: true,
                dir: false,
                ..
            } => Some(path.clone()),
            _ => None,
        })
        .collect();
    let devices: Vec<PathBuf> = DEVICES
        .iter()
        .map(PathBuf::from)
        .filter(|d| d.exists())
        .collect();
    let mut argv = vec![layout.node.to_string_lossy().into_owned()];
    argv.extend(config.node_flags.iter().cloned());
    if let Some(mib) = choices.v8_heap_limit_mib {
        argv.push(format!("--max-old-space-size={mib}"));
    }
    argv.push(format!("{RUNNER_MOUNT}/runner.js"));
    if choices.modules == crate::engine::ModuleLoading::Lazy {
        argv.push("--lazy-modules".into());
    }
    LaunchSpec {
        namespaces: true,
        rootfs: Some(RootFs {
            entries: layout.entries.clone(),
            devices: devices.clone(),
            tmp_size_bytes: limits.tmp_size_mib << 20,
            tmp_inodes: (limits.tmp_size_mib * 256).max(1024),
        }),
        rlimits: vec![
            Rlimit {
                resource: RlimitResource::Nofile,
                value: limits.max_open_files,
            },
            Rlimit {
                resource: RlimitResource::Nproc,
                value: limits.max_processes,
            },
            Rlimit {
                resource: RlimitResource::Core,
                value: 0,
            },
            Rlimit {
                resource: RlimitResource::Fsize,
                value: limits.tmp_size_mib << 20,
            },
        ],
        landlock: choices.landlock.then(|| LandlockSpec {
            read: vec!["/".into()],
            read_write: vec!["/tmp".into()],
            execute: executables,
            devices,
            required: choices.landlock_required,
        }),
        seccomp: choices.seccomp,
        env: config.sandbox_env.clone(),
        argv,
        cwd: "/tmp".into(),
        hostname: "nodecell".into(),
    }
}
