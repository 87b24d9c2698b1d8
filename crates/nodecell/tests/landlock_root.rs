//! What the landlock backend holds where the service runs as root: every run has a host uid
//! of its own (without a user namespace, runs that shared nobody could `chmod` and `stat`
//! each other's files, which Landlock does not govern, and shared one RLIMIT_NPROC), and
//! every process of that uid dies with the run, however the run ended.

mod common;

use std::time::{Duration, Instant};

use nodecell::{ExecRequest, LiveEvent, LogEntry, Status};
use serde_json::Value;

/// The engine and landlock, where this test process is root (elsewhere runs share the
/// service's uid, which the guarantees table says).
fn landlock_as_root() -> Option<nodecell::Engine> {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: runs have a uid of their own only where the service is root");
        return None;
    }
    let engine = common::engine();
    common::backend_or_skip(&engine, "landlock")?;
    Some(engine)
}

fn landlock(code: &str, inputs: Value) -> ExecRequest {
    ExecRequest {
        code: code.into(),
        inputs: serde_json::from_value(inputs).unwrap(),
        backend: Some("landlock".into()),
        ..Default::default()
    }
}

/// Starts `req` and returns the JSON its first log line carries, with the run in flight.
async fn start_and_read_first_log(
    engine: &std::sync::Arc<nodecell::Engine>,
    req: ExecRequest,
) -> (Value, tokio::task::JoinHandle<nodecell::Outcome>) {
    let (tx, mut rx) = tokio::sync::mpsc::channel(16);
    let engine = engine.clone();
    let run = tokio::spawn(async move { engine.run_streaming(&req, Some(tx)).await.unwrap() });
    let first = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            match rx.recv().await {
                Some(LiveEvent::Log(LogEntry { message, .. })) => break message,
                Some(_) => continue,
                None => panic!("the run ended before it logged"),
            }
        }
    })
    .await
    .expect("the run logs within 30 s");
    (serde_json::from_str(&first).unwrap(), run)
}

fn uid_of(pid: i32) -> Option<u32> {
    nodecell::procfs::status_field(pid, "Uid")?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Pids of every process that runs as `uid`.
fn processes_of(uid: u32) -> Vec<i32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&p| uid_of(p) == Some(uid) && nodecell::procfs::alive(p))
        .collect()
}

