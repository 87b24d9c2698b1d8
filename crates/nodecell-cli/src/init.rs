//! nodecell as pid 1 of its PID namespace (a container's init, `unshare --pid --fork`).
//!
//! Pid 1 has duties no other process has: every orphan of the namespace is re-parented to it
//! and stays a zombie until it reaps it, and the kernel delivers it only the signals it has a
//! handler for. nodecell does what tini (`docker run --init`) does: it starts itself again, as
//! pid 2 with the same arguments, passes on every signal a runtime sends (SIGTERM, SIGINT,
//! SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2) and reaps every process that ends below it, and exits
//! with pid 2's status; then the kernel ends whatever is left in the namespace. The work
//! itself never runs as pid 1, so nothing of it has to know.

use std::process::{Command, ExitCode};

use nix::errno::Errno;
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use signal_hook::consts::{SIGCHLD, SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2};
use signal_hook::iterator::Signals;

/// Set in pid 2's environment: it is the work, not the init.
const CHILD_MARK: &str = "NODECELL_UNDER_INIT";

/// The signals passed on to the work.
const FORWARDED: [i32; 6] = [SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2];

/// As pid 1, runs this command again as pid 2 and acts as its init until it ends, returning
/// its exit status; anywhere else, `None` (and the command goes on as itself).
pub fn run_if_pid1() -> Option<ExitCode> {
    if std::process::id() != 1 || std::env::var_os(CHILD_MARK).is_some() {
        return None;
    }
    Some(match supervise() {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("nodecell (as pid 1): {e}");
            ExitCode::from(70)
        }
    })
}

fn supervise() -> std::io::Result<u8> {
    // Registered before pid 2 exists, so that no SIGCHLD is missed; exec resets the
    // handlers in pid 2.
    let mut signals = Signals::new(FORWARDED.iter().copied().chain([SIGCHLD]))?;
    let work = Command::new(std::env::current_exe()?)
        .args(std::env::args_os().skip(1))
        .env(CHILD_MARK, "1")
        .spawn()?;
    let work = Pid::from_raw(work.id() as i32);
    loop {
        if let Some(code) = reap(work) {
            return Ok(code);
        }
        for sig in signals.wait() {
            if sig != SIGCHLD {
                if let Ok(sig) = Signal::try_from(sig) {
                    let _ = kill(work, sig);
                }
            }
        }
    }
}

/// Reaps every child that has ended; the work's exit status once it is among them.
fn reap(work: Pid) -> Option<u8> {
    let mut status = None;
    loop {
        match waitpid(None::<Pid>, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(pid, code)) if pid == work => status = Some(code as u8),
            Ok(WaitStatus::Signaled(pid, sig, _)) if pid == work => {
                status = Some(128u8.saturating_add(sig as u8))
            }
            Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => return status,
            Ok(_) | Err(Errno::EINTR) => continue,
            Err(_) => return status,
        }
    }
}
