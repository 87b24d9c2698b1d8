//! A host uid of its own for each sandbox that has no user namespace (the landlock backend,
//! where the service runs as root).
//!
//! Landlock governs neither `chmod` nor `stat`, and RLIMIT_NPROC and signals go by uid: runs
//! that share one uid can reach each other through all of these. So, as root, each sandbox
//! runs as a uid (and gid) leased from `[backends.landlock] first_uid` ..+ `uid_count`, used by
//! no other live sandbox of any nodecell on the host:
//!
//! - The lease is an open file description's lock (`F_OFD_SETLK`) on byte `uid - first_uid`
//!   of one root-only file, [`LOCK_FILE`]. Every nodecell on the host, in whatever PID
//!   namespace, sees the same locks, and the kernel drops a lease when its holder dies.
//! - A uid is emptied when it is leased and again when it is given back: every process that
//!   runs as it is SIGKILLed (`kill(-1)` sent as that uid, which the kernel applies to all of
//!   them at once, so none forks away). What a run left behind, however it ended (its launcher
//!   killed by the OOM killer, the service SIGKILLed), dies there at the latest.
//! - The first lease of a process sweeps the range: processes of a uid whose lease nobody
//!   holds are killed.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};

use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg};

/// The file whose bytes are the leases, one per uid of the range.
pub const LOCK_FILE: &str = "/run/nodecell/run-uids.lock";

/// The uids sandboxes without a user namespace may run as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UidRange {
    pub first: u32,
    pub count: u32,
}

impl UidRange {
    pub fn contains(&self, uid: u32) -> bool {
        uid.checked_sub(self.first).is_some_and(|i| i < self.count)
    }

    /// Whether the range can be used: inside 1000..65534 or above 65535, below 2^31 (some
    /// tools take uids as signed), and used by no account in /etc/passwd or group in
    /// /etc/group.
    pub fn check(&self) -> Result<(), String> {
        self.check_against(&["/etc/passwd", "/etc/group"])
    }

    /// [`UidRange::check`] against the given account files (`name:x:id:...` lines).
    fn check_against(&self, account_files: &[&str]) -> Result<(), String> {
        let last = u64::from(self.first) + u64::from(self.count);
        if self.count == 0 || self.first < 1000 || last > 1 << 31 {
            return Err(format!(
                "uids {}..{} must be a non-empty range within 1000..2147483648",
                self.first, last
            ));
        }
        if self.contains(65534) || self.contains(65535) {
            return Err(format!(
                "uids {}..{last} include 65534 (nobody) or 65535",
                self.first
            ));
        }
        for &file in account_files {
            let Ok(text) = std::fs::read_to_string(file) else {
                continue;
            };
            for line in text.lines() {
                let id = line.split(':').nth(2).and_then(|f| f.parse::<u32>().ok());
                if let Some(id) = id.filter(|id| self.contains(*id)) {
                    let name = line.split(':').next().unwrap_or("");
                    return Err(format!(
                        "uids {}..{last} include {id}, which {file} gives to {name:?}",
                        self.first
                    ));
                }
            }
        }
        Ok(())
    }
}

/// A uid leased for one sandbox: its processes are killed and the lease given back on drop.
#[derive(Debug)]
pub struct RunUid {
    uid: u32,
    /// Holds the lock on the uid's byte; closing it gives the lease back.
    lease: File,
    /// Its processes were killed after the sandbox ended (no process of the uid can start
    /// again: nothing that could start one is left).
    emptied: bool,
}

impl RunUid {
    /// Leases a uid of `range` that no live sandbox of any nodecell uses, with no process
    /// left running as it.
    pub fn lease(range: UidRange) -> std::io::Result<RunUid> {
        static SWEPT: std::sync::Once = std::sync::Once::new();
        SWEPT.call_once(|| sweep(range));
        // Each sandbox takes the next uid, so a uid is reused as late as possible.
        static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);
        let _ = NEXT.compare_exchange(
            u32::MAX,
            u32::from_str_radix(&crate::protocol::new_nonce()[..8], 16).unwrap_or(0) % range.count,
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
        // A fresh open file description per lease: locks of one description never
        // conflict with each other.
        let file = open_lock_file()?;
        for _ in 0..range.count {
            let index = NEXT.fetch_add(1, Ordering::Relaxed) % range.count;
            if try_lock(&file, index)? {
                let uid = range.first + index;
                crate::sys::kill_every_process_of(uid)?;
                return Ok(RunUid {
                    uid,
                    lease: file,
                    emptied: false,
                });
            }
        }
        Err(std::io::Error::other(format!(
            "all {} uids from {} are leased by live sandboxes ([backends.landlock] uid_count)",
            range.count, range.first
        )))
    }

