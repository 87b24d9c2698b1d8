//! Shared by the integration tests: an engine wired to this build's launcher and the repo's
//! runner.
#![allow(dead_code)]

use std::path::PathBuf;

use nodecell::{Engine, EngineConfig};

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

pub fn config() -> EngineConfig {
    EngineConfig {
        launcher_path: env!("CARGO_BIN_EXE_nodecell-launcher").into(),
        runner_dir: repo().join("runner"),
        ..EngineConfig::default()
    }
}

pub fn engine() -> Engine {
    Engine::new(config()).expect("engine starts (did `npm ci` run in runner/?)")
}

/// cgroups of this test process still present in any hierarchy.
pub fn leftover_cgroups() -> Vec<PathBuf> {
    let prefix = format!("nodecell-{}-", std::process::id());
    let mut out = Vec::new();
    for h in ["memory", "pids", "cpuacct", ""] {
        if let Ok(dir) = std::fs::read_dir(PathBuf::from("/sys/fs/cgroup").join(h)) {
            out.extend(
                dir.flatten()
                    .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
                    .map(|e| e.path()),
            );
        }
    }
    out
}
