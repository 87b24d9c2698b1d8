//! Faults around the service, each through a real `nodecell serve` (or `nodecell run`): the
//! server SIGKILLed mid-run, Node missing, /tmp full, the cgroup tree read-only, a damaged
//! runner snapshot. Each must give a clear error (or the documented fallback), never a crash
//! or a hang, and leave nothing behind. Mounts happen only in a private mount namespace held
//! by the test (see `serve::MountNs`), so nothing leaks to the host. Needs root.

mod common;
#[path = "faults/serve.rs"]
mod serve;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::json;
use serve::{nodecell, nodecell_cgroups_of, request, write_config, MountNs, Serve, TempDir};

/// One test at a time: each starts servers and counts what they leave.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> Option<MutexGuard<'static, ()>> {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: needs root");
        return None;
    }
    Some(SERIAL.lock().unwrap_or_else(|e| e.into_inner()))
}

fn target_tmp() -> &'static Path {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
}

fn entries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

/// Gone, or a zombie (its parent, if not init, has not reaped it yet).
fn gone(p: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{p}/stat")).map_or(true, |s| {
        s.rsplit(") ").next().is_some_and(|r| r.starts_with('Z'))
    })
}

fn message(v: &serde_json::Value) -> &str {
    v["error"]["message"].as_str().unwrap_or_default()
}

/// The server SIGKILLed while a run is in flight, on every backend: every process of its
/// sandboxes dies with it, and the next start sweeps its cgroups and scratch directories.
#[test]
fn a_sigkilled_server_leaves_nothing_and_the_next_start_sweeps() {
    let Some(_serial) = serial() else { return };
    for &backend in common::BACKENDS {
        if common::is_container_backend(backend) {
            a_sigkilled_server_leaves_no_container(backend);
            continue;
        }
        // Its own temp directory: the landlock backend's scratch parent lands there.
        let tmp = TempDir::new(&std::env::temp_dir(), &format!("kill-{backend}"));
        let top = format!("backend = \"{backend}\"");
        let (config, port) = write_config(&tmp.0, "first", &top, "", None);
        let mut server = Serve::start(&[], &config, port, &[("TMPDIR", &tmp.0)]);
        server.wait_ready();
        let pid = server.pid();
        let body = json!({"code": "while (true) {}", "limits": {"timeout_ms": 60000}});
        let client =
            std::thread::spawn(move || request(port, "POST", "/v1/execute", &body.to_string()));
        // Node, as the sandbox user, runs the job's busy loop (300 ms of CPU; a boot takes far less).
        let t0 = Instant::now();
        let tree = loop {
            let tree = nodecell::procfs::tree(pid);
            if tree.iter().any(|&p| {
                common::runs_as_sandbox_user(p)
                    && nodecell::procfs::cpu_ns(p).is_some_and(|ns| ns >= 300_000_000)
            }) {
                break tree;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(30),
                "{backend}: the job never ran"
            );
            std::thread::sleep(Duration::from_millis(10));
        };
        let groups: BTreeSet<PathBuf> = tree.iter().flat_map(|&p| nodecell_cgroups_of(p)).collect();
        let scratch_prefix = format!("nodecell-{pid}-scratch-");
        let scratch = |dir: &Path| -> Vec<String> {
            entries(dir)
                .into_iter()
                .filter(|e| e.starts_with(&scratch_prefix))
                .collect()
        };
        if backend == "landlock" {
            assert!(!scratch(&tmp.0).is_empty(), "the run's scratch directory");
        } else {
            assert!(!groups.is_empty(), "{backend}: the run's cgroups");
        }

        kill(Pid::from_raw(pid), Signal::SIGKILL).unwrap();
        server.child.wait().unwrap();
        let t0 = Instant::now();
        while !tree.iter().all(|&p| gone(p)) && t0.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(10));
        }
        let alive: Vec<String> = tree
            .iter()
            .filter(|&&p| !gone(p))
            .map(|p| std::fs::read_to_string(format!("/proc/{p}/stat")).unwrap_or_default())
            .collect();
        assert!(
            alive.is_empty(),
            "{backend}: survived the server: {alive:?}"
        );
        let answer = client.join().unwrap();
        assert!(
            !matches!(answer, Ok((200, _))),
            "{backend}: answered after a SIGKILL: {answer:?}"
        );

        // The next start (a fresh service, same temp directory) sweeps what the dead one left.
        let (config, port) = write_config(&tmp.0, "next", &top, "", None);
        let next = Serve::start(&[], &config, port, &[("TMPDIR", &tmp.0)]);
        next.wait_ready();
        let left: Vec<_> = groups.iter().filter(|g| g.exists()).collect();
        assert!(left.is_empty(), "{backend}: cgroups not swept: {left:?}");
        assert!(
            scratch(&tmp.0).is_empty(),
            "{backend}: scratch not swept: {:?}",
            entries(&tmp.0)
        );
        next.stop();
        let mut rest = entries(&tmp.0);
        rest.retain(|e| !e.ends_with(".toml"));
        assert!(rest.is_empty(), "{backend}: left in TMPDIR: {rest:?}");
    }
}

