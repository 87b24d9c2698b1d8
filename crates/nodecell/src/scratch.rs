//! A sandbox's private directory on the host (the landlock backend's cwd, $HOME and $TMPDIR),
//! removed with the sandbox.

use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::launch::spec::SANDBOX_ID;

/// The run's private directory: its cwd, $HOME and $TMPDIR. Removed on drop.
#[derive(Debug)]
pub struct ScratchDir {
    path: PathBuf,
}

impl ScratchDir {
    /// Creates `<temp dir>/nodecell-<pid>-scratch-<n>`, mode 0700, owned by the sandbox's
    /// user.
    pub fn create(host_root: bool) -> std::io::Result<ScratchDir> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let path = std::env::temp_dir().join(format!(
            "nodecell-{}-scratch-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::DirBuilder::new().mode(0o700).create(&path)?;
        let dir = ScratchDir { path };
        if host_root {
            let id = Some(SANDBOX_ID);
            std::os::unix::fs::chown(&dir.path, id, id)?;
        }
        Ok(dir)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Makes every directory beneath `dir` writable and searchable by its owner again, so that
/// what the run left (even with its permissions removed) can be deleted.
fn reopen_permissions(dir: &Path) {
    let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                reopen_permissions(&e.path());
            }
        }
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        if std::fs::remove_dir_all(&self.path).is_err() {
            reopen_permissions(&self.path);
            if let Err(e) = std::fs::remove_dir_all(&self.path) {
                tracing::warn!(path = %self.path.display(), error = %e, "scratch directory not removed");
            }
        }
    }
}
