//! One process's own directory in each cgroup hierarchy, and the sweep of those whose process
//! is gone.
//!
//! Every process that makes cgroups (the service, `nodecell run`) makes one directory
//! `nodecell-<32 random hex digits>` at the top of each hierarchy (its *instance*) and its
//! run groups inside it. It holds an exclusive `flock` on each of those directories for as
//! long as it lives: the kernel drops a lock when its process dies, however it dies, and a
//! lock is seen by every process that shares the cgroup tree, whatever its PID namespace. (A
//! pid in a name is not: a live process of another namespace may have a pid that is unused,
//! or another process's, here.)
//!
//! A process sweeps before it makes its instance: it tries the lock of every `nodecell-<hex>`
//! directory without waiting. It gets one only when the owner is dead; then it kills what is
//! left inside (`cgroup.kill` on v2, else SIGKILL to every pid in `cgroup.procs`, until
//! empty) and removes the groups, innermost first, and the instance last. A locked instance is
//! never touched, and a group that still has tasks is never removed (the kernel refuses it).

use std::fs::{self, File};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use nix::fcntl::Flock;

use crate::dir_lock::lock;

/// Every instance directory's name starts so, followed by 32 lowercase hex digits.
pub const PREFIX: &str = "nodecell-";

/// This process's directory in every hierarchy, locked while it lives; removed on drop.
#[derive(Debug)]
pub struct Instance {
    name: String,
    /// The hierarchies' top directories the instance was made in.
    roots: Vec<PathBuf>,
    /// Each hierarchy's instance directory with the lock held on it.
    dirs: Vec<(PathBuf, Flock<File>)>,
    /// The number of the next run group.
    next: AtomicU64,
}

/// The live instances of this process (one per set of hierarchies), and every name made.
static LIVE: Mutex<Vec<Weak<Instance>>> = Mutex::new(Vec::new());
static MADE: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Why an instance could not be made.
#[derive(Debug)]
pub struct CreateError {
    pub path: PathBuf,
    pub source: io::Error,
}

impl Instance {
    /// This process's instance in the hierarchies `roots`: the live one, or a new one made
    /// after a sweep of dead ones (`v2`: a cgroup v2 tree, whose controllers the instance
    /// passes on to its run groups).
    pub fn get(roots: &[&Path], v2: bool) -> Result<Arc<Instance>, CreateError> {
        let mut live = LIVE.lock().unwrap_or_else(|e| e.into_inner());
        live.retain(|w| w.strong_count() > 0);
        if let Some(found) = live.iter().filter_map(Weak::upgrade).find(|i| {
            i.roots
                .iter()
                .map(PathBuf::as_path)
                .eq(roots.iter().copied())
        }) {
            return Ok(found);
        }
        sweep(roots, v2);
        let instance = Arc::new(Instance::create(roots, v2)?);
        live.push(Arc::downgrade(&instance));
        MADE.lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(instance.name.clone());
        Ok(instance)
    }