/// [`a_sigkilled_server_leaves_nothing_and_the_next_start_sweeps`] for a backend whose
/// sandboxes are containers: the attach streams of a dead server end, so its containers'
/// first processes end them (the run's and the warm ones), and the next server removes them.
fn a_sigkilled_server_leaves_no_container(backend: &str) {
    let tmp = TempDir::new(&std::env::temp_dir(), &format!("kill-{backend}"));
    let top = format!("backend = \"{backend}\"");
    let (config, port) = write_config(&tmp.0, "first", &top, "", None);
    let mut server = Serve::start(&[], &config, port, &[]);
    server.wait_ready();
    let pid = server.pid() as u32;
    let body = json!({"code": "while (true) {}", "limits": {"timeout_ms": 60000}});
    let client =
        std::thread::spawn(move || request(port, "POST", "/v1/execute", &body.to_string()));
    let t0 = Instant::now();
    while common::containers_of(pid).is_empty() {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "{backend}: no container"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // The job runs (a warm container takes it at once).
    std::thread::sleep(Duration::from_millis(1500));
    kill(Pid::from_raw(pid as i32), Signal::SIGKILL).unwrap();
    server.child.wait().unwrap();
    let t0 = Instant::now();
    while common::containers_of(pid)
        .iter()
        .any(|(_, state)| state == "running")
    {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "{backend}: a container survived the server: {:?}",
            common::containers_of(pid)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let answer = client.join().unwrap();
    assert!(
        !matches!(answer, Ok((200, _))),
        "{backend}: answered after a SIGKILL: {answer:?}"
    );
    let (config, port) = write_config(&tmp.0, "next", &top, "", None);
    let next = Serve::start(&[], &config, port, &[]);
    next.wait_ready();
    let left = common::containers_of(pid);
    assert!(left.is_empty(), "{backend}: containers not swept: {left:?}");
    let next_pid = next.pid() as u32;
    next.stop();
    let left = common::containers_of(next_pid);
    assert!(
        left.is_empty(),
        "{backend}: the stopped server left {left:?}"
    );
}

/// A node path that does not exist: a clear error when the service or a run starts; Node
/// gone while the service runs: a clear 503 per request (the service stays up) and runs
/// again once it is back.
#[test]
fn a_missing_node_is_a_clear_error() {
    let Some(_serial) = serial() else { return };
    let tmp = TempDir::new(target_tmp(), "node");
    let (config, _) = write_config(
        &tmp.0,
        "missing",
        "",
        "node_path = \"/nonexistent/node\"",
        None,
    );
    let o = nodecell(
        &[],
        &["serve", "--config", config.to_str().unwrap()],
        &[],
        "",
    );
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(64), "{stderr}");
    assert!(stderr.contains("/nonexistent/node"), "{stderr}");
    for &backend in common::BACKENDS {
        let env = [("NODECELL_NODE", "/nonexistent/node")];
        let o = nodecell(&[], &["run", "--backend", backend, "-"], &env, "return 1");
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(3), "{backend}: {stderr}");
        assert!(stderr.contains("/nonexistent/node"), "{backend}: {stderr}");
    }

    // A copy of node outside /tmp (the native backend's sandboxes have a /tmp of their own,
    // which would hide it; the checkout, and so the target directory, may be under /tmp).
    let outside = TempDir::new(Path::new("/var/tmp"), "node");
    let node = outside.0.join("node");
    std::fs::copy(common::node(), &node).unwrap();
    // On backend native's boot path: a zygote holds the Node it started with and serves on
    // until it is replaced (after `zygote_max_forks`); its replacement then fails alike.
    let engine = format!("node_path = {node:?}\n[engine.backends.native]\nzygote = false");
    let (config, port) = write_config(&tmp.0, "serve", "", &engine, None);
    let server = Serve::start(&[], &config, port, &[]);
    server.wait_ready();
    let away = outside.0.join("away");
    std::fs::rename(&node, &away).unwrap();
    for &backend in common::BACKENDS {
        // The warm sandbox, started before, may still run one job.
        let t0 = Instant::now();
        let v = loop {
            let (s, v) = server.execute(&json!({"code": "return 1", "backend": backend}));
            if s != 200 || v["status"] != "ok" {
                assert_eq!(s, 503, "{backend}: {v}");
                break v;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(30),
                "{backend}: still runs"
            );
        };
        assert_eq!(v["error"]["code"], "sandbox_unavailable", "{backend}: {v}");
        assert!(
            message(&v).contains(node.to_str().unwrap()),
            "{backend}: {v}"
        );
    }
    assert_eq!(server.get("/healthz").0, 200);
    assert_eq!(server.get("/readyz").0, 503);
    std::fs::rename(&away, &node).unwrap();
    for &backend in common::BACKENDS {
        let v = server.execute_until_ok(&json!({"code": "return 1", "backend": backend}));
        assert_eq!(v["result"], 1, "{backend}: {v}");
    }
    server.stop();
}

