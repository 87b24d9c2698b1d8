//! Engine behaviour checked from the host: what every sandboxed thread is subject to, fail
//! closed, and nothing left behind.

mod common;

use nodecell::{
    EngineConfig, ExecRequest, LimitOverrides, Limits, ModuleLoading, Prelaunch, Protection,
    RequestError, RunError, Status, Work,
};
use std::path::PathBuf;

/// Tests that start sandboxes run one at a time: some check that no cgroup of this process is
/// left, which only means something while no other run of it is in flight.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn native(engine: &nodecell::Engine) -> nodecell::BackendId {
    engine.backend("native").unwrap()
}

/// The tests' lists of backends (every suite's, and the microVM ones') are the registry's.
#[test]
fn the_tests_cover_every_registered_backend() {
    let tested = [common::BACKENDS, common::VM_BACKENDS, common::KVM_BACKENDS].concat();
    assert_eq!(tested, nodecell::backend::names());
}

fn req(code: &str) -> ExecRequest {
    ExecRequest {
        code: code.into(),
        ..Default::default()
    }
}

/// Host pids of every process below `pid`.
fn descendants(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let mut stack = vec![pid];
    while let Some(p) = stack.pop() {
        let tasks = std::fs::read_dir(format!("/proc/{p}/task"))
            .map(|d| d.flatten().collect::<Vec<_>>())
            .unwrap_or_default();
        for t in tasks {
            if let Ok(children) = std::fs::read_to_string(t.path().join("children")) {
                for c in children.split_whitespace().filter_map(|c| c.parse().ok()) {
                    out.push(c);
                    stack.push(c);
                }
            }
        }
    }
    out
}

fn status_field<'a>(status: &'a str, key: &str) -> &'a str {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .map(str::trim)
        .unwrap_or("")
}

#[tokio::test]
async fn every_node_thread_is_confined() {
    let _serial = SERIAL.lock().await;
    let engine = common::engine();
    let sandbox = engine
        .start(native(&engine), &Limits::default(), ModuleLoading::Eager)
        .await
        .unwrap();
    let report = sandbox.launch_report().clone();
    assert_eq!(report.landlock, nodecell::LandlockStatus::FullyEnforced);
    assert!(report.seccomp && report.no_new_privs && report.capabilities_dropped);
    // Node's processes: the same file as the configured binary (inside, it is bound at
    // /usr/local/bin/node, which /proc/<pid>/exe shows).
    let id = |m: std::fs::Metadata| {
        use std::os::unix::fs::MetadataExt;
        (m.dev(), m.ino())
    };
    let node = id(std::fs::metadata(common::config().node_path).unwrap());
    let mut threads = 0;
    // The sandbox's program and what it started (a sandbox forked from a zygote is Node).
    let program = sandbox.pid().unwrap();
    for pid in std::iter::once(program).chain(descendants(program)) {
        if std::fs::metadata(format!("/proc/{pid}/exe")).ok().map(id) != Some(node) {
            continue;
        }
        for t in std::fs::read_dir(format!("/proc/{pid}/task"))
            .unwrap()
            .flatten()
        {
            let status = std::fs::read_to_string(t.path().join("status")).unwrap();
            threads += 1;
            assert_eq!(
                status_field(&status, "Seccomp:"),
                "2",
                "thread {:?}",
                t.path()
            );
            assert_eq!(status_field(&status, "NoNewPrivs:"), "1");
            assert_eq!(status_field(&status, "CapEff:"), "0000000000000000");
            assert_eq!(status_field(&status, "CapPrm:"), "0000000000000000");
            assert_eq!(status_field(&status, "CapBnd:"), "0000000000000000");
            let uid = status_field(&status, "Uid:");
            assert!(
                uid.split_whitespace().all(|u| u != "0"),
                "a Node thread runs as host root: {uid}"
            );
        }
        // Node sits in the run's cgroups (memory, pids) before any job is sent.
        let membership = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
        for dir in sandbox.cgroup_dirs() {
            let name = dir.file_name().unwrap().to_string_lossy().into_owned();
            let controller = dir
                .parent()
                .unwrap()
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned();
            assert!(
                membership
                    .lines()
                    .any(|l| l.contains(&controller) && l.ends_with(&format!("/{name}"))),
                "Node is not in {}: {membership}",
                dir.display()
            );
        }
        let ns = |p: u32, n: &str| std::fs::read_link(format!("/proc/{p}/ns/{n}")).unwrap();
        for n in ["user", "pid", "mnt", "net", "ipc", "uts", "cgroup"] {
            assert_ne!(
                ns(pid, n),
                ns(std::process::id(), n),
                "{n} namespace is the host's"
            );
        }
    }
    // A zygote's child, forked from a single-threaded Node, has no helper threads yet.
    let least = if common::zygote() { 1 } else { 5 };
    assert!(threads >= least, "found only {threads} Node threads");
    let outcome = sandbox
        .execute(
            &Work::code("return 1", &Default::default()),
            &Limits::default(),
            None,
        )
        .await;
    assert_eq!(outcome.status, Status::Ok);
}

