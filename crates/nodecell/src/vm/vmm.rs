//! What every VMM's start shares: its cgroup on the host, and the error of a VM that did not
//! come up.

use std::path::Path;

use crate::cgroup::{CgroupPlan, RunCgroup};
use crate::error::StartError;

/// The VMM's group, made with `plan`'s limits, with `pid` in it: the whole VM's memory,
/// threads and CPU time, as the host sees them.
pub(crate) fn join_new_group(plan: &CgroupPlan, pid: u32) -> Result<RunCgroup, StartError> {
    let group = plan
        .make()
        .map_err(|e| StartError::NotReady(format!("the VMM's cgroup: {e}")))?;
    for procs in group.procs_files() {
        std::fs::write(&procs, pid.to_string())
            .map_err(|e| StartError::NotReady(format!("moving the VMM into its cgroup: {e}")))?;
    }
    Ok(group)
}

/// A VM that did not come up: `what`, with the last lines of each of `logs` (label, file in
/// `dir`).
pub(crate) fn failed(dir: &Path, what: &str, logs: &[(&str, &str)]) -> StartError {
    let tail = |name: &str| {
        let text = std::fs::read_to_string(dir.join(name)).unwrap_or_default();
        let lines: Vec<&str> = text.lines().rev().take(8).collect();
        lines.into_iter().rev().collect::<Vec<_>>().join(" | ")
    };
    let said: Vec<String> = logs
        .iter()
        .map(|(label, file)| format!("{label}: [{}]", tail(file)))
        .collect();
    StartError::NotReady(format!("{what}; {}", said.join("; ")))
}
