//! What the host trusts on disk: a file or directory that nobody but this user or root can
//! have written (the loader cache, the runner's snapshots and code caches).

use std::fs;
use std::path::Path;

/// Whether only this user (or root) can have written `p`: such a file or directory can be
/// trusted to say which host files a sandbox gets, or what code a sandbox runs first.
pub(crate) fn written_only_by_us(p: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let euid = nix::unistd::geteuid().as_raw();
    fs::symlink_metadata(p).is_ok_and(|m| {
        (m.uid() == euid || m.uid() == 0) && m.mode() & 0o022 == 0 && !m.file_type().is_symlink()
    })
}

/// The runner's code cache directory (written by its postinstall, read inside the sandbox).
pub const CODE_CACHE_DIR: &str = ".v8cache";

/// Whether `dir` (absent: nothing to trust) and every file in it can only have been written
/// by this user or root: then nobody else can plant or change a file there later either.
pub(crate) fn caches_trusted(dir: &Path) -> bool {
    match fs::read_dir(dir) {
        Err(e) => e.kind() == std::io::ErrorKind::NotFound,
        Ok(entries) => {
            written_only_by_us(dir) && entries.flatten().all(|e| written_only_by_us(&e.path()))
        }
    }
}