/// A full /tmp (a tiny tmpfs, in a private mount namespace): the landlock backend, whose
/// scratch directories live there, fails clearly (service and command); native and nsjail
/// give their sandboxes a /tmp of their own and do not need the host's.
#[test]
fn a_full_tmp_is_a_clear_error() {
    let Some(_serial) = serial() else { return };
    // The temp directory (TMPDIR), full: a small tmpfs filled up, mounted on a directory of
    // the test's rather than on /tmp, which would hide a checkout that is under /tmp.
    let full = TempDir::new(target_tmp(), "full");
    let ns = MountNs::new();
    ns.sh(&format!(
        "cd {dir:?} && mount -t tmpfs -o size=64k,nr_inodes=8 nodecell-test . && cd {dir:?} && \
         {{ dd if=/dev/zero of=fill bs=4k 2>/dev/null; i=0; while touch f$i 2>/dev/null; do i=$((i+1)); done; }}",
        dir = full.0
    ));
    let enter = ns.enter();
    let full_dir = full.0.to_str().unwrap();
    let o = nodecell(
        &enter,
        &["run", "--backend", "landlock", "-"],
        &[("TMPDIR", full_dir)],
        "return 1",
    );
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("No space left on device"), "{stderr}");

    let tmp = TempDir::new(target_tmp(), "tmp-full");
    let (config, port) = write_config(&tmp.0, "serve", "backend = \"landlock\"", "", None);
    let enter: Vec<&str> = enter.iter().map(String::as_str).collect();
    let server = Serve::start(&enter, &config, port, &[("TMPDIR", &full.0)]);
    let (s, v) = server.execute(&json!({"code": "return 1"}));
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (503, Some("sandbox_unavailable")),
        "{v}"
    );
    assert!(message(&v).contains("No space left on device"), "{v}");
    assert_eq!(server.get("/readyz").0, 503);
    for backend in ["native", "nsjail"] {
        let (s, v) = server.execute(&json!({"code": "return 1", "backend": backend}));
        assert_eq!(
            (s, v["status"].as_str()),
            (200, Some("ok")),
            "{backend}: {v}"
        );
    }
    assert_eq!(server.get("/healthz").0, 200);
    server.stop();
}