    fn create(roots: &[&Path], v2: bool) -> Result<Instance, CreateError> {
        // A name is retried only when a sweep of another process took the fresh, still
        // unlocked directory (it removes it).
        let mut attempts = 0;
        loop {
            let name = format!("{PREFIX}{}", crate::protocol::new_nonce());
            match Instance::try_create(roots, &name, v2) {
                Ok(dirs) => {
                    return Ok(Instance {
                        name,
                        roots: roots.iter().map(|r| r.to_path_buf()).collect(),
                        dirs,
                        next: AtomicU64::new(0),
                    })
                }
                Err(e) if e.source.kind() == io::ErrorKind::WouldBlock && attempts < 8 => {
                    attempts += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Makes and locks `name` in every root (WouldBlock: a sweep took one of them first).
    fn try_create(
        roots: &[&Path],
        name: &str,
        v2: bool,
    ) -> Result<Vec<(PathBuf, Flock<File>)>, CreateError> {
        let mut dirs = Vec::new();
        let made = roots.iter().try_for_each(|root| {
            let dir = root.join(name);
            let err = |source| CreateError {
                path: dir.clone(),
                source,
            };
            fs::create_dir(&dir).map_err(err)?;
            let locked = match lock(&dir) {
                // Still the directory made above: a sweep between the mkdir and the lock
                // would have removed it.
                Ok(Some(lock)) if same_file(&lock, &dir) => Ok(lock),
                Ok(_) => Err(io::ErrorKind::WouldBlock.into()),
                Err(e) => Err(e),
            };
            match locked {
                Ok(lock) => dirs.push((dir.clone(), lock)),
                Err(e) => {
                    let _ = fs::remove_dir(&dir);
                    return Err(err(e));
                }
            }
            if v2 {
                enable_controllers(&dir);
            }
            Ok(())
        });
        match made {
            Ok(()) => Ok(dirs),
            Err(e) => {
                for (dir, _lock) in &dirs {
                    let _ = fs::remove_dir(dir);
                }
                Err(e)
            }
        }
    }

    /// `nodecell-<32 hex digits>`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A new run group's name within the instance: `run-<n>`.
    pub fn next_run_name(&self) -> String {
        self.next_name("run")
    }

    /// A new group's name within the instance: `<kind>-<n>`.
    pub fn next_name(&self, kind: &str) -> String {
        format!("{kind}-{}", self.next.fetch_add(1, Ordering::Relaxed))
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        // Its run groups are gone by now (each is removed when its run ends); one that was
        // still busy keeps the instance, which the next sweep removes once the lock is free.
        for (dir, _lock) in &self.dirs {
            if let Err(e) = fs::remove_dir(dir) {
                if e.kind() != io::ErrorKind::NotFound {
                    crate::warn_limited!(path = %dir.display(), error = %e, "cgroup instance not removed; left for the next sweep");
                }
            }
        }
    }
}

/// The name of this process's live cgroup instance, if it has one (for tests and diagnostics:
/// its run groups are `/sys/fs/cgroup/<hierarchy>/<name>/run-<n>`).
pub fn current() -> Option<String> {
    let live = LIVE.lock().unwrap_or_else(|e| e.into_inner());
    live.iter().find_map(Weak::upgrade).map(|i| i.name.clone())
}

/// Every instance name this process has made, live or not.
pub fn made() -> Vec<String> {
    MADE.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

/// Whether `name` is an instance directory's (`nodecell-` and 32 lowercase hex digits).
pub fn is_instance_name(name: &str) -> bool {
    name.strip_prefix(PREFIX).is_some_and(|hex| {
        hex.len() == 32 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    })
}

fn same_file(file: &File, path: &Path) -> bool {
    match (file.metadata(), fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// Passes the memory, pids and cpu controllers on to the groups below `dir` (cgroup v2),
/// each on its own: one the tree lacks does not keep the others off.
pub fn enable_controllers(dir: &Path) {
    for c in ["+memory", "+pids", "+cpu"] {
        let _ = fs::write(dir.join("cgroup.subtree_control"), c);
    }
}

/// Removes the instances in `roots` whose owner is dead: those whose lock is free.
pub fn sweep(roots: &[&Path], v2: bool) {
    for root in roots {
        let Ok(entries) = fs::read_dir(root) else {
            continue;
        };
        for entry in entries.flatten() {
            if !entry.file_name().to_str().is_some_and(is_instance_name) {
                continue;
            }
            let dir = entry.path();
            // Held while the instance is cleaned: a concurrent sweep skips it.
            let Ok(Some(_lock)) = lock(&dir) else {
                continue;
            };
            if !clean(&dir, v2) {
                tracing::warn!(path = %dir.display(), "stale cgroup instance still busy after 2 s; left for the next sweep");
            }
        }
    }
}

/// Kills everything in `dir` and below and removes those groups, innermost first, and `dir`
/// itself; whether all are gone (within 2 s).
pub fn clean(dir: &Path, v2: bool) -> bool {
    for attempt in 0..400 {
        kill_tree(dir, v2);
        if remove_tree(dir) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(if attempt < 20 { 1 } else { 5 }));
    }
    false
}

/// `dir` and every cgroup directory below it, parents before children.
pub fn tree(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![dir.to_path_buf()];
    let mut i = 0;
    while i < out.len() {
        if let Ok(entries) = fs::read_dir(&out[i]) {
            let subdirs: Vec<PathBuf> = entries
                .flatten()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .map(|e| e.path())
                .collect();
            out.extend(subdirs);
        }
        i += 1;
    }
    out
}

/// The processes in the groups `dirs` and below them, as this PID namespace sees them (one
/// that it cannot see is not listed).
pub fn pids(dirs: &[PathBuf]) -> Vec<i32> {
    let mut out = Vec::new();
    for dir in dirs.iter().flat_map(|d| tree(d)) {
        if let Ok(text) = fs::read_to_string(dir.join("cgroup.procs")) {
            out.extend(text.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// SIGKILLs every process in `dir` and below: `cgroup.kill` on v2 (every namespace's
/// processes), else one signal per pid in `cgroup.procs`.
pub fn kill_tree(dir: &Path, v2: bool) {
    if v2 && fs::write(dir.join("cgroup.kill"), "1").is_ok() {
        return;
    }
    for pid in pids(&[dir.to_path_buf()]) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}

/// Removes `dir` and the groups below it, innermost first; whether all are gone. A group
/// with tasks stays (the kernel refuses to remove it), and so do the groups above it.
pub fn remove_tree(dir: &Path) -> bool {
    let mut gone = true;
    for d in tree(dir).iter().rev() {
        match fs::remove_dir(d) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(_) => gone = false,
        }
    }
    gone
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A directory standing for a hierarchy's top (plain directories: only the locks and
    /// the removal are exercised here; tests/instances.rs uses real cgroups).
    fn root(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "nodecell-instance-test-{tag}-{}",
            std::process::id()
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir(&dir).unwrap();
        dir
    }

    #[test]
    fn instance_names_are_exactly_prefix_and_32_hex_digits() {
        let hex = "0123456789abcdef0123456789abcdef";
        assert!(is_instance_name(&format!("nodecell-{hex}")));
        assert!(!is_instance_name(&format!("nodecell-{}", &hex[1..])));
        assert!(!is_instance_name(&format!("nodecell-{hex}0")));
        assert!(!is_instance_name(&format!(
            "nodecell-{}",
            hex.to_uppercase()
        )));
        // The names before instances (`nodecell-<pid>-<n>`) belong to no lock: never swept.
        assert!(!is_instance_name("nodecell-1234-0"));
        assert!(!is_instance_name("NSJAIL.12"));
    }

    #[test]
    fn a_locked_instance_is_never_swept_and_a_free_one_is() {
        let root = root("sweep");
        let held = root.join(format!("{PREFIX}{}", crate::protocol::new_nonce()));
        let free = root.join(format!("{PREFIX}{}", crate::protocol::new_nonce()));
        let other = root.join("nodecell-1-0");
        for d in [&held, &free, &other] {
            fs::create_dir_all(d.join("run-0/NSJAIL.7")).unwrap();
        }
        // A lock held through another open file (another process, for the kernel).
        let lock = lock(&held).unwrap().expect("the lock is free");
        sweep(&[&root], false);
        assert!(
            held.join("run-0/NSJAIL.7").exists(),
            "a locked instance was touched"
        );
        assert!(!free.exists(), "a free instance was not swept");
        assert!(other.exists(), "a name that is not an instance's was swept");
        drop(lock);
        sweep(&[&root], false);
        assert!(
            !held.exists(),
            "the instance was not swept once its lock was free"
        );
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn an_instance_is_locked_while_it_lives_and_removed_on_drop() {
        let roots = [root("live-a"), root("live-b")];
        let refs: Vec<&Path> = roots.iter().map(PathBuf::as_path).collect();
        let instance = Instance::get(&refs, false).unwrap();
        assert!(is_instance_name(instance.name()));
        assert!(made().contains(&instance.name().to_string()));
        // The same process gets the same instance while it lives.
        assert!(Arc::ptr_eq(
            &instance,
            &Instance::get(&refs, false).unwrap()
        ));
        assert_eq!(instance.next_run_name(), "run-0");
        assert_eq!(instance.next_run_name(), "run-1");
        let dirs: Vec<PathBuf> = roots.iter().map(|r| r.join(instance.name())).collect();
        for d in &dirs {
            assert!(lock(d).unwrap().is_none(), "{} is not locked", d.display());
        }
        // Another process's sweep (here: the same sweep) leaves it alone.
        sweep(&refs, false);
        assert!(dirs.iter().all(|d| d.exists()));
        drop(instance);
        assert!(dirs.iter().all(|d| !d.exists()), "not removed on drop");
        for r in &roots {
            fs::remove_dir(r).unwrap();
        }
    }
}
