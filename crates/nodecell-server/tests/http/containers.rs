//! What the HTTP tests check of container backends, whose processes are not the host's.

use std::time::{Duration, Instant};

/// `a_client_that_disconnects_leaves_nothing_its_run_started` on gvisor (no warm pool for
/// it here: the run starts a container of its own): once that container runs the job, the
/// client goes away; then no container of this process is left at all.
pub async fn gvisor_run_leaves_no_container(
    request: tokio::task::JoinHandle<reqwest::Result<reqwest::Response>>,
) {
    let client = nodecell::docker::DockerClient::connect(None).await.unwrap();
    let me = std::process::id();
    let owned = || async {
        nodecell::docker::container::owned_by(&client, me)
            .await
            .unwrap()
    };
    let t = Instant::now();
    while !owned().await.iter().any(|(_, state)| state == "running") {
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "gvisor: no container ran"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The runner boots and takes the job within a second here.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    request.abort(); // the client goes away
    let t = Instant::now();
    while !owned().await.is_empty() && t.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let left = owned().await;
    assert!(
        left.is_empty(),
        "gvisor: the run's container survived it: {left:?}"
    );
}