/// The cgroup tree read-only (remounted so in a private mount namespace). At start: the
/// documented fallback (V8's heap cap and the host's watchdog hold memory), or a clear
/// refusal where the configuration requires cgroups. While the service runs: a clear error
/// per run, no hang, runs again once the tree is writable, and the next start sweeps the
/// groups that could not be removed.
#[test]
fn a_read_only_cgroup_tree_falls_back_or_fails_clearly() {
    let Some(_serial) = serial() else { return };
    let tmp = TempDir::new(target_tmp(), "cgroup-ro");
    let ns = MountNs::new();
    let enter = ns.enter();
    let enter_str: Vec<&str> = enter.iter().map(String::as_str).collect();

    // While the service runs.
    let (config, port) = write_config(&tmp.0, "serve", "", "", None);
    let server = Serve::start(&enter_str, &config, port, &[]);
    server.wait_ready();
    let warm: BTreeSet<PathBuf> = nodecell::procfs::tree(server.pid())
        .into_iter()
        .flat_map(nodecell_cgroups_of)
        .collect();
    ns.cgroups_read_only(true);
    for &backend in common::BACKENDS {
        let (s, v) = server.execute(&json!({"code": "return 1", "backend": backend}));
        if backend == "landlock" {
            assert_eq!((s, v["status"].as_str()), (200, Some("ok")), "{v}");
            continue;
        }
        let clear = (s == 503 || (s == 200 && v["status"] == "crashed"))
            && message(&v).contains("Read-only file system");
        assert!(clear, "{backend}: {s} {v}");
    }
    assert_eq!(server.get("/healthz").0, 200);
    ns.cgroups_read_only(false);
    for &backend in common::BACKENDS {
        server.execute_until_ok(&json!({"code": "return 1", "backend": backend}));
    }
    server.stop();
    // What could not be removed while read-only goes with the next start's sweep.
    let o = nodecell(&[], &["run", "-"], &[], "return 1");
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let left: Vec<_> = warm.iter().filter(|g| g.exists()).collect();
    assert!(left.is_empty(), "cgroups left: {left:?}");

    // At start: the fallback.
    ns.cgroups_read_only(true);
    let bomb = "const keep = []; for (;;) keep.push(Buffer.alloc(16 << 20, 1));";
    for backend in ["native", "nsjail"] {
        let args = ["run", "--backend", backend, "--memory-mib", "64", "-"];
        let o = nodecell(&enter, &args, &[], "return 1");
        assert_eq!(
            o.status.code(),
            Some(0),
            "{backend}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let o = nodecell(&enter, &args, &[], bomb);
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let held = v["status"] == "memory_limit"
            || (v["status"] == "error" && common::is_allocation_failure(message(&v)));
        assert!(held, "{backend}: memory is held without cgroups: {v}");
    }
    let o = nodecell(&enter, &["check"], &[], "");
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("not supported here") && text.contains("Read-only file system"),
        "{text}"
    );
    // At start, cgroups required: a clear refusal.
    let engine = "required_protections = [\"cgroup_memory\"]";
    let (config, port) = write_config(&tmp.0, "required", "", engine, None);
    let server = Serve::start(&enter_str, &config, port, &[]);
    let (s, v) = server.get("/readyz");
    assert_eq!(s, 503, "{v}");
    let (s, v) = server.execute(&json!({"code": "return 1"}));
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (400, Some("backend_unavailable")),
        "{v}"
    );
    assert!(message(&v).contains("cgroup_memory is required"), "{v}");
    assert!(message(&v).contains("Read-only file system"), "{v}");
    server.stop();
}

/// A damaged runner snapshot (garbage, truncated, empty; owned and moded as the service
/// writes it): found at start or while serving, it is built again and runs go on.
#[test]
fn a_damaged_runner_snapshot_is_built_again() {
    let Some(_serial) = serial() else { return };
    let tmp = TempDir::new(target_tmp(), "snapshot");
    let runner = tmp.0.join("runner");
    let cp = std::process::Command::new("cp")
        .arg("-a")
        .arg(common::config().runner_dir)
        .arg(&runner)
        .status()
        .unwrap();
    assert!(cp.success());
    let _ = std::fs::remove_dir_all(runner.join(".snapshot"));
    // The snapshot is what the boot path starts Node from (a zygote boots from files once).
    let boot_path = "[engine.backends.native]\nzygote = false";
    let (config, port) = write_config(&tmp.0, "build", "", boot_path, Some(&runner));
    let server = Serve::start(&[], &config, port, &[]);
    server.wait_ready();
    server.stop();
    let snapshots = runner.join(".snapshot");
    let blob = std::fs::read_dir(&snapshots)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "blob"))
        .unwrap_or_else(|| panic!("no blob in {:?}", entries(&snapshots)));
    let good = std::fs::read(&blob).unwrap();
    // Read while it may be being built again (removed, then renamed into place).
    let damaged = |damage: &[u8]| std::fs::read(&blob).map_or(true, |b| b == damage);
    for damage in [&b"garbage"[..], &good[..good.len() / 2], b""] {
        std::fs::write(&blob, damage).unwrap();
        let (config, port) = write_config(&tmp.0, "serve", "", boot_path, Some(&runner));
        let server = Serve::start(&[], &config, port, &[]);
        // The warm sandbox starts from the blob, built again.
        server.wait_ready();
        assert!(!damaged(damage), "built again at start");
        for &backend in common::BACKENDS {
            let v = server.execute_until_ok(&json!({"code": "return 1", "backend": backend}));
            assert_eq!(v["result"], 1, "{backend}: {v}");
        }
        // Damaged while serving: the next sandbox fails to start, the ones after run.
        std::fs::write(&blob, damage).unwrap();
        let t0 = Instant::now();
        while damaged(damage) {
            server.execute_until_ok(&json!({"code": "return 1"}));
            assert!(t0.elapsed() < Duration::from_secs(30), "never built again");
            std::thread::sleep(Duration::from_millis(100));
        }
        server.wait_ready();
        server.execute_until_ok(&json!({"code": "return 1"}));
        server.stop();
    }
}

