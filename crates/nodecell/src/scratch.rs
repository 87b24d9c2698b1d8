//! A sandbox's private directory on the host (the landlock backend's cwd, $HOME and $TMPDIR),
//! removed with the sandbox.
//!
//! Every scratch directory has an unguessable name (128 random bits) inside a parent of this
//! process, `<temp dir>/nodecell-<pid>-scratch-<random>`, mode 0711: other users (runs as
//! nobody included) can pass through it to a name they know but cannot list it, and Landlock
//! keeps a run of the service's own user from listing it. So one run cannot find another's
//! directory to `chmod` or `stat` it (Landlock does not govern either), and nobody can make a
//! run fail by creating its directory first. The parent lives as long as a scratch directory
//! in it does, and this process holds a `flock` on it meanwhile: the sweep of parents left by
//! processes that are gone takes only those whose lock it can take, so that a nodecell in
//! another PID namespace (where this process's pid means nothing) never removes them.
//!
//! A run can build a tree deeper than any path or file-descriptor limit (renaming a
//! directory into a new one, over and over): [`remove_tree`] removes any tree without
//! recursion, holding at most two directories open.

use std::ffi::{CStr, CString};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};

use nix::dir::{Dir, Type};
use nix::errno::Errno;
use nix::fcntl::{renameat2, OFlag, RenameFlags, AT_FDCWD};
use nix::sys::stat::{fchmodat, FchmodatFlags, Mode};
use nix::unistd::{unlinkat, UnlinkatFlags};

use crate::run_uid::RunUid;

/// The run's private directory: its cwd, $HOME and $TMPDIR. Removed on drop.
#[derive(Debug)]
pub struct ScratchDir {
    path: PathBuf,
    /// A tmpfs of its own is mounted on it (where the host may mount: as root).
    mounted: bool,
    /// The run's own uid, which owns the directory (as root). Its processes are killed, and
    /// the uid given back, once the directory is gone.
    owner: Option<RunUid>,
    /// Removed when its last scratch directory is.
    _parent: Arc<Parent>,
}

/// The parent of this process's scratch directories, locked while it lives.
#[derive(Debug)]
struct Parent {
    path: PathBuf,
    _lock: nix::fcntl::Flock<std::fs::File>,
}

impl Drop for Parent {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.path);
    }
}

/// Creates `dir` with `mode` under a random name `prefix<32 hex digits>` in `at`, trying
/// again if the name is taken.
fn create_unguessable(at: &Path, prefix: &str, mode: u32) -> std::io::Result<PathBuf> {
    loop {
        let path = at.join(format!("{prefix}{}", crate::protocol::new_nonce()));
        match std::fs::DirBuilder::new().mode(mode).create(&path) {
            Ok(()) => {
                // Whatever the umask took away.
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))?;
                return Ok(path);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
}

impl Parent {
    /// The current parent, or a new one.
    fn get() -> std::io::Result<Arc<Parent>> {
        static CURRENT: Mutex<Weak<Parent>> = Mutex::new(Weak::new());
        let mut current = CURRENT.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(p) = current.upgrade() {
            return Ok(p);
        }
        static SWEPT: std::sync::Once = std::sync::Once::new();
        SWEPT.call_once(|| sweep_stale(&std::env::temp_dir()));
        // Made under a name the sweep ignores, locked, then given its name: a sweep never
        // sees it unlocked.
        let tmp = std::env::temp_dir();
        let setup = create_unguessable(
            &tmp,
            &format!("nodecell-{}-setup-", std::process::id()),
            0o711,
        )?;
        let lock = crate::dir_lock::lock(&setup)?.ok_or_else(|| {
            std::io::Error::other(format!("{} was locked as it was made", setup.display()))
        })?;
        let name = setup
            .file_name()
            .expect("a made directory has a name")
            .to_string_lossy();
        let path = tmp.join(name.replacen("-setup-", "-scratch-", 1));
        std::fs::rename(&setup, &path)?;
        let parent = Arc::new(Parent { path, _lock: lock });
        *current = Arc::downgrade(&parent);
        Ok(parent)
    }
}

/// Removes the scratch parents (and what is in them) of processes that are gone: a service or
/// a `nodecell run` that was SIGKILLed leaves its own behind. A parent is gone when its lock
/// can be taken (whatever PID namespace its owner was in); only directories nobody but this
/// user or root can have written are touched.
fn sweep_stale(tmp: &Path) {
    let Ok(dir) = std::fs::read_dir(tmp) else {
        return;
    };
    for entry in dir.flatten() {
        let name = entry.file_name();
        let ours = name
            .to_str()
            .and_then(|n| n.strip_prefix("nodecell-"))
            .and_then(|r| r.split_once("-scratch-"))
            .is_some_and(|(pid, _)| pid.parse::<u32>().is_ok());
        let path = entry.path();
        if !ours || !crate::trust::written_only_by_us(&path) {
            continue;
        }
        // Held while the tree goes, so that no other sweep works on it at the same time.
        let Ok(Some(_lock)) = crate::dir_lock::lock(&path) else {
            continue;
        };
        unmount_below(&path);
        if let Err(e) = remove_tree(&path) {
            tracing::warn!(path = %path.display(), error = %e, "stale scratch directory not removed");
        }
    }
}

/// What a scratch directory may hold, where it gets a tmpfs of its own.
#[derive(Clone, Copy, Debug)]
pub struct ScratchCap {
    pub bytes: u64,
    pub inodes: u64,
}

/// Detaches every mount below `dir` (the scratch tmpfs of a process that is gone).
fn unmount_below(dir: &Path) {
    let Ok(mounts) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return;
    };
    let prefix = format!("{}/", dir.display());
    for line in mounts.lines() {
        // Field 5 is the mount point, with space, tab, newline and backslash escaped.
        let Some(point) = line.split(' ').nth(4) else {
            continue;
        };
        if point.starts_with(&prefix) && !point.contains('\\') {
            let _ = nix::mount::umount2(point, nix::mount::MntFlags::MNT_DETACH);
        }
    }
}

