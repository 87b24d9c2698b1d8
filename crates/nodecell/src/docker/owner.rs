//! Whose a sandbox container is: the label every container carries names the nodecell
//! process that owns it, so that the containers of a nodecell that died are found and removed
//! (by a nodecell on the same host only).

use std::collections::HashMap;

use bollard::query_parameters::RemoveContainerOptionsBuilder;

use super::DockerClient;

/// The label on every sandbox container; its value names the nodecell process that owns it
/// (see [`owner`]).
pub const CONTAINER_LABEL: &str = "org.nodecell.sandbox";

/// This process as sandbox containers' label names it: `<boot id>:<pid>:<start time>`, so
/// that a container whose owner is gone (killed before it could remove it) is known as such,
/// by a nodecell on the same host only.
pub(super) fn owner() -> String {
    static OWNER: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    OWNER
        .get_or_init(|| {
            let pid = std::process::id() as i32;
            format!("{}:{pid}:{}", boot_id(), start_time(pid).unwrap_or(0))
        })
        .clone()
}

fn boot_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// When process `pid` started (clock ticks since boot), if it runs.
fn start_time(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // After the command's closing parenthesis: state is field 3, starttime field 22.
    stat.rsplit_once(')')?
        .1
        .split_whitespace()
        .nth(19)?
        .parse()
        .ok()
}

/// Whether the owner named by a container's label is gone (a process of this boot that no
/// longer runs); a container of another host's nodecell is never stale here.
fn stale(owner: &str) -> bool {
    let mut parts = owner.splitn(3, ':');
    let (Some(boot), Some(pid), Some(started)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    let (Ok(pid), Ok(started)) = (pid.parse::<i32>(), started.parse::<u64>()) else {
        return false;
    };
    boot == boot_id() && start_time(pid) != Some(started)
}

/// The sandbox containers (id, state) of the engine that the nodecell process `pid` of this
/// host owns.
pub async fn owned_by(
    client: &DockerClient,
    pid: u32,
) -> Result<Vec<(String, String)>, super::DockerError> {
    let filters = HashMap::from([("label", vec![CONTAINER_LABEL])]);
    let options = bollard::query_parameters::ListContainersOptionsBuilder::default()
        .all(true)
        .filters(&filters)
        .build();
    let containers = client
        .api()
        .list_containers(Some(options))
        .await
        .map_err(client.error("listing sandbox containers"))?;
    let pid = pid.to_string();
    Ok(containers
        .into_iter()
        .filter(|c| {
            let owner = c.labels.as_ref().and_then(|l| l.get(CONTAINER_LABEL));
            let mut parts = owner.map(|o| o.split(':')).into_iter().flatten();
            parts.next() == Some(boot_id().as_str()) && parts.next() == Some(pid.as_str())
        })
        .map(|c| {
            let state = c.state.map(|s| s.to_string()).unwrap_or_default();
            (c.id.unwrap_or_default(), state)
        })
        .collect())
}

/// Removes the sandbox containers whose nodecell is gone (killed before it could remove
/// them: its host death tie stopped them, but a stopped container is not removed). Returns
/// how many.
pub(crate) async fn sweep(client: &DockerClient) -> usize {
    let filters = HashMap::from([("label", vec![CONTAINER_LABEL])]);
    let options = bollard::query_parameters::ListContainersOptionsBuilder::default()
        .all(true)
        .filters(&filters)
        .build();
    let Ok(containers) = client.api().list_containers(Some(options)).await else {
        return 0;
    };
    let mut removed = 0;
    for c in containers {
        let owner = c
            .labels
            .as_ref()
            .and_then(|l| l.get(CONTAINER_LABEL))
            .cloned()
            .unwrap_or_default();
        let Some(id) = c.id.filter(|_| stale(&owner)) else {
            continue;
        };
        let options = RemoveContainerOptionsBuilder::default()
            .force(true)
            .v(true)
            .build();
        if client
            .api()
            .remove_container(&id, Some(options))
            .await
            .is_ok()
        {
            removed += 1;
        }
    }
    removed
}