fn wait_until(what: &str, done: impl Fn() -> bool) {
    let t0 = Instant::now();
    while !done() {
        assert!(t0.elapsed() < Duration::from_secs(5), "{what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Two concurrent runs: each as its own uid from the configured range, and the second, told
/// the first's directory, cannot `stat` a file in it, `chmod` it or signal the first's Node.
#[tokio::test]
async fn each_run_has_a_uid_no_other_run_can_reach_it_through() {
    let Some(engine) = landlock_as_root() else {
        return;
    };
    let engine = std::sync::Arc::new(engine);
    let range = engine.config().backends.landlock.uids();
    // The first run waits for a file the host puts in its directory once the second is done.
    let first = "const fs = process.getBuiltinModule('fs'); fs.writeFileSync('secret', 'mine'); \
                 console.log(JSON.stringify({cwd: process.cwd(), pid: process.pid})); \
                 while (!fs.existsSync('done')) await new Promise(r => setTimeout(r, 10)); \
                 return {mode: fs.statSync('.').mode & 0o777, secret: fs.readFileSync('secret', 'utf8'), \
                         uid: process.getuid(), gid: process.getgid()}";
    let (seen, run) =
        start_and_read_first_log(&engine, landlock(first, serde_json::json!({}))).await;
    let cwd = seen["cwd"].as_str().unwrap().to_string();
    let second = "const fs = process.getBuiltinModule('fs'); \
                  const attempt = f => { try { f(); return 'done'; } catch (e) { return e.code; } }; \
                  return {uid: process.getuid(), \
                          stat: attempt(() => fs.statSync(dir + '/secret')), \
                          chmod: attempt(() => fs.chmodSync(dir, 0)), \
                          signal: attempt(() => process.kill(pid, 0))}";
    let o = engine
        .run(&landlock(
            second,
            serde_json::json!({"dir": cwd, "pid": seen["pid"]}),
        ))
        .await
        .unwrap();
    assert_eq!(o.status, Status::Ok, "{o:?}");
    let b = o.result.unwrap().to_value();
    assert_eq!(b["stat"], "EACCES", "{b}");
    assert_eq!(b["chmod"], "EPERM", "{b}");
    assert_eq!(b["signal"], "EPERM", "{b}");
    std::fs::write(format!("{cwd}/done"), "").unwrap();
    let o = run.await.unwrap();
    assert_eq!(o.status, Status::Ok, "{o:?}");
    let a = o.result.unwrap().to_value();
    assert_eq!(a["mode"], 0o700, "{a}");
    assert_eq!(a["secret"], "mine", "{a}");
    assert_eq!(a["uid"], a["gid"], "{a}");
    let (ua, ub) = (a["uid"].as_u64().unwrap(), b["uid"].as_u64().unwrap());
    assert_ne!(ua, ub, "two live runs shared a uid");
    for uid in [ua, ub] {
        assert!(range.contains(uid as u32), "{uid} outside {range:?}");
    }
}

/// A run whose launcher is SIGKILLed by someone else (the OOM killer) while the service
/// lives on: what Node detached was re-parented to init and ran on; now every process of
/// the run's uid dies when the run ends.
#[tokio::test]
async fn what_a_run_detached_dies_with_it_when_its_launcher_is_killed() {
    let Some(engine) = landlock_as_root() else {
        return;
    };
    let engine = std::sync::Arc::new(engine);
    let code = "const c = process.getBuiltinModule('child_process').spawn(process.execPath, \
                ['-e', 'setInterval(() => {}, 1000)'], {detached: true, stdio: 'ignore'}); c.unref(); \
                console.log(JSON.stringify({child: c.pid, launcher: process.ppid, uid: process.getuid()})); \
                while (true) {}";
    let (seen, run) =
        start_and_read_first_log(&engine, landlock(code, serde_json::json!({}))).await;
    let (child, launcher) = (
        seen["child"].as_i64().unwrap() as i32,
        seen["launcher"].as_i64().unwrap() as i32,
    );
    let uid = seen["uid"].as_u64().unwrap() as u32;
    let cmdline = std::fs::read(format!("/proc/{launcher}/cmdline")).unwrap();
    assert!(
        String::from_utf8_lossy(&cmdline).contains("nodecell-launcher"),
        "Node's parent is not the launcher"
    );
    wait_until("the detached child runs as the run's uid", || {
        uid_of(child) == Some(uid)
    });
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(launcher),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let o = tokio::time::timeout(Duration::from_secs(30), run)
        .await
        .expect("the run ends once its launcher is gone")
        .unwrap();
    assert_ne!(o.status, Status::Ok, "{o:?}");
    // SIGKILLed as the run ends; dying takes the kernel a moment.
    wait_until("the detached child dies with its run", || {
        !nodecell::procfs::alive(child)
    });
    wait_until("no process of the run's uid is left", || {
        processes_of(uid).is_empty()
    });
}

/// What runs as a uid of the range that no live sandbox leases (left by a nodecell that
/// died) is killed by the next nodecell's first landlock run.
#[test]
fn a_new_nodecell_kills_what_runs_as_a_uid_nobody_leases() {
    if landlock_as_root().is_none() {
        return;
    }
    use std::os::unix::process::CommandExt;
    let range = nodecell::LandlockConfig::default().uids();
    let uid = range.first + range.count - 1;
    let mut stray = std::process::Command::new("sleep")
        .arg("3600")
        .uid(uid)
        .gid(uid)
        .spawn()
        .unwrap();
    let out = common::spawn_nodecell_fed(&[], &["run", "--backend", "landlock", "-"], "1")
        .wait_with_output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let t0 = Instant::now();
    while stray.try_wait().unwrap().is_none() {
        if t0.elapsed() > Duration::from_secs(5) {
            let _ = stray.kill();
            let _ = stray.wait();
            panic!("a process of uid {uid}, leased by no sandbox, outlived a nodecell's sweep");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
