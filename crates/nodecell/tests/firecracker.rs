//! Backend firecracker (issue 18): one microVM per sandbox, Firecracker on hardware KVM,
//! jailed where the tests run as root.
//!
//! Every test checks this host first. Where `/dev/kvm` boots guests (vmx/svm), jobs run end
//! to end. Where it does not (a PVM host, as CI's are: the guest's kernel never runs), the
//! backend must say so and refuse requests, and a VM is still taken as far as the host lets
//! it: configured through the API, started (`InstanceStart`), and cleaned up (the VMM, its
//! jail, its sockets, its cgroup) when its guest never connects or when Firecracker refuses
//! the kernel.

#[macro_use]
mod common;

use std::path::Path;
use std::sync::Arc;

use nodecell::{Engine, EngineConfig, ExecRequest, RequestError, RunError, Status};

/// One test at a time: each checks that nothing of this process is left afterwards.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn req(code: &str) -> ExecRequest {
    ExecRequest {
        code: code.into(),
        backend: Some("firecracker".into()),
        ..Default::default()
    }
}

/// The test configuration with the guest built, Firecracker installed (scripts/setup.sh)
/// and `edit` applied.
fn config(edit: impl FnOnce(&mut EngineConfig)) -> EngineConfig {
    let mut config = common::config();
    let dir = common::guest_dir().expect("the guest builds here (scripts/guest.sh)");
    config.backends.firecracker.guest_dir = dir;
    assert!(
        config.backends.firecracker.binary.is_file(),
        "no {} (scripts/setup.sh installs it)",
        config.backends.firecracker.binary.display()
    );
    edit(&mut config);
    config
}

/// Firecracker processes anywhere on this host (the jailer execs one named so).
fn firecrackers() -> Vec<i32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|p| {
            std::fs::read_to_string(format!("/proc/{p}/comm"))
                .is_ok_and(|c| c.trim() == "firecracker")
        })
        .collect()
}

fn assert_nothing_left(before: &[i32]) {
    let left = common::leftovers(&[]);
    assert!(left.is_empty(), "left behind: {left:?}");
    let vmms: Vec<i32> = firecrackers()
        .into_iter()
        .filter(|p| !before.contains(p))
        .collect();
    assert!(vmms.is_empty(), "Firecracker processes left: {vmms:?}");
}

