//! An exclusive `flock` on a directory: how a live process marks what it owns on the host
//! (its cgroup instance, its scratch parent) in a way every PID namespace sees. The kernel
//! drops the lock when the process dies, however it dies, so a lock that can be taken means
//! the owner is gone.

use std::fs::File;
use std::io;
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

/// The exclusive lock on `dir`, or None where another open file holds it (or `dir` is gone).
pub(crate) fn lock(dir: &Path) -> io::Result<Option<Flock<File>>> {
    // File::open is O_RDONLY | O_CLOEXEC: no child inherits the lock.
    let file = match File::open(dir) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(lock) => Ok(Some(lock)),
        Err((_, Errno::EWOULDBLOCK)) => Ok(None),
        Err((_, e)) => Err(e.into()),
    }
}
