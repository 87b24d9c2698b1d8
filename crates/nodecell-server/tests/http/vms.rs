//! What the HTTP tests check of microVM backends, whose sandbox's processes are the guest's.

use std::time::{Duration, Instant};

/// The VMMs (QEMU) below this test process.
fn vmms() -> Vec<i32> {
    nodecell::procfs::tree(std::process::id() as i32)
        .into_iter()
        .filter(|&p| {
            std::fs::read_to_string(format!("/proc/{p}/comm"))
                .is_ok_and(|c| c.starts_with("qemu-system"))
                && nodecell::procfs::alive(p)
        })
        .collect()
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
