//! Building backend qemu's guest for a test (scripts/guest.sh build): shared by this crate's
//! tests (`common::guest_dir`) and the server's (`support::guest_dir`, which includes this
//! file by path).

use std::path::{Path, PathBuf};

/// The guest's directory, built by the checkout at `repo` for `launcher` and `node`; None
/// where QEMU cannot be had: as root the script installs it (Debian's package); elsewhere it
/// must be there already.
pub fn build(repo: &Path, launcher: &Path, node: &Path) -> Option<PathBuf> {
    let has_qemu = std::process::Command::new("sh")
        .args(["-c", "command -v qemu-system-x86_64"])
        .stdout(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !has_qemu && !nix::unistd::geteuid().is_root() {
        eprintln!("backend qemu: qemu-system-x86_64 is missing, and only root installs it");
        return None;
    }
    let out = std::process::Command::new(repo.join("scripts/guest.sh"))
        .arg("build")
        .env("NODECELL_LAUNCHER", launcher)
        .env("NODECELL_NODE", node)
        .stderr(std::process::Stdio::inherit())
        .output()
        .expect("scripts/guest.sh");
    assert!(out.status.success(), "scripts/guest.sh build failed");
    let dir = PathBuf::from(String::from_utf8(out.stdout).unwrap().trim());
    assert!(
        dir.join("kernel").is_file() && dir.join("initrd").is_file(),
        "{dir:?}"
    );
    Some(dir)
}