/// A job end to end in a VM of its own, on a host whose KVM boots guests.
async fn job_end_to_end(engine: &Engine) {
    let code = "const os = process.getBuiltinModule('os'); console.log('hi'); \
                return { uid: process.getuid(), kernel: os.release(), x: inputs.x }";
    let mut r = req(code);
    r.inputs = serde_json::Map::from_iter([("x".to_string(), 41.into())]).into();
    let o = engine.run(&r).await.unwrap();
    assert_eq!(o.status, Status::Ok, "{o:?}");
    assert_eq!(o.backend, "firecracker");
    let v = o.result.as_ref().unwrap().to_value();
    assert_eq!(
        (v["uid"].clone(), v["x"].clone()),
        (65534.into(), 41.into()),
        "{v}"
    );
    let host_kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    assert_ne!(v["kernel"], host_kernel.trim(), "{v}");
    assert_eq!(o.logs[0].message, "hi");
    let limited = engine
        .run(&ExecRequest {
            limits: nodecell::LimitOverrides {
                timeout_ms: Some(2000),
                ..Default::default()
            },
            ..req("for (;;) {}")
        })
        .await
        .unwrap();
    assert_eq!(limited.status, Status::Timeout, "{limited:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn this_host_boots_firecracker_guests_or_the_backend_says_why_and_refuses() {
    let _serial = SERIAL.lock().await;
    let before = firecrackers();
    let engine = Engine::new(config(|_| {})).unwrap();
    let backend = engine.backend("firecracker").unwrap();
    let report = engine.report(backend);
    if common::kvm_boots_guests() {
        assert!(report.available, "{:?}", report.problems);
        job_end_to_end(&engine).await;
    } else {
        assert!(!report.available);
        let problems = report.problems.join("; ");
        assert!(
            problems.contains("cannot boot Firecracker guests here"),
            "{problems}"
        );
        if Path::new("/sys/module/kvm_pvm").exists() {
            assert!(problems.contains("PVM"), "{problems}");
        }
        match engine.run(&req("return 1")).await {
            Err(RunError::Request(RequestError::BackendUnavailable { reason, .. })) => {
                assert!(
                    reason.contains("cannot boot Firecracker guests"),
                    "{reason}"
                )
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
    }
    assert_nothing_left(&before);
}

/// Jailed (as root) and not: on a host that boots guests, a job; elsewhere, with the PVM
/// check lifted (`pvm_guest_kernel`), the VM configured and started through the API, its
/// guest silent, the start a clear error naming what Firecracker said, and nothing left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vm_is_configured_and_started_and_one_that_never_comes_up_leaves_nothing() {
    let _serial = SERIAL.lock().await;
    let before = firecrackers();
    let root = nix::unistd::geteuid().is_root();
    for jail in if root { vec![true, false] } else { vec![false] } {
        let engine = Arc::new(
            Engine::new(config(|c| {
                c.backends.firecracker.jail = jail;
                c.backends.firecracker.pvm_guest_kernel = true;
                c.backends.firecracker.boot_timeout_ms = 3000;
            }))
            .unwrap(),
        );
        let report = engine.report(engine.backend("firecracker").unwrap());
        if common::kvm_boots_guests() {
            job_end_to_end(&engine).await;
            continue;
        }
        if !common::kvm_opens() {
            // No VM starts here at all: the refusal is the first test's.
            assert!(!report.available);
            continue;
        }
        assert!(report.available, "{:?}", report.problems);
        let boundary = &report
            .protections
            .iter()
            .find(|p| p.protection == nodecell::Protection::Namespaces)
            .unwrap()
            .detail;
        assert_eq!(boundary.contains("jailed: chroot"), jail, "{boundary}");
        let t0 = std::time::Instant::now();
        let err = engine.run(&req("return 1")).await.unwrap_err();
        let message = err.to_string();
        assert_eq!(err.code(), "sandbox_unavailable", "{message}");
        assert!(
            message.contains(
                "the guest did not connect to its vsock port 3 s after Firecracker started"
            ),
            "{message}"
        );
        // Taken as far as InstanceStart: Firecracker ran the VM (its log shows no refusal).
        assert!(!message.contains("PUT /"), "{message}");
        assert!(t0.elapsed().as_secs() < 30, "{:?}", t0.elapsed());
        assert_nothing_left(&before);
    }
}

/// A kernel Firecracker will not load: `InstanceStart` answers with Firecracker's fault,
/// which the error carries; the VMM and its files are gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kernel_firecracker_refuses_is_a_clear_error_and_leaves_nothing() {
    let _serial = SERIAL.lock().await;
    let before = firecrackers();
    let good = common::guest_dir().expect("the guest builds here");
    let guest = std::env::temp_dir().join(format!("nodecell-test-guest-{}", std::process::id()));
    std::fs::create_dir_all(&guest).unwrap();
    for f in ["kernel", "initrd", "inputs"] {
        let _ = std::fs::remove_file(guest.join(f));
        std::os::unix::fs::symlink(good.join(f), guest.join(f)).unwrap();
    }
    std::fs::write(guest.join("vmlinux"), "not a kernel").unwrap();
    let engine = Engine::new(config(|c| {
        c.backends.firecracker.guest_dir = guest.clone();
        c.backends.firecracker.pvm_guest_kernel = true;
    }))
    .unwrap();
    if !common::kvm_opens() {
        std::fs::remove_dir_all(&guest).unwrap();
        assert!(
            !engine
                .report(engine.backend("firecracker").unwrap())
                .available
        );
        return;
    }
    let result = engine.run(&req("return 1")).await;
    std::fs::remove_dir_all(&guest).unwrap();
    let err = result.unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("PUT /actions") && message.contains("failed to load ELF kernel image"),
        "{message}"
    );
    assert_nothing_left(&before);
}
