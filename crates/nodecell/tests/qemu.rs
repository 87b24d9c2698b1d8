//! Backend qemu (issue 18): one microVM per sandbox, under TCG on hosts without a usable KVM.
//! What the suites that loop over every backend check, for a VM: the run's limits, its end
//! leaving nothing (no QEMU, cgroup or directory), the warm pool, a killed command. The
//! corpora run on it in corpus.rs (`vm_corpora`).

#[macro_use]
mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use nodecell::{Engine, ExecRequest, LimitOverrides, Pool, Status};

/// One test at a time: each checks that nothing of this process is left afterwards.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn req(code: &str) -> ExecRequest {
    ExecRequest {
        code: code.into(),
        backend: Some("qemu".into()),
        ..Default::default()
    }
}

/// The engine with backend qemu, or None where the test is skipped (see
/// [`common::backend_or_skip`]).
fn engine() -> Option<Arc<Engine>> {
    let engine = common::engine_for("qemu");
    common::backend_or_skip(&engine, "qemu")?;
    Some(Arc::new(engine))
}

fn assert_nothing_left() {
    let left = common::leftovers(&[]);
    let commands: Vec<String> = common::leftover_processes(&[])
        .iter()
        .map(|p| std::fs::read_to_string(format!("/proc/{p}/cmdline")).unwrap_or_default())
        .collect();
    assert!(left.is_empty(), "left behind: {left:?} {commands:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_runs_in_a_vm_of_its_own_measured_by_the_host() {
    let _serial = SERIAL.lock().await;
    let Some(engine) = engine() else { return };
    let code = "const os = process.getBuiltinModule('os'); console.log('hi'); \
                return { uid: process.getuid(), kernel: os.release(), mem: os.totalmem(), x: inputs.x }";
    let mut r = req(code);
    r.inputs = serde_json::Map::from_iter([("x".to_string(), 41.into())]).into();
    let o = engine.run(&r).await.unwrap();
    assert_eq!(o.status, Status::Ok, "{o:?}");
    assert_eq!(o.backend, "qemu");
    let v = o.result.as_ref().unwrap().to_value();
    assert_eq!(v["uid"], 65534, "{v}");
    assert_eq!(v["x"], 41);
    // The guest's own kernel, with the RAM the limits give it: the memory limit plus the
    // configured overhead (less what the kernel keeps for itself).
    let host_kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    assert_ne!(v["kernel"], host_kernel.trim(), "{v}");
    let ram = v["mem"].as_u64().unwrap() >> 20;
    let want =
        engine.config().default_limits.memory_mib + engine.config().backends.qemu.ram_overhead_mib;
    assert!(
        ram <= want && ram + 128 >= want,
        "{ram} MiB of RAM, {want} asked"
    );
    assert_eq!(o.logs[0].message, "hi");
    // What the host measured: the VMM's cgroup (where there are cgroups).
    let report = engine.report(engine.backend("qemu").unwrap());
    if report.enforces(nodecell::Protection::CgroupMemory) {
        assert!(o.usage.memory_peak_bytes > 0, "{:?}", o.usage);
        assert!(o.usage.cpu_ms > 0.0, "{:?}", o.usage);
    }
    assert_nothing_left();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_limits_end_a_run_and_the_vm_goes_with_it() {
    let _serial = SERIAL.lock().await;
    let Some(engine) = engine() else { return };
    let limited = |code: &str, limits: LimitOverrides| ExecRequest {
        limits,
        ..req(code)
    };
    let spin = limited(
        "while (true) {}",
        LimitOverrides {
            timeout_ms: Some(1500),
            ..Default::default()
        },
    );
    let t0 = Instant::now();
    let o = engine.run(&spin).await.unwrap();
    assert_eq!(o.status, Status::Timeout, "{o:?}");
    assert!(
        t0.elapsed() < Duration::from_secs(150),
        "{:?}",
        t0.elapsed()
    );
    assert_nothing_left();

    let bomb = limited(
        "const hold = []; while (true) hold.push(new Array(1 << 20).fill(hold.length));",
        LimitOverrides {
            memory_mib: Some(64),
            timeout_ms: Some(20_000),
            ..Default::default()
        },
    );
    let o = engine.run(&bomb).await.unwrap();
    assert_eq!(o.status, Status::MemoryLimit, "{o:?}");
    assert_nothing_left();
    // Held at the limit, not at the limit plus what the guest freed after its boot (which
    // the balloon's free page reporting hands back to the host): 90 MiB of buffers do not fit
    // in 64.
    let buffers = limited(
        "const b = []; for (let i = 0; i < 90; i++) b.push(Buffer.alloc(1 << 20, 1)); return b.length",
        LimitOverrides {
            memory_mib: Some(64),
            ..Default::default()
        },
    );
    let o = engine.run(&buffers).await.unwrap();
    assert_eq!(o.status, Status::MemoryLimit, "{o:?}");
    assert!(o.usage.memory_peak_bytes <= 66 << 20, "{:?}", o.usage);
    assert_nothing_left();

    // Processes: RLIMIT_NPROC of the guest's sandbox user. Node's own threads count, so
    // a handful of processes is refused.
    let fork = limited(
        "const cp = process.getBuiltinModule('child_process'); \
         try { for (let i = 0; i < 64; i++) cp.spawn('/usr/local/bin/node', ['-e', 'setTimeout(()=>{}, 60000)']); return 'all' } \
         catch (e) { return e.code }",
        LimitOverrides {
            max_processes: Some(16),
            ..Default::default()
        },
    );
    let o = engine.run(&fork).await.unwrap();
    assert_ne!(
        o.result.as_ref().map(|r| r.to_value()),
        Some(serde_json::json!("all")),
        "{o:?}"
    );
    assert_nothing_left();
}

/// The guest's own wall: with no cgroups on the host (nothing there counts the VM), the
/// sandbox's memory cgroup in the guest holds the job to its limit, and pid 1's report of the
/// OOM kill makes it `memory_limit`. (The guest's RAM is the limit + 512 MiB: without that
/// cgroup, 90 MiB of buffers fit.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_guests_memory_cgroup_holds_the_limit_without_the_hosts() {
    let _serial = SERIAL.lock().await;
    let Some(guest_dir) = common::guest_dir() else {
        return;
    };
    let mut config = common::config();
    config.cgroup_root = "/nonexistent/nodecell-test-no-cgroups".into();
    config.backends.qemu.guest_dir = guest_dir;
    let engine = Engine::new(config).expect("engine starts");
    if common::backend_or_skip(&engine, "qemu").is_none() {
        return;
    }
    let report = engine.report(engine.backend("qemu").unwrap());
    assert!(
        report.enforces(nodecell::Protection::CgroupMemory),
        "{report:?}"
    );
    let buffers = |n: u32| ExecRequest {
        limits: LimitOverrides {
            memory_mib: Some(64),
            ..Default::default()
        },
        ..req(&format!(
            "const b = []; for (let i = 0; i < {n}; i++) b.push(Buffer.alloc(1 << 20, 1)); \
             return b.length"
        ))
    };
    let o = engine.run(&buffers(90)).await.unwrap();
    assert_eq!(o.status, Status::MemoryLimit, "{o:?}");
    assert_eq!(o.error.as_ref().unwrap().name, "MemoryLimitError", "{o:?}");
    // Below the limit, above what the guest's RAM alone would stop: it runs.
    let o = engine.run(&buffers(40)).await.unwrap();
    assert_eq!(o.status, Status::Ok, "{o:?}");
    assert_eq!(o.result.unwrap().to_value(), 40);
    assert_nothing_left();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_warm_vm_serves_its_limit_and_a_job_with_another_gets_its_own() {
    let _serial = SERIAL.lock().await;
    let Some(engine) = engine() else { return };
    let pool = Pool::new(engine.clone(), engine.backend("qemu").unwrap(), 1);
    let t = Instant::now();
    while pool.warm_count() < 1 {
        assert!(
            t.elapsed() < Duration::from_secs(180),
            "no warm VM: {:?}",
            pool.last_error()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let default_ram = guest_ram_mib(&pool, None).await;
    // More memory than the warm VM has RAM for: a VM of its own, with that RAM.
    let wait = Instant::now();
    while pool.warm_count() < 1 {
        assert!(wait.elapsed() < Duration::from_secs(180), "no refill");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let more = engine.config().default_limits.memory_mib + 256;
    let big_ram = guest_ram_mib(&pool, Some(more)).await;
    assert!(
        big_ram >= default_ram + 200,
        "{big_ram} MiB for a {more} MiB job, {default_ram} MiB warm"
    );
    assert_eq!(pool.warm_count(), 1, "the warm VM was not used for it");
    // Less memory: a VM of its own too (the guest's memory cgroup of the warm VM holds the
    // limit it was started for).
    let less = engine.config().default_limits.memory_mib - 64;
    let small_ram = guest_ram_mib(&pool, Some(less)).await;
    assert!(
        small_ram + 32 <= default_ram,
        "{small_ram} MiB for a {less} MiB job, {default_ram} MiB warm"
    );
    assert_eq!(pool.warm_count(), 1, "the warm VM was not used for it");
    pool.shutdown().await;
    assert_nothing_left();
}

/// The guest RAM (MiB) a job with memory limit `memory_mib` (the default where None) sees
/// from `pool`.
async fn guest_ram_mib(pool: &Pool, memory_mib: Option<u64>) -> u64 {
    let job = ExecRequest {
        limits: LimitOverrides {
            memory_mib,
            ..Default::default()
        },
        ..req("return process.getBuiltinModule('os').totalmem()")
    };
    let o = pool.run(&job, None).await.unwrap();
    assert_eq!(o.status, Status::Ok, "{o:?}");
    o.result.unwrap().to_value().as_u64().unwrap() >> 20
}

/// `nodecell run --backend qemu` SIGKILLed while its guest boots or runs: QEMU dies with it
/// (its parent-death signal), and nothing of the VM is left.
#[test]
fn a_killed_command_takes_its_vm_with_it() {
    if common::guest_dir().is_none() {
        return;
    }
    let mut child = common::spawn_nodecell_fed(
        &[],
        &["run", "--backend", "qemu", "--timeout-ms", "60000", "-"],
        "while (true) {}",
    );
    let cli = child.id() as i32;
    let t0 = Instant::now();
    let qemu = loop {
        let found = nodecell::procfs::tree(cli).into_iter().find(|&p| {
            std::fs::read_to_string(format!("/proc/{p}/comm"))
                .is_ok_and(|c| c.trim().starts_with("qemu-system"))
        });
        if let Some(p) = found {
            break p;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "no QEMU below the command"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    // Let the guest get going, then kill the command.
    std::thread::sleep(Duration::from_secs(2));
    child.kill().unwrap();
    child.wait().unwrap();
    let t0 = Instant::now();
    while std::path::Path::new(&format!("/proc/{qemu}")).exists() {
        let state = std::fs::read_to_string(format!("/proc/{qemu}/stat")).unwrap_or_default();
        if state.split_whitespace().nth(2) == Some("Z") {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "QEMU {qemu} outlived the command"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A pool's shutdown does not wait for a VM still booting: the start is dropped, its QEMU
/// killed, and nothing of it is left. Here the guest never boots at all (QEMU started with
/// `-S`, its CPU stopped, under a 10 min boot limit), so a shutdown that waited for the start
/// would not return within the minute allowed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pools_shutdown_drops_a_vm_still_booting() {
    let _serial = SERIAL.lock().await;
    let Some(guest) = common::guest_dir() else {
        return;
    };
    let (dir, wrapper) = qemu_wrapper("-S");
    let mut config = common::config();
    config.backends.qemu.guest_dir = guest;
    config.backends.qemu.binary = wrapper;
    config.backends.qemu.boot_timeout_ms = 600_000;
    let engine = Arc::new(Engine::new(config).unwrap());
    let pool = Pool::new(engine.clone(), engine.backend("qemu").unwrap(), 1);
    let t = Instant::now();
    while common::leftover_processes(&[]).is_empty() {
        assert!(t.elapsed() < Duration::from_secs(60), "no QEMU started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // QEMU is up (and, stopped, stays short of a guest): the start is under way.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(pool.warm_count(), 0);
    tokio::time::timeout(Duration::from_secs(60), pool.shutdown())
        .await
        .expect("the shutdown waited for a VM that never boots");
    std::fs::remove_dir_all(&dir).unwrap();
    // The killed QEMU is reaped by the runtime in the background.
    let t = Instant::now();
    while !common::leftovers(&[]).is_empty() && t.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_nothing_left();
}

/// A wrapper that runs this host's QEMU with `extra` after the arguments it is given, in a
/// temporary directory of its own: (that directory, the wrapper).
fn qemu_wrapper(extra: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let qemu = std::process::Command::new("sh")
        .args(["-c", "command -v qemu-system-x86_64"])
        .output()
        .unwrap();
    let qemu = String::from_utf8(qemu.stdout).unwrap();
    let dir = std::env::temp_dir().join(format!(
        "nodecell-qemu-wrapper-{}",
        nodecell::protocol::new_nonce()
    ));
    std::fs::create_dir(&dir).unwrap();
    let wrapper = dir.join("qemu");
    std::fs::write(
        &wrapper,
        format!("#!/bin/sh\nexec {} \"$@\" {extra}\n", qemu.trim()),
    )
    .unwrap();
    std::fs::set_permissions(
        &wrapper,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    (dir, wrapper)
}

/// A QEMU that fails at its start (here: a device it does not have): the start fails at once
/// with what QEMU said, and nothing is left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vmm_that_fails_says_why() {
    let _serial = SERIAL.lock().await;
    let Some(guest) = common::guest_dir() else {
        return;
    };
    let (dir, wrapper) = qemu_wrapper("-device no-such-device");
    let mut config = common::config();
    config.backends.qemu.guest_dir = guest;
    config.backends.qemu.binary = wrapper;
    let engine = Engine::new(config).unwrap();
    let t0 = Instant::now();
    let err = engine.run(&req("return 1")).await.unwrap_err();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(err.code(), "sandbox_unavailable", "{err}");
    assert!(err.to_string().contains("no-such-device"), "{err}");
    assert!(t0.elapsed() < Duration::from_secs(30), "{:?}", t0.elapsed());
    assert_nothing_left();
}