#[tokio::test]
async fn a_killed_run_leaves_nothing_behind() {
    let _serial = SERIAL.lock().await;
    let engine = common::engine();
    let sandbox = engine
        .start(native(&engine), &Limits::default(), ModuleLoading::Eager)
        .await
        .unwrap();
    let launcher = sandbox.pid().unwrap();
    let cgroups = sandbox.cgroup_dirs();
    assert!(!cgroups.is_empty());
    let tree = descendants(launcher);
    // launcher → init → node; a sandbox forked from a zygote is its Node.
    assert!(tree.len() >= 2 || common::zygote(), "{tree:?}");
    let code = "process.getBuiltinModule('child_process').spawn(process.execPath, ['-e', 'setInterval(()=>{},1000)'], {detached: true, stdio: 'ignore'}).unref(); while (true) {}";
    let limits = Limits {
        timeout_ms: 300,
        ..Limits::default()
    };
    let outcome = sandbox
        .execute(&Work::code(code, &Default::default()), &limits, None)
        .await;
    assert_eq!(outcome.status, Status::Timeout, "{outcome:?}");
    for pid in std::iter::once(launcher).chain(tree) {
        let alive = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| !s.contains(") Z "))
            .unwrap_or(false);
        assert!(!alive, "process {pid} of the sandbox is still alive");
    }
    for dir in cgroups {
        assert!(!dir.exists(), "{} is left", dir.display());
    }
}