impl ScratchDir {
    /// Creates a directory of mode 0700 under an unguessable name in this process's parent.
    ///
    /// With an `owner` (as root: the run's own uid), a tmpfs of its own is mounted on it
    /// (`nosuid,nodev,noexec`, owned by that uid and gid), holding at most `cap`: what a run
    /// builds there is bounded in bytes and inodes, and goes with the unmount however deep a
    /// tree it is. Otherwise the directory belongs to the service's user, on the temp
    /// directory's file system, each file capped by RLIMIT_FSIZE only.
    pub fn create(owner: Option<RunUid>, cap: ScratchCap) -> std::io::Result<ScratchDir> {
        let parent = Parent::get()?;
        let path = create_unguessable(&parent.path, "", 0o700)?;
        let owner_uid = owner.as_ref().map(RunUid::uid);
        let mut dir = ScratchDir {
            path,
            mounted: false,
            owner,
            _parent: parent,
        };
        if let Some(id) = owner_uid {
            let options = format!(
                "size={},nr_inodes={},mode=0700,uid={id},gid={id}",
                cap.bytes, cap.inodes
            );
            nix::mount::mount(
                Some("nodecell-scratch"),
                &dir.path,
                Some("tmpfs"),
                nix::mount::MsFlags::MS_NOSUID
                    | nix::mount::MsFlags::MS_NODEV
                    | nix::mount::MsFlags::MS_NOEXEC,
                Some(options.as_str()),
            )?;
            dir.mounted = true;
        }
        Ok(dir)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The run's own uid, where it has one.
    pub fn owner_uid(&self) -> Option<u32> {
        self.owner.as_ref().map(RunUid::uid)
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        // Nothing of the run may write here any more, however it ended; the uid is given
        // back when the fields drop, after the directory is gone.
        if let Some(owner) = &mut self.owner {
            owner.kill_processes();
        }
        if self.mounted {
            // Detached at once; the kernel frees it when the last process using it is gone.
            if let Err(e) = nix::mount::umount2(&self.path, nix::mount::MntFlags::MNT_DETACH) {
                crate::warn_limited!(path = %self.path.display(), error = %e, "scratch tmpfs not unmounted");
            }
        }
        // A process of a run killed a moment ago may still be writing: a few tries.
        let mut result = remove_tree(&self.path);
        for _ in 0..5 {
            if result != Err(Errno::ENOTEMPTY) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
            result = remove_tree(&self.path);
        }
        if let Err(e) = result {
            crate::warn_limited!(path = %self.path.display(), error = %e, "scratch directory not removed");
        }
    }
}

/// Up to `max` names in the directory `fd` (not `.` and `..`), each with whether it is a
/// directory.
fn names(fd: &OwnedFd, max: usize) -> nix::Result<Vec<(CString, bool)>> {
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    // A fresh open file description: listing starts at the beginning.
    let mut dir = Dir::openat(fd.as_fd(), ".", flags, Mode::empty())?;
    let mut out = Vec::new();
    for entry in dir.iter() {
        let entry = entry?;
        let name = entry.file_name();
        if name == c"." || name == c".." {
            continue;
        }
        let is_dir = match entry.file_type() {
            Some(t) => t == Type::Directory,
            None => nix::sys::stat::fstatat(fd, name, nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW)
                .is_ok_and(|s| s.st_mode & libc::S_IFMT == libc::S_IFDIR),
        };
        out.push((name.to_owned(), is_dir));
        if out.len() == max {
            break;
        }
    }
    Ok(out)
}

/// Opens the directory `name` in `at` for removal, searchable and writable again whatever
/// the run left of its permissions.
fn open_dir(at: &impl AsFd, name: &CStr) -> nix::Result<OwnedFd> {
    fchmodat(at, name, Mode::S_IRWXU, FchmodatFlags::FollowSymlink)?;
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    nix::fcntl::openat(at, name, flags, Mode::empty())
}

fn ignore_gone(r: nix::Result<()>) -> nix::Result<()> {
    match r {
        Err(Errno::ENOENT) => Ok(()),
        r => r,
    }
}

/// Removes `root` and everything below it, however deep, without recursion and with at most
/// two directories open: each directory in `root` has its own subdirectories moved up into
/// `root` (under fresh names) and its other entries unlinked, and is then removed itself.
/// Every entry is handled once.
pub fn remove_tree(root: &Path) -> nix::Result<()> {
    let root_name = CString::new(root.as_os_str().as_encoded_bytes()).map_err(|_| Errno::EINVAL)?;
    let root_fd = match open_dir(&AT_FDCWD, &root_name) {
        Err(Errno::ENOENT) => return Ok(()),
        r => r?,
    };
    let mut fresh = 0u64;
    loop {
        let batch = names(&root_fd, 1024)?;
        if batch.is_empty() {
            break;
        }
        for (name, is_dir) in batch {
            if !is_dir {
                ignore_gone(unlinkat(
                    &root_fd,
                    name.as_c_str(),
                    UnlinkatFlags::NoRemoveDir,
                ))?;
                continue;
            }
            let child = open_dir(&root_fd, &name)?;
            loop {
                let inner = names(&child, 1024)?;
                if inner.is_empty() {
                    break;
                }
                for (n, d) in inner {
                    if !d {
                        ignore_gone(unlinkat(&child, n.as_c_str(), UnlinkatFlags::NoRemoveDir))?;
                        continue;
                    }
                    loop {
                        fresh += 1;
                        let to = CString::new(format!(".nodecell-rm-{fresh}"))
                            .expect("no NUL in a number");
                        match renameat2(
                            &child,
                            n.as_c_str(),
                            &root_fd,
                            to.as_c_str(),
                            RenameFlags::RENAME_NOREPLACE,
                        ) {
                            Err(Errno::EEXIST) => continue,
                            r => break ignore_gone(r)?,
                        }
                    }
                }
            }
            drop(child);
            ignore_gone(unlinkat(
                &root_fd,
                name.as_c_str(),
                UnlinkatFlags::RemoveDir,
            ))?;
        }
    }
    drop(root_fd);
    ignore_gone(unlinkat(AT_FDCWD, root, UnlinkatFlags::RemoveDir))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tree deeper than any path or fd limit (as a run builds one: rename the tree into a
    /// new directory, again and again), with files and unreadable directories on the way,
    /// is removed without recursion.
    #[test]
    fn a_tree_of_any_depth_is_removed() {
        let root =
            std::env::temp_dir().join(format!("nodecell-remove-tree-{}", std::process::id()));
        std::fs::create_dir(&root).unwrap();
        let (c, t) = (root.join("c"), root.join("t"));
        std::fs::create_dir(&c).unwrap();
        for i in 0..20_000 {
            std::fs::create_dir(&t).unwrap();
            if i % 1000 == 0 {
                std::fs::write(t.join("f"), "x").unwrap();
                std::fs::set_permissions(&c, std::fs::Permissions::from_mode(0o000)).unwrap();
            }
            std::fs::rename(&c, t.join("c")).unwrap();
            std::fs::rename(&t, &c).unwrap();
        }
        std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o500)).unwrap();
        remove_tree(&root).unwrap();
        assert!(!root.exists());
        remove_tree(&root).unwrap();
    }

