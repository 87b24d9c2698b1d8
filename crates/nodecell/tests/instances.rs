//! cgroup instances across processes: a live instance is left alone by every other nodecell,
//! whatever its PID namespace; the instance of a dead owner is swept by the next start.
//! Checked with real `nodecell` commands in the host's cgroups.

mod common;

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

/// One at a time: each test watches instances that a sweep by another test's command could
/// otherwise act on first.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// A process of the test's own, killed and reaped on drop.
struct Task(Child);

impl Task {
    fn sleep() -> Task {
        Task(Command::new("sleep").arg("1000").spawn().unwrap())
    }

    fn alive(&mut self) -> bool {
        self.0.try_wait().unwrap().is_none()
    }

    /// Moves the task into the group `dir`.
    fn join(&self, dir: &Path) {
        std::fs::write(dir.join("cgroup.procs"), self.0.id().to_string()).unwrap();
    }

    /// Waits (at most 5 s) for the task to end; the signal that ended it.
    fn ended_by(&mut self) -> Option<i32> {
        let t0 = Instant::now();
        loop {
            if let Some(status) = self.0.try_wait().unwrap() {
                return status.signal();
            }
            assert!(t0.elapsed() < Duration::from_secs(5), "the task still runs");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Task {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `nodecell run --backend BACKEND -` (through `wrapper`, if not empty) with `code`, to the end.
fn run(wrapper: &[&str], backend: &str, code: &str) -> Output {
    common::spawn_nodecell_fed(wrapper, &["run", "--backend", backend, "-"], code)
        .wait_with_output()
        .unwrap()
}

fn assert_ok(out: &Output, result: serde_json::Value) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["status"], "ok", "{v}");
    assert_eq!(v["result"], result, "{v}");
}

/// A `nodecell run` of `code` in progress: the command, and its instance's directories once
/// Node is in the run's group.
fn start(backend: &str, code: &str) -> (Child, Vec<PathBuf>) {
    let mut child = common::spawn_nodecell_fed(
        &[],
        &["run", "--backend", backend, "--timeout-ms", "60000", "-"],
        code,
    );
    let t0 = Instant::now();
    loop {
        let instance = common::instance_dirs_of(child.id());
        let node_in_run = instance.iter().any(|d| {
            common::groups_below(d).iter().any(|g| {
                std::fs::read_to_string(g.join("cgroup.procs")).is_ok_and(|p| !p.trim().is_empty())
            })
        });
        if node_in_run {
            return (child, instance);
        }
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "{backend}: Node never joined a run group of {instance:?}"
        );
        assert!(child.try_wait().unwrap().is_none(), "the command ended");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A second nodecell that is pid 1 of a new PID namespace (as in a container sharing the
/// cgroup tree) sees none of the first's processes: its sweep must still leave the first's
/// live instance alone (it removed the first's fresh run groups and killed its run when
/// ownership was a pid in the name), and its own sandboxes run (the launcher took a parent
/// pid of 1 for "the host is gone").
#[test]
fn a_nodecell_in_another_pid_namespace_leaves_a_live_instance_alone() {
    let _serial = serial();
    for backend in ["native", "nsjail"] {
        let (first, instance) = start(
            backend,
            "await new Promise((r) => setTimeout(r, 6000)); return 'first'",
        );
        let groups: Vec<PathBuf> = instance
            .iter()
            .flat_map(|d| common::groups_below(d))
            .collect();
        assert!(!groups.is_empty());
        let second = run(
            &["unshare", "--pid", "--fork", "--mount-proc"],
            backend,
            "return 2",
        );
        assert_ok(&second, 2.into());
        let mut first = first;
        assert!(
            first.try_wait().unwrap().is_none(),
            "{backend}: the first run ended before the second (too slow a machine for this test)"
        );
        let gone: Vec<_> = groups.iter().filter(|g| !g.exists()).collect();
        assert!(
            gone.is_empty(),
            "{backend}: the first's groups were removed: {gone:?}"
        );
        assert_ok(&first.wait_with_output().unwrap(), "first".into());
        let left: Vec<_> = instance.iter().filter(|d| d.exists()).collect();
        assert!(
            left.is_empty(),
            "{backend}: instance left at the exit: {left:?}"
        );
    }
}

/// The instance of a `nodecell run` that was SIGKILLed stays (with a process in its run
/// group that did not die with the command) until the next start: that kills what is
/// inside and removes the groups and the instance.
#[test]
fn the_instance_of_a_killed_owner_is_swept_by_the_next_start() {
    let _serial = serial();
    let (mut owner, instance) = start("native", "await new Promise(() => {})");
    // Not below the command: nothing makes it die with it.
    let mut stray = Task::sleep();
    for run in instance.iter().flat_map(|d| common::groups_below(d)) {
        stray.join(&run);
    }
    owner.kill().unwrap();
    owner.wait().unwrap();
    assert!(stray.alive());
    assert!(
        instance.iter().all(|d| d.exists()),
        "removed before any start"
    );
    assert_ok(&run(&[], "native", "return 1"), 1.into());
    assert_eq!(
        stray.ended_by(),
        Some(9),
        "the sweep did not kill the stray task"
    );
    let left: Vec<_> = instance.iter().filter(|d| d.exists()).collect();
    assert!(left.is_empty(), "not swept: {left:?}");
}

/// An instance whose lock is held (by another process: here this test, for a `nodecell` it
/// starts) is never touched, even with a task in it; once the lock is free the next start
/// kills the task and removes the instance.
#[test]
fn a_locked_instance_with_tasks_is_never_removed() {
    let _serial = serial();
    let top = ["/sys/fs/cgroup/memory", "/sys/fs/cgroup"]
        .into_iter()
        .map(Path::new)
        .find(|d| d.join("cgroup.procs").exists())
        .unwrap();
    let dir = top.join(format!("nodecell-{}", nodecell::protocol::new_nonce()));
    let run_group = dir.join("run-0");
    std::fs::create_dir_all(&run_group).unwrap();
    let mut task = Task::sleep();
    task.join(&run_group);
    let lock = nix::fcntl::Flock::lock(
        std::fs::File::open(&dir).unwrap(),
        nix::fcntl::FlockArg::LockExclusiveNonblock,
    )
    .unwrap();
    assert_ok(&run(&[], "native", "return 1"), 1.into());
    assert!(run_group.exists(), "a locked instance was removed");
    assert!(task.alive(), "a task of a locked instance was killed");
    drop(lock);
    assert_ok(&run(&[], "native", "return 1"), 1.into());
    assert_eq!(task.ended_by(), Some(9));
    assert!(
        !dir.exists(),
        "the instance was not swept once its lock was free"
    );
}