#[tokio::test]
async fn a_required_protection_the_host_lacks_fails_closed() {
    let _serial = SERIAL.lock().await;
    let config = EngineConfig {
        cgroup_root: PathBuf::from("/nonexistent-cgroup-root"),
        required_protections: Some(vec![Protection::CgroupMemory]),
        ..common::config()
    };
    let engine = nodecell::Engine::new(config).unwrap();
    let report = engine.report(native(&engine));
    assert!(!report.available);
    assert!(
        report.problems.iter().any(|p| p.contains("cgroup_memory")),
        "{:?}",
        report.problems
    );
    match engine.run(&req("return 1")).await {
        Err(RunError::Request(RequestError::BackendUnavailable { reason, .. })) => {
            assert!(reason.contains("cgroup_memory"))
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn without_requirements_unsupported_protections_are_reported_not_faked() {
    let _serial = SERIAL.lock().await;
    let config = EngineConfig {
        cgroup_root: PathBuf::from("/nonexistent-cgroup-root"),
        ..common::config()
    };
    let engine = nodecell::Engine::new(config).unwrap();
    let report = engine.report(native(&engine));
    assert!(report.available);
    assert!(!report.enforces(Protection::CgroupMemory));
    let job = "const held = Buffer.alloc(16 << 20, 1); const end = Date.now() + 100; \
               while (Date.now() < end); return held.length > 0 ? 2 : 0";
    let outcome = engine.run(&req(job)).await.unwrap();
    assert_eq!(outcome.status, Status::Ok, "{outcome:?}");
    assert_eq!(outcome.result.as_ref().unwrap().to_value(), 2);
    assert!(
        outcome.usage.memory_peak_bytes >= 16 << 20 && outcome.usage.cpu_ms >= 50.0,
        "without a cgroup, usage comes from /proc (CPU in 10 ms ticks, memory above the \
         sandbox's baseline): {:?}",
        outcome.usage
    );
    let bomb = ExecRequest {
        limits: LimitOverrides {
            memory_mib: Some(64),
            timeout_ms: Some(20_000),
            ..Default::default()
        },
        ..req("const keep = []; for (;;) keep.push(Buffer.alloc(16 << 20, 1));")
    };
    let outcome = engine.run(&bomb).await.unwrap();
    // Contained either way: the watchdog kills the run, or RLIMIT_DATA (set per job by the
    // host) makes the allocation fail.
    let refused = outcome.status == Status::Error
        && outcome
            .error
            .as_ref()
            .is_some_and(|e| common::is_allocation_failure(&e.message));
    assert!(
        outcome.status == Status::MemoryLimit || refused,
        "Buffers are held to the limit without a cgroup: {outcome:?}"
    );
    assert!(
        outcome.usage.memory_peak_bytes < 96 << 20,
        "{:?}",
        outcome.usage
    );
}

#[tokio::test]
async fn bad_requests_are_refused_before_anything_starts() {
    let _serial = SERIAL.lock().await;
    let engine = common::engine();
    let big = ExecRequest {
        code: "x".repeat(2 << 20),
        ..Default::default()
    };
    assert!(matches!(
        engine.run(&big).await,
        Err(RunError::Request(RequestError::CodeTooLarge { .. }))
    ));
    let over = ExecRequest {
        limits: LimitOverrides {
            memory_mib: Some(1 << 30),
            ..Default::default()
        },
        ..req("1")
    };
    assert!(matches!(
        engine.run(&over).await,
        Err(RunError::Request(RequestError::Limit(_)))
    ));
    let unknown = ExecRequest {
        backend: Some("bochs".into()),
        ..req("1")
    };
    let err = engine.run(&unknown).await.unwrap_err();
    assert_eq!(err.code(), "unknown_backend");
    assert!(err.to_string().contains("bochs"));
}

#[tokio::test]
async fn usage_is_measured_by_the_host() {
    let _serial = SERIAL.lock().await;
    let engine = common::engine();
    // Busy for at least 50 ms of wall time and 50 ms of the process's CPU time: on a machine
    // where other tests compete for the CPUs, a loop bounded by wall time alone may get
    // less than 40 ms of CPU.
    let code = "Date.now = () => 0; process.hrtime = () => [0, 0]; const t = performance.now(); \
                const c = process.cpuUsage(); const cpu = () => { const u = process.cpuUsage(c); return u.user + u.system; }; \
                while (performance.now() - t < 50 || cpu() < 50000) {} return 'done'";
    let outcome = engine.run(&req(code)).await.unwrap();
    assert_eq!(outcome.status, Status::Ok);
    assert!(outcome.usage.wall_ms >= 50.0, "{:?}", outcome.usage);
    assert!(outcome.usage.cpu_ms >= 40.0, "{:?}", outcome.usage);
    assert!(
        outcome.usage.memory_peak_bytes > 1 << 20,
        "{:?}",
        outcome.usage
    );
}

#[tokio::test]
async fn concurrent_runs_do_not_see_each_other() {
    let _serial = SERIAL.lock().await;
    let engine = std::sync::Arc::new(common::engine());
    let code = "const fs = process.getBuiltinModule('fs'); const seen = fs.readdirSync('/tmp'); fs.writeFileSync('/tmp/mark-' + inputs.n, 'x'); globalThis.leak = inputs.n; await new Promise(r => setTimeout(r, 100)); return {seen: seen.length, after: fs.readdirSync('/tmp').length, uuid: crypto.randomUUID()}";
    let mut tasks = Vec::new();
    for n in 0..4 {
        let engine = engine.clone();
        let mut r = req(code);
        r.inputs = serde_json::Map::from_iter([("n".to_string(), n.into())]).into();
        tasks.push(tokio::spawn(async move { engine.run(&r).await.unwrap() }));
    }
    let mut uuids = std::collections::HashSet::new();
    for t in tasks {
        let o = t.await.unwrap();
        assert_eq!(o.status, Status::Ok, "{o:?}");
        let r = o.result.unwrap().to_value();
        assert_eq!(
            (r["seen"].as_u64(), r["after"].as_u64()),
            (Some(0), Some(1)),
            "{r}"
        );
        uuids.insert(r["uuid"].as_str().unwrap().to_string());
    }
    assert_eq!(uuids.len(), 4, "random state is shared between sandboxes");
}

/// The cpu cgroup holds a sandbox to `cpu_ms_per_sec`, however many threads it busies:
/// three threads spinning for 2 s of wall time may use at most ~0.2 × 2 s of CPU (plus one
/// period's quota: nsjail uses 1 s periods, nodecell 100 ms). Unlimited, they would use
/// about 2 s per free CPU.
#[tokio::test]
async fn cpu_bandwidth_is_held_to_cpu_ms_per_sec() {
    let _serial = SERIAL.lock().await;
    let config = EngineConfig {
        cpu_ms_per_sec: 200,
        ..common::config()
    };
    let engine = nodecell::Engine::new(config).unwrap();
    let code = "const { Worker } = process.getBuiltinModule('worker_threads'); \
                const spin = 'const t = Date.now(); while (Date.now() - t < 2000) {}'; \
                const ws = [0, 1].map(() => new Worker(spin, { eval: true })); \
                const t = Date.now(); while (Date.now() - t < 2000) {} \
                await Promise.all(ws.map((w) => new Promise((r) => w.on('exit', r)))); return 1";
    for name in ["native", "nsjail"] {
        let Some(backend) = common::backend_or_skip(&engine, name) else {
            continue;
        };
        let report = engine.report(backend);
        assert!(report.enforces(Protection::CgroupCpu), "{report:?}");
        let r = ExecRequest {
            backend: Some(name.into()),
            ..req(code)
        };
        let outcome = engine.run(&r).await.unwrap();
        assert_eq!(outcome.status, Status::Ok, "{name}: {outcome:?}");
        // Three threads spin for 2 s: unlimited, ~4 s of CPU on 2 cores. Held to 200 ms per
        // second of the run's wall time (however long a loaded machine makes it): allowed
        // twice that, for the accounting's granularity and what ends after the job.
        let allowed = outcome.usage.wall_ms * 0.4 + 100.0;
        assert!(
            outcome.usage.cpu_ms > 50.0 && outcome.usage.cpu_ms < allowed,
            "{name}: {:?}, allowed {allowed} ms",
            outcome.usage
        );
    }
    // Off by configuration: reported as such, and not required.
    let off = nodecell::Engine::new(EngineConfig {
        cpu_ms_per_sec: 0,
        ..common::config()
    })
    .unwrap();
    let state = off
        .report(native(&engine))
        .protections
        .iter()
        .find(|p| p.protection == Protection::CgroupCpu)
        .unwrap();
    assert!(!state.enforced && !state.required, "{state:?}");
    assert!(state.detail.contains("cpu_ms_per_sec = 0"), "{state:?}");
    let err = nodecell::Engine::new(EngineConfig {
        cpu_ms_per_sec: 5,
        ..common::config()
    })
    .err()
    .expect("a CPU limit below the kernel's minimum is refused");
    assert!(err.to_string().contains("cpu_ms_per_sec"), "{err}");
}

/// Whether `pid` is gone (or a zombie, which nothing runs in any more).
fn gone(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            s.rsplit(") ")
                .next()
                .is_some_and(|rest| rest.starts_with('Z'))
        })
        .unwrap_or(true)
}

async fn wait_gone(pids: &[u32]) {
    for _ in 0..200 {
        if pids.iter().all(|&p| gone(p)) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("still running: {pids:?}");
}

/// A launcher started before the spec (as `nodecell run` does) runs the request of its
/// backend; for another backend, or a request refused, it is killed with its namespaces'
/// init, and nothing of it is left.
#[tokio::test]
async fn a_prelaunched_launcher_is_used_or_leaves_nothing() {
    let _serial = SERIAL.lock().await;
    let engine = common::engine();
    let config = common::config();
    let launch = || Prelaunch::for_backend(&config, "native").unwrap().unwrap();

    let pre = launch();
    let pid = pre.pid().unwrap();
    let outcome = engine
        .run_prelaunched(&req("return 6 * 7"), Some(pre))
        .await
        .unwrap();
    assert_eq!(
        outcome.result.as_ref().map(|r| r.to_value()),
        Some(serde_json::json!(42)),
        "{outcome:?}"
    );
    assert_eq!(outcome.backend, "native");
    wait_gone(&[pid]).await;

    for request in [
        ExecRequest {
            backend: Some("landlock".into()),
            ..req("return 1")
        },
        ExecRequest {
            limits: LimitOverrides {
                memory_mib: Some(1 << 20),
                ..Default::default()
            },
            ..req("return 1")
        },
    ] {
        let pre = launch();
        let pid = pre.pid().unwrap();
        // Its init exists as soon as the namespaces do (the spec is not needed for that).
        let mut family = vec![pid];
        for _ in 0..200 {
            family = std::iter::once(pid).chain(descendants(pid)).collect();
            if family.len() > 1 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        assert!(family.len() > 1, "init was not created before the spec");
        let result = engine.run_prelaunched(&request, Some(pre)).await;
        match &request.backend {
            Some(_) => assert_eq!(result.unwrap().backend, "landlock"),
            None => assert!(matches!(result, Err(RunError::Request(_))), "{result:?}"),
        }
        wait_gone(&family).await;
    }
    common::assert_no_leftover_cgroups();
}

/// The runner's module tables hold its own sources: one planted in a `.v8cache` that
/// someone else may write would run as the runner, before the job, in every sandbox. The
/// host then tells the runner not to use its caches. (Positive control: with the directory
/// written only by us, the same planted table does run.)
#[tokio::test]
async fn a_planted_module_table_runs_only_where_only_we_could_have_planted_it() {
    let _serial = SERIAL.lock().await;
    use std::os::unix::fs::PermissionsExt;
    let copy = std::env::temp_dir().join(format!("nodecell-planted-table-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&copy);
    // Removed however the test ends.
    struct Removed<'a>(&'a std::path::Path);
    impl Drop for Removed<'_> {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(self.0);
        }
    }
    let _removed = Removed(&copy);
    let status = std::process::Command::new("cp")
        .args(["-a"])
        .arg(common::repo().join("runner"))
        .arg(&copy)
        .status()
        .unwrap();
    assert!(status.success());
    let _ = std::fs::remove_dir_all(copy.join(".snapshot"));
    // Every main table becomes one whose lib/main.js (with the real file's size and mtime,
    // as the runner checks) writes a marker on stderr and exits before the runner is ready.
    let plant = r#"
        const fs = require('fs'), dir = process.argv[1] + '/.v8cache';
        const st = fs.statSync(process.argv[1] + '/lib/main.js');
        const src = "(function (exports, require, module) { module.exports = { start() { " +
            "require('fs').writeSync(2, 'PLANTED'); process.exit(0); } }; \n});";
        const header = Buffer.from(JSON.stringify({ node: process.version,
            files: [['lib/main.js', st.size, st.mtimeMs, Buffer.byteLength(src), 0]] }));
        const len = Buffer.alloc(4); len.writeUInt32BE(header.length);
        for (const f of fs.readdirSync(dir)) {
            if (/^v[0-9.]+-[a-z0-9]+-[0-9a-f]{8}\.table$/.test(f))
                fs.writeFileSync(dir + '/' + f, Buffer.concat([len, header, Buffer.from(src)]));
        }"#;
    let status = std::process::Command::new(common::node())
        .args(["-e", plant])
        .arg(&copy)
        .env_remove("NODE_EXTRA_CA_CERTS")
        .status()
        .unwrap();
    assert!(status.success());
    let run = |mode: u32| {
        std::fs::set_permissions(copy.join(".v8cache"), std::fs::Permissions::from_mode(mode))
            .unwrap();
        let mut config = EngineConfig {
            runner_dir: copy.clone(),
            runner_snapshot: false,
            ..common::config()
        };
        config.backends.native.zygote = false; // module tables are the boot path's
        let engine = nodecell::Engine::new(config).unwrap();
        async move { engine.run(&req("return 1")).await }
    };
    let trusted = run(0o755).await.unwrap_err().to_string();
    assert!(
        trusted.contains("PLANTED"),
        "the control did not plant: {trusted}"
    );
    let open = run(0o777).await.unwrap();
    assert_eq!(open.status, Status::Ok, "{open:?}");
    assert_eq!(
        open.result.as_ref().map(|r| r.to_value()),
        Some(serde_json::json!(1))
    );
    assert!(!open.stderr.contains("PLANTED"), "{open:?}");
}

/// The landlock backend's scratch directory holds at most `tmp_size_mib` (bytes and inodes)
/// where the host is root (a tmpfs of its own; a run filled the host's disk, or built a
/// 30,000-level tree the host then spent seconds removing), and its tmpfs goes with the run.
#[tokio::test]
async fn a_landlock_run_builds_at_most_its_tmp_size() {
    let _serial = SERIAL.lock().await;
    if !nix::unistd::geteuid().is_root() {
        eprintln!("not root: the scratch directory has no tmpfs of its own here");
        return;
    }
    let engine = common::engine();
    let Some(_) = common::backend_or_skip(&engine, "landlock") else {
        return;
    };
    let scratch_mounts = || {
        std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap()
            .lines()
            .filter(|l| l.contains("nodecell-scratch"))
            .count()
    };
    let before = scratch_mounts();
    let code = "const fs = process.getBuiltinModule('fs'); const out = {}; \
                let i = 0; \
                try { const mib = Buffer.alloc(1 << 20, 1); for (; i < 64; i++) fs.writeFileSync('f' + i, mib); out.bytes = 'all'; } \
                catch (e) { out.bytes = e.code; out.files = i; } \
                for (const f of fs.readdirSync('.')) fs.rmSync(f); \
                try { for (let i = 0; i < 100000; i++) fs.mkdirSync('d' + i); out.inodes = 'all'; } \
                catch (e) { out.inodes = e.code; } \
                return out";
    let r = ExecRequest {
        backend: Some("landlock".into()),
        ..req(code)
    };
    let o = engine.run(&r).await.unwrap();
    assert_eq!(o.status, Status::Ok, "{o:?}");
    let v = o.result.unwrap().to_value();
    // 16 MiB by default, in files of 1 MiB (each below RLIMIT_FSIZE).
    assert_eq!(v["bytes"], "ENOSPC", "{v}");
    assert!(v["files"].as_u64().unwrap() <= 16, "{v}");
    assert_eq!(v["inodes"], "ENOSPC", "{v}");
    assert_eq!(
        scratch_mounts(),
        before,
        "the scratch tmpfs outlived its run"
    );
}
