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
    /// Node's flags (without a memory cgroup they cap V8's heap instead, which does not
    /// cover Buffers and WebAssembly memory) and how the runner starts.
    pub runner: RunnerStart,
}

/// Keeps V8 from drawing a new hash seed and rehashing Node's startup snapshot with it.
pub const NO_REHASH: &str = "--no-rehash-snapshot";

/// Node's flags: the configured ones, the hash-seed choice and V8's heap cap (where no
/// memory cgroup holds the limit). A runner startup snapshot is built for exactly these, and
/// the runner's code caches are looked up by them (its postinstall builds them for the
/// default flags with and without [`NO_REHASH`]).
pub fn node_flags(config: &EngineConfig, v8_heap_limit_mib: Option<u64>) -> Vec<String> {
    let mut flags = config.node_flags.clone();
    if !config.randomize_hash_seed {
        flags.push(NO_REHASH.into());
    }
    if let Some(mib) = v8_heap_limit_mib {
        flags.push(format!("--max-old-space-size={mib}"));
    }
    flags
}

/// How Node starts the runner: from its files, loading modules as `modules` says, or from a
/// startup snapshot (which holds every module already).
#[derive(Clone, Debug)]
pub struct RunnerStart {
    pub flags: Vec<String>,
    pub modules: ModuleLoading,
    /// The snapshot blob, relative to the runner directory.
    pub snapshot: Option<PathBuf>,
}

/// Node's command line: the binary, its flags, the snapshot if there is one, the runner in
/// `runner_dir` as the sandbox sees it.
pub fn node_argv(layout: &NodeLayout, runner_dir: &Path, start: &RunnerStart) -> Vec<String> {
    let mut argv = vec![layout.node.to_string_lossy().into_owned()];
    argv.extend(start.flags.iter().cloned());
    if let Some(blob) = &start.snapshot {
        argv.push("--snapshot-blob".into());
        argv.push(runner_dir.join(blob).to_string_lossy().into_owned());
    }
    argv.push(runner_dir.join("runner.js").to_string_lossy().into_owned());
    if start.snapshot.is_none() && start.modules == ModuleLoading::Lazy {
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
    let argv = node_argv(layout, Path::new(RUNNER_MOUNT), &choices.runner);
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The runner's code caches are found by Node's exact flags: its postinstall must build
    /// them for the flags sandboxes get by default, with and without a random hash seed.
    #[test]
    fn the_runner_builds_its_code_caches_for_the_default_flags() {
        let package = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../runner/package.json"),
        )
        .unwrap();
        let package: serde_json::Value = serde_json::from_str(&package).unwrap();
        let postinstall = package["scripts"]["postinstall"].as_str().unwrap();
        for randomize_hash_seed in [false, true] {
            let config = EngineConfig {
                randomize_hash_seed,
                ..EngineConfig::default()
            };
            let command = format!(
                "node {} build-cache.js",
                node_flags(&config, None).join(" ")
            );
            assert!(
                postinstall.split(" && ").any(|c| c == command),
                "{postinstall:?} lacks {command:?}"
            );
        }
        assert_eq!(
            package["scripts"]["build-cache"], package["scripts"]["postinstall"],
            "npm run build-cache rebuilds what npm ci built"
        );
    }
}
