//! What is in force for Node once the sandbox is up: read from the launcher's report, or
//! read by the host from /proc and checked against what the program was configured to apply.

use std::time::Duration;

use crate::error::StartError;
use crate::launch::spec::{LandlockStatus, LaunchMessage, LaunchReport};
use crate::procfs;

use super::channel::{read_to_end_capped, ReadHalf};
use super::process::SandboxProcess;

/// The launcher's report, read until EOF (which comes once Node has been exec'd).
pub(crate) async fn launcher_report(
    status: &mut Box<dyn ReadHalf>,
) -> Result<LaunchReport, StartError> {
    let lines = read_to_end_capped(status, 1 << 20).await;
    let mut report = None;
    for line in lines.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        match serde_json::from_slice::<LaunchMessage>(line) {
            Ok(LaunchMessage::Failed { step, message }) => {
                return Err(StartError::Launch { step, message })
            }
            Ok(LaunchMessage::Enforced(r)) => report = Some(r),
            Err(e) => {
                return Err(StartError::NotReady(format!(
                    "unreadable launcher status: {e}"
                )))
            }
        }
    }
    report.ok_or_else(|| StartError::NotReady("the launcher exited without a report".into()))
}

/// Why `tool` did not start the sandbox: its own log (on the status fd) once it has exited.
pub(crate) async fn tool_failure(
    e: StartError,
    tool: &'static str,
    process: &mut dyn SandboxProcess,
    status: Option<&mut Box<dyn ReadHalf>>,
) -> StartError {
    process.kill();
    let log = tokio::time::timeout(Duration::from_secs(2), async {
        let _ = process.wait().await;
        match status {
            Some(s) => read_to_end_capped(s, 1 << 16).await,
            None => Vec::new(),
        }
    })
    .await
    .unwrap_or_default();
    let log = String::from_utf8_lossy(&log).trim().to_string();
    if log.is_empty() {
        e
    } else {
        StartError::Tool {
            tool,
            log: format!("{log} ({e})"),
        }
    }
}

/// What is in force for Node (host pid `node`), read from /proc, checked against what
/// `tool` was configured to apply: a sandbox that lacks any of it is not used.
pub(crate) fn inspect(
    node: i32,
    tool: &'static str,
    expected: &LaunchReport,
) -> Result<LaunchReport, StartError> {
    let field = |k: &str| procfs::status_field(node, k).unwrap_or_default();
    let first_id = |k: &str| {
        field(k)
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(u32::MAX)
    };
    let caps_empty = ["CapEff", "CapPrm", "CapInh", "CapBnd", "CapAmb"]
        .iter()
        .all(|k| field(k).trim_start_matches('0').is_empty());
    let seen = LaunchReport {
        namespaces: procfs::own_namespaces(node),
        rootfs: expected.rootfs,
        landlock: LandlockStatus::Off,
        landlock_abi: expected.landlock_abi,
        seccomp: field("Seccomp") == "2",
        no_new_privs: field("NoNewPrivs") == "1",
        capabilities_dropped: caps_empty,
        uid: first_id("Uid"),
        gid: first_id("Gid"),
    };
    let mut missing = Vec::new();
    for ns in &expected.namespaces {
        if !seen.namespaces.contains(ns) {
            missing.push(format!("{ns} namespace"));
        }
    }
    for (want, got, what) in [
        (expected.seccomp, seen.seccomp, "seccomp filter"),
        (expected.no_new_privs, seen.no_new_privs, "no_new_privs"),
        (
            expected.capabilities_dropped,
            seen.capabilities_dropped,
            "empty capability sets",
        ),
    ] {
        if want && !got {
            missing.push(what.into());
        }
    }
    if seen.uid != expected.uid || seen.gid != expected.gid {
        missing.push(format!(
            "uid/gid {}/{} (found {}/{})",
            expected.uid, expected.gid, seen.uid, seen.gid
        ));
    }
    if !missing.is_empty() {
        return Err(StartError::Unconfirmed {
            tool,
            missing: missing.join(", "),
        });
    }
    Ok(seen)
}
