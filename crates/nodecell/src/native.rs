//! The native backend: nodecell's own launcher, with namespaces, a minimal root, Landlock,
//! seccomp and cgroups. This module renders the launch spec of one native sandbox.

use std::path::{Path, PathBuf};

use crate::config::EngineConfig;
use crate::engine::ModuleLoading;
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
    pub modules: ModuleLoading,
    /// Without a memory cgroup, V8's heap is capped instead (Buffers and WebAssembly
    /// memory are not covered by this).
    pub v8_heap_limit_mib: Option<u64>,
}

/// Node's command line: the binary, the configured flags, V8's heap cap (where no memory
/// cgroup holds the limit), the runner in `runner_dir` as the sandbox sees it.
pub fn node_argv(
    layout: &NodeLayout,
    config: &EngineConfig,
    runner_dir: &Path,
    modules: ModuleLoading,
    v8_heap_limit_mib: Option<u64>,
) -> Vec<String> {
    let mut argv = vec![layout.node.to_string_lossy().into_owned()];
    argv.extend(config.node_flags.iter().cloned());
    if let Some(mib) = v8_heap_limit_mib {
        argv.push(format!("--max-old-space-size={mib}"));
    }
    argv.push(runner_dir.join("runner.js").to_string_lossy().into_owned());
    if modules == ModuleLoading::Lazy {
        argv.push("--lazy-modules".into());
    }
    argv
}

/// Regular files of the layout that are executed (Node and its ELF interpreter).
pub fn executables(layout: &NodeLayout) -> Vec<PathBuf> {
    layout
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
        .collect()
}

/// The device nodes of [`DEVICES`] this host has.
pub fn devices() -> Vec<PathBuf> {
    DEVICES
        .iter()
        .map(PathBuf::from)
        .filter(|d| d.exists())
        .collect()
}

pub fn launch_spec(
    layout: &NodeLayout,
    config: &EngineConfig,
    limits: &Limits,
    choices: &NativeChoices,
) -> LaunchSpec {
    let executables = executables(layout);
    let devices = devices();
    let argv = node_argv(
        layout,
        config,
        Path::new(RUNNER_MOUNT),
        choices.modules,
        choices.v8_heap_limit_mib,
    );
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