    pub fn uid(&self) -> u32 {
        self.uid
    }

    /// SIGKILLs every process that runs as this uid, once the sandbox has ended.
    pub fn kill_processes(&mut self) {
        match crate::sys::kill_every_process_of(self.uid) {
            Ok(()) => self.emptied = true,
            Err(e) => {
                crate::warn_limited!(uid = self.uid, error = %e, "processes of a run's uid not killed")
            }
        }
    }
}

impl Drop for RunUid {
    /// Empties the uid (if that has not been done) before the lease goes: `lease` closes
    /// after this.
    fn drop(&mut self) {
        if !self.emptied {
            self.kill_processes();
        }
        let _ = &self.lease;
    }
}

/// Opens (creating if needed) the lock file, in a directory only root can write.
fn open_lock_file() -> std::io::Result<File> {
    let path = Path::new(LOCK_FILE);
    let dir = path.parent().expect("the lock file has a directory");
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => return Err(e),
        _ => {}
    }
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)?;
    let meta = file.metadata()?;
    if meta.uid() != 0 || meta.mode() & 0o022 != 0 {
        return Err(std::io::Error::other(format!(
            "{LOCK_FILE} is not root's alone (owner {}, mode {:o})",
            meta.uid(),
            meta.mode() & 0o7777
        )));
    }
    Ok(file)
}

/// Takes the write lock on byte `index` of `file` for its open file description, if no
/// other description holds it.
fn try_lock(file: &File, index: u32) -> std::io::Result<bool> {
    match set_byte_lock(file, index, libc::F_WRLCK) {
        Ok(()) => Ok(true),
        Err(Errno::EAGAIN | Errno::EACCES) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// `F_OFD_SETLK` of `kind` (a write lock, or unlocking) on byte `index` of `file`.
fn set_byte_lock(file: &File, index: u32, kind: libc::c_int) -> nix::Result<()> {
    let lock = libc::flock {
        l_type: kind as libc::c_short,
        l_whence: libc::SEEK_SET as libc::c_short,
        l_start: i64::from(index),
        l_len: 1,
        l_pid: 0,
    };
    fcntl(file, FcntlArg::F_OFD_SETLK(&lock)).map(drop)
}

/// Kills the processes of every uid in `range` whose lease nobody holds: what sandboxes of a
/// nodecell that died left behind.
fn sweep(range: UidRange) {
    let Ok(proc_dir) = std::fs::read_dir("/proc") else {
        return;
    };
    let mut uids: Vec<u32> = proc_dir
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.parse::<u32>().is_ok())
        })
        .filter_map(|e| e.metadata().ok().map(|m| m.uid()))
        .filter(|uid| range.contains(*uid))
        .collect();
    uids.sort_unstable();
    uids.dedup();
    if uids.is_empty() {
        return;
    }
    let Ok(file) = open_lock_file() else {
        return;
    };
    for uid in uids {
        // Taken and given back at once (the file is closed at the end): only a uid nobody
        // leases is emptied.
        if try_lock(&file, uid - range.first).unwrap_or(false) {
            tracing::info!(uid, "killing what a gone sandbox left running");
            let _ = crate::sys::kill_every_process_of(uid);
            let _ = set_byte_lock(&file, uid - range.first, libc::F_UNLCK);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_that_overlap_accounts_or_special_ids_are_refused() {
        let passwd =
            std::env::temp_dir().join(format!("nodecell-test-passwd-{}", std::process::id()));
        std::fs::write(
            &passwd,
            "root:x:0:0::/root:/bin/sh\nalice:x:1879048200:100::/home/alice:/bin/sh\n",
        )
        .unwrap();
        let files = [passwd.to_str().unwrap()];
        let check = |first, count| UidRange { first, count }.check_against(&files);
        assert_eq!(check(0x7100_0000, 65536), Ok(()));
        for (first, count) in [
            (0, 10),
            (500, 1000),
            (65000, 1000),
            (0x7fff_0000, 0x20000),
            (2000, 0),
        ] {
            assert!(check(first, count).is_err(), "{first}+{count}");
        }
        let err = check(0x7000_0000, 65536).unwrap_err();
        assert!(err.contains("\"alice\""), "{err}");
        std::fs::remove_file(&passwd).unwrap();
    }
}
