//! The sandbox's memory cgroup inside a microVM guest (cgroup2, in the guest's own kernel):
//! the memory limit's wall that does not depend on what the host can count.
//!
//! The host's count of a VM (its VMM's cgroup) misses guest pages that were touched before
//! the job and freed again (the initramfs unpacked at boot, Node's own start): they stay
//! resident on the host until the balloon's free page reporting hands them back, seconds
//! later and only in large blocks, and a job that reuses them grows in the guest without
//! growing on the host. So pid 1 of the guest puts the launcher (and so Node and all it
//! starts) in a group of its own and, when the job's first bytes arrive, holds it to its
//! usage then plus the job's memory limit: the limit "above what the ready sandbox uses", as
//! every backend has it. The group's OOM kills reach the host in an OOM frame.

use std::ffi::CString;
use std::path::{Path, PathBuf};

use nix::mount::{mount, MsFlags};

/// Where pid 1 mounts the guest's cgroup2 hierarchy.
const CGROUP_ROOT: &str = "/sys/fs/cgroup";
/// The sandbox's group, below [`CGROUP_ROOT`].
const GROUP: &str = "sandbox";

/// The sandbox's memory cgroup in the guest.
pub(super) struct GuestMemory {
    dir: PathBuf,
    /// `cgroup.procs` of the group, for the launcher's child to join before its exec
    /// (made before the fork: the child only opens and writes).
    procs: CString,
    limit_bytes: u64,
}

impl GuestMemory {
    /// Mounts cgroup2, gives the root's children the memory controller and makes the
    /// sandbox's group (its OOM killer taking the whole group). `limit_bytes`: the job's
    /// memory limit, set on top of the group's usage by [`GuestMemory::hold`].
    pub(super) fn create(limit_bytes: u64) -> Result<GuestMemory, String> {
        let root = Path::new(CGROUP_ROOT);
        let flags = MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC | MsFlags::MS_NODEV;
        match mount(Some("cgroup2"), root, Some("cgroup2"), flags, None::<&str>) {
            Ok(()) | Err(nix::errno::Errno::EBUSY) => {}
            Err(e) => return Err(format!("mounting cgroup2 on {CGROUP_ROOT}: {e}")),
        }
        write(&root.join("cgroup.subtree_control"), "+memory")?;
        let dir = root.join(GROUP);
        match std::fs::create_dir(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(format!("{}: {e}", dir.display())),
        }
        write(&dir.join("memory.oom.group"), "1")?;
        let procs = CString::new(
            dir.join("cgroup.procs")
                .into_os_string()
                .into_encoded_bytes(),
        )
        .map_err(|_| "the cgroup's path holds a NUL".to_string())?;
        Ok(GuestMemory {
            dir,
            procs,
            limit_bytes,
        })
    }

    /// Joins the calling process to the group: for the forked child, before its exec. Only
    /// `open` and `write` (a fork's child may not allocate).
    pub(super) fn join(&self) -> Result<(), nix::errno::Errno> {
        use nix::fcntl::{open, OFlag};
        use nix::sys::stat::Mode;
        let fd = open(
            self.procs.as_c_str(),
            OFlag::O_WRONLY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )?;
        nix::unistd::write(&fd, b"0").map(drop)
    }

    /// Holds the group to what it uses now plus the job's limit (its processes wait for the
    /// job: this is the ready sandbox's usage).
    pub(super) fn hold(&self) -> Result<(), String> {
        let current = std::fs::read_to_string(self.dir.join("memory.current"))
            .map_err(|e| format!("memory.current: {e}"))?;
        let current: u64 = current
            .trim()
            .parse()
            .map_err(|_| format!("memory.current: {current:?}"))?;
        write(
            &self.dir.join("memory.max"),
            &(current + self.limit_bytes).to_string(),
        )
    }

    /// How many processes of the group its OOM killer killed.
    pub(super) fn oom_kills(&self) -> u64 {
        std::fs::read_to_string(self.dir.join("memory.events"))
            .ok()
            .and_then(|events| oom_kill_count(&events))
            .unwrap_or(0)
    }
}

fn write(path: &Path, value: &str) -> Result<(), String> {
    std::fs::write(path, value).map_err(|e| format!("writing {value:?} to {}: {e}", path.display()))
}

/// The `oom_kill` count of a cgroup2 `memory.events`.
fn oom_kill_count(events: &str) -> Option<u64> {
    events
        .lines()
        .find_map(|l| l.strip_prefix("oom_kill "))
        .and_then(|n| n.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oom_kill_count_is_read_from_memory_events() {
        let events = "low 0\nhigh 0\nmax 12\noom 1\noom_kill 2\noom_group_kill 1\n";
        assert_eq!(oom_kill_count(events), Some(2));
        assert_eq!(oom_kill_count("low 0\n"), None);
    }
}