    #[test]
    fn only_unlocked_scratch_parents_are_swept() {
        let tmp = std::env::temp_dir().join(format!("nodecell-sweep-unit-{}", std::process::id()));
        // Locked: a live owner, whatever its pid says (1: it may be in another PID
        // namespace). Unlocked: gone. Other names (a parent being set up): not swept.
        let stale = tmp.join("nodecell-1-scratch-abc");
        let locked = tmp.join("nodecell-1-scratch-def");
        let setup = tmp.join("nodecell-1-setup-abc");
        for d in [&stale, &locked, &setup] {
            std::fs::create_dir_all(d.join("x/y")).unwrap();
        }
        let held = crate::dir_lock::lock(&locked).unwrap().unwrap();
        sweep_stale(&tmp);
        assert!(!stale.exists());
        assert!(locked.exists() && setup.exists());
        drop(held);
        sweep_stale(&tmp);
        assert!(!locked.exists());
        std::fs::remove_dir_all(&tmp).unwrap();
    }

    #[test]
    fn scratch_names_are_unguessable_and_the_parent_goes_with_the_last() {
        let cap = ScratchCap {
            bytes: 1 << 20,
            inodes: 64,
        };
        let a = ScratchDir::create(None, cap).unwrap();
        let b = ScratchDir::create(None, cap).unwrap();
        let parent = a.path().parent().unwrap().to_path_buf();
        assert_eq!(b.path().parent().unwrap(), parent);
        let name = a.path().file_name().unwrap().to_string_lossy().into_owned();
        assert_eq!(name.len(), 32, "{name}");
        assert!(name.chars().all(|c| c.is_ascii_hexdigit()), "{name}");
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&parent), 0o711);
        assert_eq!(mode(a.path()), 0o700);
        drop(a);
        assert!(parent.exists());
        drop(b);
        assert!(!parent.exists());
    }
}