/// A unix-socket proxy to the Docker Engine, which the test stops (every connection cut,
/// the socket gone: the engine as nodecell sees it has died) and starts again.
struct EngineProxy {
    at: PathBuf,
    rt: tokio::runtime::Runtime,
    tasks: Option<tokio::task::JoinSet<()>>,
}

impl EngineProxy {
    fn new(at: PathBuf) -> EngineProxy {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let mut proxy = EngineProxy {
            at,
            rt,
            tasks: None,
        };
        proxy.start();
        proxy
    }

    fn start(&mut self) {
        let engine = std::env::var("DOCKER_HOST")
            .unwrap_or_else(|_| "unix:///var/run/docker.sock".into())
            .trim_start_matches("unix://")
            .to_string();
        let _ = std::fs::remove_file(&self.at);
        let _guard = self.rt.enter();
        let listener = tokio::net::UnixListener::bind(&self.at).unwrap();
        let mut tasks = tokio::task::JoinSet::new();
        tasks.spawn(async move {
            let mut conns = tokio::task::JoinSet::new();
            while let Ok((mut client, _)) = listener.accept().await {
                let engine = engine.clone();
                conns.spawn(async move {
                    if let Ok(mut up) = tokio::net::UnixStream::connect(&engine).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut up).await;
                    }
                });
            }
        });
        self.tasks = Some(tasks);
    }

    fn stop(&mut self) {
        if let Some(mut tasks) = self.tasks.take() {
            // Aborting the accept task drops its connection set: every connection is cut.
            tasks.abort_all();
            self.rt
                .block_on(async { while tasks.join_next().await.is_some() {} });
        }
        let _ = std::fs::remove_file(&self.at);
    }
}

/// The engine of the docker backend goes away under a running service: each request gets a
/// 503 that says why and /readyz is not ready, never a hang; when the engine is back, the
/// pool recovers by itself. What the lost engine kept (stopped containers) the next start
/// of a nodecell removes once their owner is gone.
#[test]
fn a_container_engine_that_goes_away_is_a_clear_503_and_the_pool_recovers() {
    let Some(_serial) = serial() else { return };
    if let Err(e) = nodecell::docker::EngineFacts::probe(None) {
        if std::env::var_os("NODECELL_TEST_SKIP_UNAVAILABLE").is_some() {
            eprintln!("skipped: {e}");
            return;
        }
        panic!("no Docker Engine here (scripts/dockerd.sh start): {e}");
    }
    let tmp = TempDir::new(target_tmp(), "engine-away");
    let socket = tmp.0.join("docker.sock");
    let mut proxy = EngineProxy::new(socket.clone());
    let engine = format!("[engine.backends.docker]\nsocket = {socket:?}");
    let (config, port) = write_config(&tmp.0, "away", "backend = \"docker\"", &engine, None);
    let server = Serve::start(&[], &config, port, &[]);
    server.wait_ready();
    let pid = server.pid() as u32;
    let v = server.execute_until_ok(&json!({"code": "return 1"}));
    assert_eq!(v["result"], 1, "{v}");

    proxy.stop();
    let t0 = Instant::now();
    let v = loop {
        let (s, v) = server.execute(&json!({"code": "return 2"}));
        if s == 503 {
            break v;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "still answers {s}: {v}"
        );
    };
    assert_eq!(v["error"]["code"], "sandbox_unavailable", "{v}");
    assert!(message(&v).contains(socket.to_str().unwrap()), "{v}");
    let t0 = Instant::now();
    while server.get("/readyz").0 != 503 {
        assert!(t0.elapsed() < Duration::from_secs(10), "still ready");
        std::thread::sleep(Duration::from_millis(50));
    }

    proxy.start();
    let v = server.execute_until_ok(&json!({"code": "return 3"}));
    assert_eq!(v["result"], 3, "{v}");
    let t0 = Instant::now();
    while server.get("/readyz").0 != 200 {
        assert!(t0.elapsed() < Duration::from_secs(30), "never ready again");
        std::thread::sleep(Duration::from_millis(50));
    }
    server.stop();
    proxy.stop();
    // A run of another nodecell sweeps what the gone one could not remove.
    let o = nodecell(&[], &["run", "--backend", "docker", "-"], &[], "return 1");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let left = common::containers_of(pid);
    assert!(left.is_empty(), "containers left: {left:?}");
}
