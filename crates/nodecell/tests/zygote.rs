//! Backend native's zygote path (`[backends.native] zygote`, the default): what its
//! children must not share, what they cannot reach, zygotes replaced (dead, or past their
//! fork budget), and the boot path taking over where no zygote starts. Every other test
//! runs on this path too (scripts/test.sh runs the corpora, pool and server tests again
//! with NODECELL_NATIVE_ZYGOTE=false, on the boot path).

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use nodecell::{Engine, EngineConfig, ExecRequest, Status};
use serde_json::Value;

/// One test at a time: each counts the zygotes of this test process.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Waits (a few seconds at most) until no zygote of this test process is left.
fn wait_for_no_zygotes() -> BTreeSet<i32> {
    let t0 = Instant::now();
    while !zygote_nodes().is_empty() && t0.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(20));
    }
    zygote_nodes()
}

fn zygote_config() -> EngineConfig {
    let mut config = common::config();
    config.backends.native.zygote = true;
    config
}

async fn run(engine: &Engine, code: &str) -> Value {
    let outcome = engine
        .run(&ExecRequest {
            code: code.into(),
            ..Default::default()
        })
        .await
        .expect("the run starts");
    assert_eq!(outcome.status, Status::Ok, "{outcome:?}");
    // Forked from a zygote, not booted after a fallback (or the test proves nothing).
    assert_eq!(engine.zygote_fallback(), None);
    assert!(engine.zygote_proven());
    serde_json::from_str(outcome.result.as_ref().expect("a result").get()).unwrap()
}

/// The Node processes of this test process's zygotes (not their fork servers, whose parent
/// is one).
fn zygote_nodes() -> BTreeSet<i32> {
    let forked_node = |p: i32| {
        std::fs::read(format!("/proc/{p}/cmdline"))
            .unwrap_or_default()
            .split(|&b| b == 0)
            .any(|a| a.starts_with(b"--zygote="))
    };
    common::zygote_processes()
        .into_iter()
        .filter(|&p| forked_node(p) && !common::parent(p).is_some_and(forked_node))
        .collect()
}

/// The sandboxes forked from this test process's zygotes (pid 1 of a pid namespace below
/// the zygote's).
fn zygote_children() -> Vec<i32> {
    let depth = |p: i32| {
        std::fs::read_to_string(format!("/proc/{p}/status"))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("NSpid:"))
                    .map(|l| l.split_whitespace().count())
            })
            .unwrap_or(0)
    };
    let me = depth(std::process::id() as i32);
    nodecell::procfs::tree(std::process::id() as i32)
        .into_iter()
        .filter(|&p| depth(p) == me + 2)
        .collect()
}

