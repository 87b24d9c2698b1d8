//! How Node is started in every backend: its flags, its command line, and what of the host a
//! sandbox sees of Node (its executables and device nodes).

use std::path::{Path, PathBuf};

use crate::config::EngineConfig;
use crate::launch::spec::RootEntry;
use crate::layout::NodeLayout;

/// Device nodes a sandbox gets (read-write; everything else of /dev is absent).
pub const DEVICES: [&str; 4] = ["/dev/null", "/dev/zero", "/dev/urandom", "/dev/random"];

/// Keeps V8 from drawing a new hash seed and rehashing Node's startup snapshot with it.
pub const NO_REHASH: &str = "--no-rehash-snapshot";

/// When the runner loads the allowed modules (lodash, dayjs, uuid, built-ins).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModuleLoading {
    /// Before the sandbox says it is ready: for sandboxes started ahead of their job.
    Eager,
    /// On first use: for a sandbox started for a job that is already waiting.
    Lazy,
}

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
    /// The runner may use its code caches (see [`NodeLayout::caches_trusted`]).
    pub caches: bool,
}

/// Node's command line: `node` and `runner_dir` as the sandbox sees them, Node's flags, the
/// snapshot if there is one, the runner.
pub fn node_argv(node: &Path, runner_dir: &Path, start: &RunnerStart) -> Vec<String> {
    let mut argv = vec![node.to_string_lossy().into_owned()];
    argv.extend(start.flags.iter().cloned());
    if let Some(blob) = &start.snapshot {
        argv.push("--snapshot-blob".into());
        argv.push(runner_dir.join(blob).to_string_lossy().into_owned());
    }
    argv.push(runner_dir.join("runner.js").to_string_lossy().into_owned());
    if start.snapshot.is_none() && start.modules == ModuleLoading::Lazy {
        argv.push("--lazy-modules".into());
    }
    if !start.caches {
        argv.push("--no-caches".into());
    }
    argv
}

/// Regular files of the layout that are executed (Node and its ELF interpreter), where the
/// sandbox sees them.
pub fn executables(layout: &NodeLayout) -> Vec<PathBuf> {
    executable_entries(layout).map(|(_, path)| path).collect()
}

/// [`executables`] at their host paths (backend landlock, which runs them there).
pub fn host_executables(layout: &NodeLayout) -> Vec<PathBuf> {
    executable_entries(layout)
        .map(|(source, _)| source)
        .collect()
}

fn executable_entries(layout: &NodeLayout) -> impl Iterator<Item = (PathBuf, PathBuf)> + '_ {
    layout.entries.iter().filter_map(|e| match e {
        RootEntry::Bind {
            source,
            path,
            exec: true,
            dir: false,
        } => Some((source.clone(), path.clone())),
        _ => None,
    })
}

/// The device nodes of [`DEVICES`] this host has.
pub fn devices() -> Vec<PathBuf> {
    DEVICES
        .iter()
        .map(PathBuf::from)
        .filter(|d| d.exists())
        .collect()
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
