//! What the HTTP tests check of microVM backends, whose sandbox's processes are the guest's.

use std::time::{Duration, Instant};

/// The VMMs (QEMU's, or Firecracker's with `firecracker`) below this test process.
fn vmms_named(firecracker: bool) -> Vec<i32> {
    nodecell::procfs::tree(std::process::id() as i32)
        .into_iter()
        .filter(|&p| {
            std::fs::read_to_string(format!("/proc/{p}/comm")).is_ok_and(|c| {
                if firecracker {
                    c.trim() == "firecracker"
                } else {
                    c.starts_with("qemu-system")
                }
            }) && nodecell::procfs::alive(p)
        })
        .collect()
}

fn vmms() -> Vec<i32> {
    vmms_named(false)
}

/// `a_client_that_disconnects_leaves_nothing_its_run_started` on firecracker: where this
/// host's KVM boots its guests (the service says the backend is available), the client goes
/// away mid-run and its VM goes; elsewhere the request is refused at once, naming why, and
/// no VM starts.
pub async fn firecracker_run_leaves_no_vm_or_is_refused(
    request: tokio::task::JoinHandle<reqwest::Result<reqwest::Response>>,
    base: &str,
) {
    let info: serde_json::Value = reqwest::get(format!("{base}/v1/info"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let available = info["backends"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["backend"] == "firecracker")
        .map(|b| b["available"] == true)
        .unwrap_or_else(|| panic!("no firecracker in /v1/info: {info}"));
    if !available {
        let response = request.await.unwrap().unwrap();
        let status = response.status().as_u16();
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (400, Some("backend_unavailable")),
            "{body}"
        );
        assert!(vmms_named(true).is_empty());
        return;
    }
    let t = Instant::now();
    let vmm = loop {
        if let [vmm] = vmms_named(true)[..] {
            break vmm;
        }
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "firecracker: no VM started"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    tokio::time::sleep(Duration::from_secs(3)).await;
    request.abort();
    let t = Instant::now();
    while nodecell::procfs::alive(vmm) {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "firecracker: the run's VM survived its client"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `a_client_that_disconnects_leaves_nothing_its_run_started` on qemu (no warm pool for it
/// here: the run boots a VM of its own): once the guest has had time to boot and spin, the
/// client goes away; then its VM, and so everything the run started in it, is gone.
pub async fn qemu_run_leaves_no_vm(
    request: tokio::task::JoinHandle<reqwest::Result<reqwest::Response>>,
) {
    let t = Instant::now();
    let vmm = loop {
        if let [vmm] = vmms()[..] {
            break vmm;
        }
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "qemu: not one VM started: {:?}",
            vmms()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    // A boot under TCG takes ~5 s here; the job then spins.
    tokio::time::sleep(Duration::from_secs(10)).await;
    request.abort(); // the client goes away
    let t = Instant::now();
    while nodecell::procfs::alive(vmm) {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "qemu: the run's VM survived its client"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
