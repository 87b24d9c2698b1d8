//! The minimal root filesystem: an empty tmpfs holding read-only binds of exactly what Node
//! needs, device nodes, and a private /tmp; then `pivot_root` into it.
//!
//! Runs as root of the sandbox's own user namespace, inside its own mount namespace, so none
//! of these mounts is visible on the host and all of them vanish with the namespace.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::statvfs::{statvfs, FsFlags};
use nix::unistd::{chdir, pivot_root};

use super::spec::{RootEntry, RootFs};

type StepResult = Result<(), String>;

fn ctx<E: std::fmt::Display>(what: impl std::fmt::Display) -> impl FnOnce(E) -> String {
    move |e| format!("{what}: {e}")
}

/// Where the new root is assembled: the first of these that no exposed path lies beneath.
/// The tmpfs mounted there only hides it inside this mount namespace.
const STAGING_CANDIDATES: [&str; 5] = ["/tmp", "/mnt", "/media", "/srv", "/opt"];

fn choose_staging(spec: &RootFs) -> Result<PathBuf, String> {
    let paths: Vec<&Path> = spec
        .entries
        .iter()
        .flat_map(|e| match e {
            RootEntry::Symlink { path, .. } => [path.as_path(), path.as_path()],
            RootEntry::Bind { source, path, .. } => [source.as_path(), path.as_path()],
        })
        .chain(spec.devices.iter().map(PathBuf::as_path))
        .collect();
    STAGING_CANDIDATES
        .iter()
        .map(Path::new)
        .find(|c| c.is_dir() && !paths.iter().any(|p| p.starts_with(c)))
        .map(Path::to_path_buf)
        .ok_or_else(|| "no staging directory for the new root".to_string())
}

fn inside(stage: &Path, path: &Path) -> PathBuf {
    stage.join(path.strip_prefix("/").unwrap_or(path))
}

/// The locked flags of the mount holding `source`, which a remount inside a user namespace
/// must keep (the kernel refuses to clear them).
fn locked_flags(source: &Path) -> Result<MsFlags, String> {
    let f = statvfs(source).map_err(ctx(source.display()))?.flags();
    let mut out = MsFlags::empty();
    for (fs, ms) in [
        (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
        (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
        (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
        (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
    ] {
        if f.contains(fs) {
            out |= ms;
        }
    }
    Ok(out)
}

fn bind(source: &Path, target: &Path, dir: bool, extra: MsFlags) -> StepResult {
    if let Some(parent) = target.parent() {
        fs::create_dir_all(parent).map_err(ctx(parent.display()))?;
    }
    if dir {
        fs::create_dir_all(target).map_err(ctx(target.display()))?;
    } else if !target.exists() {
        fs::write(target, b"").map_err(ctx(target.display()))?;
    }
    mount(
        Some(source),
        target,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(ctx(format!("bind {}", source.display())))?;
    let flags =
        MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_NOSUID | extra | locked_flags(source)?;
    mount(None::<&str>, target, None::<&str>, flags, None::<&str>)
        .map_err(ctx(format!("remount {}", target.display())))
}

fn tmpfs(target: &Path, flags: MsFlags, options: &str) -> StepResult {
    fs::create_dir_all(target).map_err(ctx(target.display()))?;
    mount(Some("tmpfs"), target, Some("tmpfs"), flags, Some(options))
        .map_err(ctx(format!("tmpfs on {}", target.display())))
}

/// Builds the root and pivots into it. Afterwards `/` is the new, read-only root.
pub fn build(spec: &RootFs) -> StepResult {
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(ctx("making / private"))?;
    let stage = choose_staging(spec)?;
    tmpfs(
        &stage,
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        "size=1m,nr_inodes=4096,mode=0755",
    )?;

    for entry in &spec.entries {
        match entry {
            RootEntry::Symlink { path, target } => {
                let at = inside(&stage, path);
                if let Some(parent) = at.parent() {
                    fs::create_dir_all(parent).map_err(ctx(parent.display()))?;
                }
                if at.symlink_metadata().is_err() {
                    symlink(target, &at).map_err(ctx(at.display()))?;
                }
            }
            RootEntry::Bind {
                source,
                path,
                dir,
                exec,
            } => {
                let extra = MsFlags::MS_RDONLY
                    | MsFlags::MS_NODEV
                    | if *exec {
                        MsFlags::empty()
                    } else {
                        MsFlags::MS_NOEXEC
                    };
                bind(source, &inside(&stage, path), *dir, extra)?;
            }
        }
    }
    for dev in &spec.devices {
        bind(dev, &inside(&stage, dev), false, MsFlags::MS_NOEXEC)?;
    }
    let tmp_opts = format!(
        "size={},nr_inodes={},mode=1777",
        spec.tmp_size_bytes, spec.tmp_inodes
    );
    tmpfs(
        &stage.join("tmp"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        &tmp_opts,
    )?;

    // pivot_root(".", "."): the old root ends up stacked under the new one and is detached
    // at once, so no path leads back to the host's tree.
    chdir(&stage).map_err(ctx("chdir to the new root"))?;
    pivot_root(".", ".").map_err(ctx("pivot_root"))?;
    umount2(".", MntFlags::MNT_DETACH).map_err(ctx("detaching the old root"))?;
    chdir("/").map_err(ctx("chdir /"))?;
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_BIND
            | MsFlags::MS_REMOUNT
            | MsFlags::MS_RDONLY
            | MsFlags::MS_NOSUID
            | MsFlags::MS_NODEV
            | MsFlags::MS_NOEXEC,
        None::<&str>,
    )
    .map_err(ctx("making / read-only"))
}
