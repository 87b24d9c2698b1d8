//! Where this process makes its groups on cgroup v2, and delegation to an unprivileged
//! service.
//!
//! Where this process may write at the top of the hierarchy (root on the host), groups go
//! there. Otherwise nodecell uses the cgroup it was started in, if that was delegated to it
//! (systemd `Delegate=yes`; a container with its own cgroup namespace and a writable
//! `/sys/fs/cgroup`): it may write there. cgroup v2 passes controllers on to children only
//! from a cgroup with no processes of its own (the "no internal processes" rule; only the
//! root is exempt), so nodecell first moves itself into a leaf of its own, [`LEAF`], then
//! enables memory, pids and cpu for the children of the delegated cgroup, where its instances
//! are made beside that leaf.

use std::fs;
use std::path::{Path, PathBuf};

use nix::unistd::{access, AccessFlags};

/// The leaf the service moves itself into, in the delegated cgroup.
pub const LEAF: &str = "nodecell-service";

/// The directory under which this process makes its groups, in the v2 tree mounted at
/// `root`, with the controllers passed on to its children; `Err` says why there is none.
pub fn parent(root: &Path) -> Result<PathBuf, String> {
    let own = own_cgroup();
    let in_dir = |dir: &Path| {
        own.as_deref()
            .is_ok_and(|p| root.join(p.trim_start_matches('/')) == dir)
    };
    if writable(&root.join("cgroup.procs")) && writable(&root.join("cgroup.subtree_control")) {
        // The host's root (exempt from the rule), or a container's namespace root where this
        // process may have to step into a leaf first. What still lacks a controller is then
        // reported per protection when the instance is made.
        let _ = prepare(root, in_dir(root));
        return Ok(root.to_path_buf());
    }
    let undelegated = |own: &str| {
        format!(
            "{} is not writable and the cgroup this process runs in ({own}) was not delegated to \
             it (run as root, or give it a delegated cgroup: systemd Delegate=yes, or a \
             container with a cgroup namespace and /sys/fs/cgroup mounted read-write)",
            root.display()
        )
    };
    let own_path = match &own {
        Ok(p) => p.clone(),
        Err(e) => return Err(undelegated(e)),
    };
    let mut dir = root.join(own_path.trim_start_matches('/'));
    if dir.file_name().is_some_and(|n| n == LEAF) {
        // Started by a process already in the leaf (or moved there before).
        dir.pop();
    }
    if dir == root || !writable(&dir.join("cgroup.procs")) || !writable(&dir) {
        return Err(undelegated(&own_path));
    }
    let here = in_dir(&dir);
    prepare(&dir, here)?;
    Ok(dir)
}

/// Enables memory, pids and cpu for the children of `dir`, first moving this process into
/// `dir`/[`LEAF`] if it is in `dir` itself (`here`). The move comes first: pids and cpu are
/// threaded controllers, which the kernel lets a cgroup with processes enable, and that would
/// make `dir` a thread root, whose domain children (the leaf) can take no process.
fn prepare(dir: &Path, here: bool) -> Result<(), String> {
    if here && !has_controllers(&dir.join("cgroup.subtree_control")) {
        let leaf = dir.join(LEAF);
        match fs::create_dir(&leaf) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(format!("creating {}: {e}", leaf.display())),
        }
        fs::write(leaf.join("cgroup.procs"), std::process::id().to_string())
            .map_err(|e| format!("moving this process into {}: {e}", leaf.display()))?;
    }
    super::instance::enable_controllers(dir);
    if has_controllers(&dir.join("cgroup.subtree_control")) {
        return Ok(());
    }
    let available = fs::read_to_string(dir.join("cgroup.controllers")).unwrap_or_default();
    Err(format!(
        "cannot enable the memory and pids controllers for the children of {} (available there: \
         {:?}; processes other than nodecell in it keep them off: nodecell wants that cgroup to \
         itself)",
        dir.display(),
        available.trim()
    ))
}

/// This process's cgroup v2 path (`/system.slice/nodecell.service`), from /proc/self/cgroup.
fn own_cgroup() -> Result<String, String> {
    let text =
        fs::read_to_string("/proc/self/cgroup").map_err(|e| format!("/proc/self/cgroup: {e}"))?;
    text.lines()
        .find_map(|l| l.strip_prefix("0::"))
        .filter(|p| p.starts_with('/') && !p.ends_with(" (deleted)"))
        .map(str::to_string)
        .ok_or_else(|| format!("no cgroup v2 entry in /proc/self/cgroup: {text:?}"))
}

fn writable(p: &Path) -> bool {
    access(p, AccessFlags::W_OK).is_ok()
}

fn has_controllers(subtree_control: &Path) -> bool {
    let enabled = fs::read_to_string(subtree_control).unwrap_or_default();
    let on = |c: &str| enabled.split_whitespace().any(|e| e == c);
    on("memory") && on("pids")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tree this process may write at the top is used as it is (the service as root).
    #[test]
    fn a_writable_top_is_the_parent() {
        let dir = std::env::temp_dir().join(format!("nodecell-delegation-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("cgroup.procs"), "").unwrap();
        fs::write(dir.join("cgroup.subtree_control"), "").unwrap();
        let got = parent(&dir);
        fs::remove_dir_all(&dir).unwrap();
        assert_eq!(got, Ok(dir));
    }

    /// Neither the top nor an own cgroup writable: the error says what to do.
    #[test]
    fn without_delegation_the_error_says_how_to_get_it() {
        let e = parent(Path::new("/nonexistent-nodecell-cgroup")).unwrap_err();
        assert!(e.contains("Delegate=yes"), "{e}");
    }
}