/// The first sandbox forked from this test process's zygotes, once one runs (5 s at most).
async fn first_child() -> Option<i32> {
    let t0 = Instant::now();
    loop {
        let child = zygote_children().first().copied();
        if child.is_some() || t0.elapsed() > Duration::from_secs(5) {
            return child;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The fds of `children` that are open files of a zygote or of their parent, its fork
/// server (kcmp), None without children.
fn shared_with_zygote(children: &[i32]) -> Option<Vec<String>> {
    if children.is_empty() {
        return None;
    }
    let fds = |p: i32| -> Vec<i32> {
        std::fs::read_dir(format!("/proc/{p}/fd"))
            .map(|d| {
                d.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut shared = Vec::new();
    let servers = children.iter().filter_map(|&c| common::parent(c));
    let holders: BTreeSet<i32> = zygote_nodes().into_iter().chain(servers).collect();
    for &z in &holders {
        for &c in children {
            for cf in fds(c) {
                for zf in fds(z) {
                    // SAFETY: kcmp takes integers only.
                    let same = unsafe { libc::syscall(libc::SYS_kcmp, c, z, 0, cf, zf) } == 0;
                    if same {
                        let target = std::fs::read_link(format!("/proc/{c}/fd/{cf}"));
                        shared.push(format!("child fd {cf} = zygote fd {zf} ({target:?})"));
                    }
                }
            }
        }
    }
    Some(shared)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn children_draw_fresh_randomness() {
    let _one = ONE_AT_A_TIME.lock().await;
    wait_for_no_zygotes();
    let engine = Engine::new(zygote_config()).unwrap();
    let code = r#"
        const crypto = require('crypto');
        const { v4 } = require('uuid');
        const _ = require('lodash');
        return {
            math: [Math.random(), Math.random()],
            lodash: _.random(0, 2 ** 40),
            bytes: crypto.randomBytes(16).toString('hex'),
            uuid: crypto.randomUUID(),
            uuid_v4: v4(),
        };
    "#;
    let mut seen: Vec<Value> = Vec::new();
    let mut zygotes = BTreeSet::new();
    for _ in 0..4 {
        seen.push(run(&engine, code).await);
        zygotes.extend(zygote_nodes());
    }
    // Forks of one zygote, or the test would prove nothing.
    assert_eq!(zygotes.len(), 1, "one zygote served them: {zygotes:?}");
    for key in ["math", "lodash", "bytes", "uuid", "uuid_v4"] {
        let values: BTreeSet<String> = seen.iter().map(|v| v[key].to_string()).collect();
        assert_eq!(
            values.len(),
            seen.len(),
            "{key} repeats across children: {seen:?}"
        );
    }
    drop(engine);
    common::assert_no_leftover_cgroups();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_child_cannot_reach_its_zygote() {
    let _one = ONE_AT_A_TIME.lock().await;
    wait_for_no_zygotes();
    let engine = Engine::new(zygote_config()).unwrap();
    let code = r#"
        // fs the way hostile code gets it (process.stdin is an fs.ReadStream on /dev/null).
        const stdin = process.stdin;
        const kFs = Object.getOwnPropertySymbols(stdin).find((s) => s.description === 'kFs');
        const fs = stdin[kFs];
        // Signals: every pid but its own is out of reach (its own pid namespace).
        const signalled = [];
        for (let pid = 1; pid < 200; pid++) {
            try { process.kill(pid, 0); signalled.push(pid); } catch (_) {}
        }
        // Fds: no socket (the zygote's control socket, the link); the host checks the rest.
        const fds = [];
        for (let fd = 0; fd < 256; fd++) {
            try { fds.push({ fd, socket: fs.fstatSync(fd).isSocket() }); } catch (_) {}
        }
        let hidden;
        try { hidden = fs.readdirSync('/nodecell-zygote'); } catch (e) { hidden = e.code; }
        let addon;
        try { process.dlopen({ exports: {} }, '/nodecell-zygote/zygote.node'); addon = 'loaded'; }
        catch (e) { addon = e.code || e.message; }
        return { signalled, fds, hidden, addon };
    "#;
    let v = run(&engine, code).await;
    let signalled: Vec<i64> = serde_json::from_value(v["signalled"].clone()).unwrap();
    assert!(signalled.len() <= 1, "signals reach other processes: {v}");
    for fd in v["fds"].as_array().unwrap() {
        assert_eq!(fd["socket"], false, "a socket reached the child: {v}");
    }
    assert_eq!(v["hidden"], serde_json::json!([]), "{v}");
    assert_eq!(v["addon"], "ERR_DLOPEN_DISABLED", "{v}");
    // From the host: no fd of a running child is an open file of its zygote's.
    let busy = "const t = Date.now(); while (Date.now() - t < 1500) {} return 1";
    let (shared, ran) = tokio::join!(
        async {
            let children: Vec<i32> = first_child().await.into_iter().collect();
            shared_with_zygote(&children)
        },
        run(&engine, busy)
    );
    assert_eq!(ran, 1);
    assert_eq!(shared, Some(vec![]), "fds the child shares with its zygote");
    // The zygote still serves.
    let before = zygote_nodes();
    assert_eq!(run(&engine, "return 7").await, 7);
    assert_eq!(zygote_nodes(), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_zygote_is_replaced() {
    let _one = ONE_AT_A_TIME.lock().await;
    wait_for_no_zygotes();
    let engine = Engine::new(zygote_config()).unwrap();
    assert_eq!(run(&engine, "return 1").await, 1);
    let first = zygote_nodes();
    assert_eq!(first.len(), 1, "{first:?}");
    for &p in &first {
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(p),
            nix::sys::signal::Signal::SIGKILL,
        )
        .unwrap();
    }
    // Dead: gone, with its fork server (which dies with it, a moment later; a request that
    // reaches the server in that moment fails like the children in flight do).
    let t0 = Instant::now();
    while !common::zygote_processes().is_empty() && t0.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(run(&engine, "return 2").await, 2);
    let second = zygote_nodes();
    assert_eq!(second.len(), 1, "{second:?}");
    assert!(first.is_disjoint(&second), "{first:?} {second:?}");
    drop(engine);
    assert!(
        wait_for_no_zygotes().is_empty(),
        "zygotes outlive their engine"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zygote_past_its_forks_is_replaced_and_ends_with_its_last_child() {
    let _one = ONE_AT_A_TIME.lock().await;
    wait_for_no_zygotes();
    let mut config = zygote_config();
    config.backends.native.zygote_max_forks = 2;
    let engine = Engine::new(config).unwrap();
    let mut each = Vec::new();
    for i in 0..5 {
        assert_eq!(run(&engine, &format!("return {i}")).await, i);
        each.push(zygote_nodes());
    }
    // Two children each: a fresh zygote for runs 0-1, 2-3 and 4; the old ones are gone.
    assert!(each.iter().all(|z| z.len() == 1), "{each:?}");
    assert_eq!(each[0], each[1]);
    assert_ne!(each[1], each[2]);
    assert_eq!(each[2], each[3]);
    assert_ne!(each[3], each[4]);
    drop(engine);
    assert!(
        wait_for_no_zygotes().is_empty(),
        "zygotes outlive their engine"
    );
}

/// Where no zygote starts (its addon missing, or not a Node addon), each sandbox boots Node
/// instead: the run that found out succeeds, and the engine says why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_boot_path_serves_where_no_zygote_starts() {
    let _one = ONE_AT_A_TIME.lock().await;
    wait_for_no_zygotes();
    let dir = std::env::temp_dir().join(format!("nodecell-zygote-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let launcher = dir.join("nodecell-launcher");
    std::fs::copy(env!("CARGO_BIN_EXE_nodecell-launcher"), &launcher).unwrap();
    let addon = dir.join(nodecell::config::ZYGOTE_ADDON);
    for (broken, reason) in [
        (None, "No such file"),
        (Some("not an ELF file"), "zygote did not start"),
    ] {
        if let Some(text) = broken {
            std::fs::write(&addon, text).unwrap();
        }
        let mut config = zygote_config();
        config.launcher_path = launcher.clone();
        let engine = Engine::new(config).unwrap();
        for i in 0..2 {
            let outcome = engine
                .run(&ExecRequest {
                    code: format!("return {i}"),
                    ..Default::default()
                })
                .await
                .expect("the run starts on the boot path");
            assert_eq!(outcome.status, Status::Ok, "{outcome:?}");
            assert_eq!(outcome.result.unwrap().get(), i.to_string());
        }
        let why = engine.zygote_fallback().expect("the engine says why");
        assert!(why.contains(reason), "{why}");
        assert!(!engine.zygote_proven());
        assert!(zygote_nodes().is_empty(), "{:?}", zygote_nodes());
    }
    std::fs::remove_dir_all(&dir).unwrap();
    common::assert_no_leftover_cgroups();
}

/// A zygote runs in a cgroup of its own (memory and processes capped), which goes with it;
/// its children run in their runs' own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zygote_has_a_cgroup_of_its_own() {
    let _one = ONE_AT_A_TIME.lock().await;
    wait_for_no_zygotes();
    let engine = Engine::new(zygote_config()).unwrap();
    let native = engine.backend("native").unwrap();
    if !engine
        .report(native)
        .enforces(nodecell::Protection::CgroupMemory)
    {
        eprintln!("skipped: no memory cgroup on this host");
        return;
    }
    let child = "const t = Date.now(); while (Date.now() - t < 1000) {} return 1";
    let (groups, ran) = tokio::join!(
        async {
            // Once a child runs its job (its zygote is ready and in its cgroup; the child
            // joins its run's while it starts, before its job is sent).
            let t0 = Instant::now();
            let mut child = None;
            while t0.elapsed() < Duration::from_secs(5) {
                child = zygote_children().first().copied().and_then(memory_group);
                if child
                    .as_ref()
                    .is_some_and(|g| g.to_string_lossy().contains("/run-"))
                {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            let nodes = zygote_nodes();
            assert_eq!(nodes.len(), 1, "{nodes:?}");
            (memory_group(*nodes.first().unwrap()), child)
        },
        run(&engine, child)
    );
    assert_eq!(ran, 1);
    let (zygote_group, child_group) = groups;
    let zygote_group = zygote_group.expect("the zygote is in a memory cgroup");
    let name = zygote_group
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert!(name.starts_with("zygote-"), "{}", zygote_group.display());
    let limit = ["memory.limit_in_bytes", "memory.max"]
        .iter()
        .find_map(|f| std::fs::read_to_string(zygote_group.join(f)).ok())
        .expect("a memory limit file");
    assert_eq!(limit.trim(), (512u64 << 20).to_string());
    let child_group = child_group.expect("a child was running");
    assert!(
        child_group
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("run-"),
        "{}",
        child_group.display()
    );
    drop(engine);
    assert!(wait_for_no_zygotes().is_empty());
    let t0 = Instant::now();
    while zygote_group.exists() && t0.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!zygote_group.exists(), "{} is left", zygote_group.display());
}

/// The memory cgroup directory of `pid` (v1's memory hierarchy, else the v2 tree).
fn memory_group(pid: i32) -> Option<std::path::PathBuf> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    let line = |want: fn(&str) -> bool| {
        text.lines().find_map(|l| {
            let mut f = l.splitn(3, ':');
            let (_, controllers, path) = (f.next()?, f.next()?, f.next()?);
            want(controllers).then(|| path.trim_start_matches('/').to_string())
        })
    };
    let root = std::path::Path::new("/sys/fs/cgroup");
    match line(|c| c.split(',').any(|c| c == "memory")) {
        Some(path) => Some(root.join("memory").join(path)),
        None => line(str::is_empty).map(|path| root.join(path)),
    }
}

/// A zygote's children all have one parent, its fork server: a single-threaded process
/// below the zygote's Node, not a process per child. No child holds an open file of that
/// server's (its siblings' pidfds and links among them) or of the zygote's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zygote_s_children_share_one_fork_server_and_none_of_its_files() {
    let _one = ONE_AT_A_TIME.lock().await;
    wait_for_no_zygotes();
    let engine = Engine::new(zygote_config()).unwrap();
    let busy = "const t = Date.now(); while (Date.now() - t < 1500) {} return 1";
    let (seen, a, b) = tokio::join!(
        async {
            let t0 = Instant::now();
            let mut children = zygote_children();
            while children.len() < 2 && t0.elapsed() < Duration::from_secs(5) {
                tokio::time::sleep(Duration::from_millis(10)).await;
                children = zygote_children();
            }
            // Only children past their setup (milliseconds), in which they still hold what
            // they close before their job: those still there 200 ms later.
            tokio::time::sleep(Duration::from_millis(200)).await;
            let now = zygote_children();
            children.retain(|c| now.contains(c));
            let parents: BTreeSet<i32> =
                children.iter().filter_map(|&c| common::parent(c)).collect();
            let threads = |p: i32| {
                std::fs::read_to_string(format!("/proc/{p}/status"))
                    .unwrap_or_default()
                    .lines()
                    .find_map(|l| l.strip_prefix("Threads:").map(|n| n.trim().to_string()))
            };
            let servers: Vec<_> = parents
                .iter()
                .map(|&p| (p, common::parent(p), threads(p)))
                .collect();
            // The run's cgroup files each child wrote itself into are closed before its job.
            let cgroup_fds: Vec<String> = children
                .iter()
                .flat_map(|&c| {
                    std::fs::read_dir(format!("/proc/{c}/fd"))
                        .into_iter()
                        .flatten()
                })
                .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
                .filter(|t| t.starts_with("/sys/fs/cgroup"))
                .map(|t| t.display().to_string())
                .collect();
            (
                children.len(),
                servers,
                shared_with_zygote(&children),
                cgroup_fds,
            )
        },
        run(&engine, busy),
        run(&engine, busy)
    );
    assert_eq!((a, b), (1.into(), 1.into()));
    let (children, servers, shared, cgroup_fds) = seen;
    assert_eq!(
        cgroup_fds,
        Vec::<String>::new(),
        "cgroup files open in a child"
    );
    assert!(children >= 2, "{children} children ran at once");
    assert_eq!(servers.len(), 1, "the children's parents: {servers:?}");
    let (_, above, threads) = &servers[0];
    let zygotes = zygote_nodes();
    assert!(
        above.is_some_and(|z| zygotes.contains(&z)),
        "the fork server's parent {above:?} is no zygote's Node ({zygotes:?})"
    );
    assert_eq!(threads.as_deref(), Some("1"), "the fork server's threads");
    assert_eq!(
        shared,
        Some(vec![]),
        "fds the children share with their zygote"
    );
    // libuv's signal lock, which each child makes anew (its siblings' and its server's are
    // other pipes), works: signal listeners take and free it, and a signal arrives. The
    // child's process.pid is its own: pid 1 of its namespace.
    let listen = "const h = () => {}; process.on('SIGUSR2', h); process.off('SIGUSR2', h); \
                  await new Promise((r) => { process.on('SIGUSR2', r); \
                  process.kill(process.pid, 'SIGUSR2'); }); \
                  return [process.pid, process.listenerCount('SIGUSR2')]";
    assert_eq!(run(&engine, listen).await, serde_json::json!([1, 1]));
}
