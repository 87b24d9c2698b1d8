//! What a sandbox must contain: the Node binary, its ELF interpreter and shared libraries,
//! and the runner. Worked out once, on the host, when the engine starts.

use std::ffi::OsStr;
use std::fs;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Component, Path, PathBuf};
use std::process::Command;

use crate::launch::spec::RootEntry;

/// Where the runner directory appears inside a sandbox.
pub const RUNNER_MOUNT: &str = "/runner";

/// Where the Node binary appears inside a sandbox with its own root filesystem (backends
/// native, nsjail, docker): one fixed path, whatever the host path (a Node installed in a
/// checkout under /tmp would otherwise be hidden by the sandbox's private /tmp, and the
/// sandbox learns nothing of the host's directories).
pub const NODE_MOUNT: &str = "/usr/local/bin/node";

#[derive(Debug, thiserror::Error)]
pub enum LayoutError {
    #[error("node binary {path}: {source}")]
    Node {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("runner directory {path} is not usable: {reason}")]
    Runner { path: PathBuf, reason: String },
    #[error("listing the shared libraries of {node}: {reason}")]
    Libraries { node: PathBuf, reason: String },
    #[error("path {path}: {reason}")]
    Path { path: PathBuf, reason: String },
    #[error("node binary {path}: {reason}")]
    Unsupported { path: PathBuf, reason: String },
}

/// The resolved layout.
#[derive(Clone, Debug)]
pub struct NodeLayout {
    /// The Node binary on the host, as configured (backend landlock runs it there).
    pub node: PathBuf,
    /// The Node binary inside a sandbox with its own root filesystem: [`NODE_MOUNT`].
    pub sandbox_node: PathBuf,
    /// Entries of the sandbox's root filesystem, in creation order.
    pub entries: Vec<RootEntry>,
    /// The runner directory on the host.
    pub runner_dir: PathBuf,
    /// Modules user code may load (from the runner's allowlist.json).
    pub allowed_modules: Vec<String>,
    /// The runner's code caches (`.v8cache`: its module tables hold the runner's own
    /// sources) can only have been written by this user or root; otherwise the runner is
    /// told not to use them.
    pub caches_trusted: bool,
}

/// Removes `.` and resolves `..` lexically (symlinks are resolved by the caller step by step).
fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in p.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(n) => out.push(n),
            _ => {}
        }
    }
    out
}

/// Entries that make `path` resolve inside the sandbox exactly as on the host: every symlink
/// met on the way is recreated, and the file or directory finally reached is bound.
pub fn expose(path: &Path, exec: bool, out: &mut Vec<RootEntry>) -> Result<(), LayoutError> {
    let mut pending = normalize(path);
    for _ in 0..40 {
        let mut cur = PathBuf::from("/");
        let mut redirected = None;
        let comps: Vec<_> = pending.components().skip(1).collect();
        for (i, c) in comps.iter().enumerate() {
            let next = cur.join(c);
            let meta = fs::symlink_metadata(&next).map_err(|e| LayoutError::Path {
                path: next.clone(),
                reason: e.to_string(),
            })?;
            if meta.file_type().is_symlink() {
                let target = fs::read_link(&next).map_err(|e| LayoutError::Path {
                    path: next.clone(),
                    reason: e.to_string(),
                })?;
                let entry = RootEntry::Symlink {
                    path: next.clone(),
                    target: target.clone(),
                };
                if !out.contains(&entry) {
                    out.push(entry);
                }
                let mut resolved = normalize(&cur.join(&target));
                for rest in &comps[i + 1..] {
                    resolved.push(rest);
                }
                redirected = Some(resolved);
                break;
            }
            cur = next;
        }
        match redirected {
            Some(p) => pending = p,
            None => {
                let dir = cur.is_dir();
                let entry = RootEntry::Bind {
                    source: cur.clone(),
                    path: cur,
                    dir,
                    exec,
                };
                if !out.contains(&entry) {
                    out.push(entry);
                }
                return Ok(());
            }
        }
    }
    Err(LayoutError::Path {
        path: path.to_path_buf(),
        reason: "too many levels of symbolic links".into(),
    })
}

/// The PT_INTERP of an ELF file (`None` for a static binary). Reads only the headers.
fn elf_interpreter(bin: &Path) -> Result<Option<PathBuf>, String> {
    use std::io::Read;
    let mut data = Vec::new();
    fs::File::open(bin)
        .and_then(|f| f.take(64 * 1024).read_to_end(&mut data))
        .map_err(|e| e.to_string())?;
    if data.len() < 64 || &data[..4] != b"\x7fELF" || data[4] != 2 || data[5] != 1 {
        return Err("not a 64-bit little-endian ELF file".into());
    }
    let u64_at = |o: usize| u64::from_le_bytes(data[o..o + 8].try_into().unwrap()) as usize;
    let u16_at = |o: usize| u16::from_le_bytes(data[o..o + 2].try_into().unwrap()) as usize;
    let (phoff, phentsize, phnum) = (u64_at(0x20), u16_at(0x36), u16_at(0x38));
    for i in 0..phnum {
        let ph = phoff + i * phentsize;
        if ph + 56 > data.len() {
            break;
        }
        if u32::from_le_bytes(data[ph..ph + 4].try_into().unwrap()) == 3 {
            let (off, size) = (u64_at(ph + 8), u64_at(ph + 32));
            let raw = data.get(off..off + size).ok_or("PT_INTERP out of bounds")?;
            let s = raw.split(|&b| b == 0).next().unwrap_or_default();
            return Ok(Some(PathBuf::from(OsStr::new(
                std::str::from_utf8(s).map_err(|e| e.to_string())?,
            ))));
        }
    }
    Ok(None)
}

/// The shared libraries `bin` loads, as the dynamic loader resolves them on this host.
fn shared_libraries(bin: &Path, interp: &Path) -> Result<Vec<PathBuf>, String> {
    let out = Command::new(interp)
        .arg("--list")
        .arg(bin)
        .env_clear()
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!(
            "{} --list failed: {}",
            interp.display(),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    Ok(text
        .lines()
        .filter_map(|l| {
            let l = l.trim();
            let p = match l.split_once("=>") {
                Some((_, rhs)) => rhs.trim(),
                None => l,
            };
            let p = p.split(" (").next()?.trim();
            p.starts_with('/').then(|| PathBuf::from(p))
        })
        .collect())
}

/// Where the loader's answer is remembered: in the runner directory, next to the startup
/// snapshots (running the loader costs a process, about a millisecond, at every start of a
/// one-shot `nodecell run`).
const LIBRARY_CACHE_DIR: &str = crate::snapshot::DIR;
const LIBRARY_CACHE_PREFIX: &str = "libraries-";

/// What decides the loader's answer: the binary and the loader themselves, the loader's
/// cache and preload list (device, inode, size, modification and change times; absence
/// counts too) and the boot (the kernel and the CPU pick among library variants). `None`
/// when one of them cannot be examined.
fn loader_key(bin: &Path, interp: &Path) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    let mut h = DefaultHasher::new();
    let config = [
        Path::new("/etc/ld.so.cache"),
        Path::new("/etc/ld.so.preload"),
    ];
    for p in [bin, interp].into_iter().chain(config) {
        p.hash(&mut h);
        match fs::metadata(p) {
            Ok(m) => (
                m.dev(),
                m.ino(),
                m.size(),
                m.mtime(),
                m.mtime_nsec(),
                m.ctime(),
                m.ctime_nsec(),
            )
                .hash(&mut h),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => "absent".hash(&mut h),
            Err(_) => return None,
        }
    }
    fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .ok()?
        .hash(&mut h);
    Some(h.finish())
}

/// [`shared_libraries`], remembered in `cache_dir` under [`loader_key`]. A cache file is
/// used only if it and its directory can only have been written by this user or root; it
/// is written best effort (a read-only runner directory just means no cache).
fn cached_shared_libraries(
    bin: &Path,
    interp: &Path,
    cache_dir: &Path,
) -> Result<Vec<PathBuf>, String> {
    let Some(key) = loader_key(bin, interp) else {
        return shared_libraries(bin, interp);
    };
    let name = format!("{LIBRARY_CACHE_PREFIX}{key:016x}.txt");
    let file = cache_dir.join(&name);
    if crate::trust::written_only_by_us(cache_dir) && crate::trust::written_only_by_us(&file) {
        if let Ok(text) = fs::read_to_string(&file) {
            let libs: Vec<PathBuf> = text.lines().map(PathBuf::from).collect();
            if !libs.is_empty() && libs.iter().all(|l| l.is_absolute()) {
                return Ok(libs);
            }
        }
    }
    let libs = shared_libraries(bin, interp)?;
    let mut text = String::new();
    for lib in &libs {
        match lib.to_str() {
            Some(l) if !l.contains('\n') => {
                text.push_str(l);
                text.push('\n');
            }
            _ => return Ok(libs), // not representable one per line: not cached
        }
    }
    if fs::create_dir_all(cache_dir).is_ok() && crate::trust::written_only_by_us(cache_dir) {
        let tmp = cache_dir.join(format!(".{name}.{}.tmp", std::process::id()));
        if fs::write(&tmp, text)
            .and_then(|()| fs::rename(&tmp, &file))
            .is_ok()
        {
            // Answers for an older binary, loader or boot are of no further use.
            for entry in fs::read_dir(cache_dir).into_iter().flatten().flatten() {
                let other = entry.file_name();
                let other = other.to_string_lossy();
                if other.starts_with(LIBRARY_CACHE_PREFIX) && *other != name {
                    let _ = fs::remove_file(entry.path());
                }
            }
        } else {
            let _ = fs::remove_file(&tmp);
        }
    }
    Ok(libs)
}

impl NodeLayout {
    pub fn discover(node: &Path, runner_dir: &Path) -> Result<NodeLayout, LayoutError> {
        let real_node = fs::canonicalize(node).map_err(|source| LayoutError::Node {
            path: node.into(),
            source,
        })?;
        let runner_dir = fs::canonicalize(runner_dir).map_err(|e| LayoutError::Runner {
            path: runner_dir.into(),
            reason: e.to_string(),
        })?;
        for needed in ["runner.js", "node_modules", "allowlist.json"] {
            if !runner_dir.join(needed).exists() {
                return Err(LayoutError::Runner {
                    path: runner_dir,
                    reason: format!("{needed} is missing (run `npm ci` in the runner directory)"),
                });
            }
        }
        let allowed_modules: Vec<String> = fs::read(runner_dir.join("allowlist.json"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or_else(|| LayoutError::Runner {
                path: runner_dir.clone(),
                reason: "allowlist.json is not a JSON array of strings".into(),
            })?;

        let mut entries = vec![RootEntry::Bind {
            source: real_node.clone(),
            path: NODE_MOUNT.into(),
            dir: false,
            exec: true,
        }];
        let lib_err = |reason: String| LayoutError::Libraries {
            node: real_node.clone(),
            reason,
        };
        if let Some(interp) = elf_interpreter(&real_node).map_err(lib_err)? {
            expose(&interp, true, &mut entries)?;
            let cache_dir = runner_dir.join(LIBRARY_CACHE_DIR);
            for lib in cached_shared_libraries(&real_node, &interp, &cache_dir).map_err(lib_err)? {
                expose(&lib, true, &mut entries)?;
            }
            if Path::new("/etc/ld.so.cache").exists() {
                expose(Path::new("/etc/ld.so.cache"), false, &mut entries)?;
            }
        }
        entries.push(RootEntry::Bind {
            source: runner_dir.clone(),
            path: RUNNER_MOUNT.into(),
            dir: true,
            exec: false,
        });

        let caches_trusted =
            crate::trust::caches_trusted(&runner_dir.join(crate::trust::CODE_CACHE_DIR));
        Ok(NodeLayout {
            node: node.to_path_buf(),
            sandbox_node: NODE_MOUNT.into(),
            entries,
            runner_dir,
            allowed_modules,
            caches_trusted,
        })
    }
}

impl NodeLayout {
    /// `node --version` (runs Node on the host, unsandboxed and with an empty environment;
    /// only for reports, never on the request path).
    pub fn node_version(&self) -> Result<String, LayoutError> {
        let out = Command::new(&self.node)
            .arg("--version")
            .env_clear()
            .output()
            .map_err(|source| LayoutError::Node {
                path: self.node.clone(),
                source,
            })?;
        if !out.status.success() {
            let msg = String::from_utf8_lossy(&out.stderr).into_owned();
            return Err(LayoutError::Node {
                path: self.node.clone(),
                source: std::io::Error::other(msg),
            });
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    /// [`Self::node_version`], refused unless it is a supported line
    /// ([`crate::node_version::SUPPORTED_NODE_MAJORS`]).
    pub fn supported_node_version(&self) -> Result<String, LayoutError> {
        let version = self.node_version()?;
        crate::node_version::check(&version).map_err(|reason| LayoutError::Unsupported {
            path: self.node.clone(),
            reason,
        })?;
        Ok(version)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symlinks_on_the_way_are_recreated() {
        let dir = std::env::temp_dir().join(format!("nodecell-layout-test-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("real/sub")).unwrap();
        fs::write(dir.join("real/sub/file"), b"x").unwrap();
        std::os::unix::fs::symlink("real", dir.join("link")).unwrap();
        std::os::unix::fs::symlink("../real/sub/file", dir.join("real/alias")).unwrap();
        let mut out = Vec::new();
        expose(&dir.join("link/alias"), false, &mut out).unwrap();
        let real_dir = fs::canonicalize(&dir).unwrap();
        let _ = fs::remove_dir_all(&dir);
        assert_eq!(out.len(), 3, "{out:?}");
        assert!(
            matches!(&out[0], RootEntry::Symlink { target, .. } if target == Path::new("real"))
        );
        assert!(
            matches!(&out[1], RootEntry::Symlink { target, .. } if target == Path::new("../real/sub/file"))
        );
        assert_eq!(
            out[2],
            RootEntry::Bind {
                source: real_dir.join("real/sub/file"),
                path: real_dir.join("real/sub/file"),
                dir: false,
                exec: false
            }
        );
    }

    #[test]
    fn the_loaders_answer_is_remembered_and_read_only_from_safe_files() {
        use std::os::unix::fs::PermissionsExt;
        let node = fs::canonicalize("/usr/bin/node").unwrap();
        let Some(interp) = elf_interpreter(&node).unwrap() else {
            return;
        };
        let dir =
            std::env::temp_dir().join(format!("nodecell-libcache-test-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let stale = dir.join(format!("{LIBRARY_CACHE_PREFIX}0000000000000000.txt"));
        fs::create_dir_all(&dir).unwrap();
        fs::write(&stale, "/old/libc.so.6\n").unwrap();
        let direct = shared_libraries(&node, &interp).unwrap();
        assert_eq!(
            cached_shared_libraries(&node, &interp, &dir).unwrap(),
            direct
        );
        let files: Vec<PathBuf> = fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .collect();
        assert_eq!(
            files.len(),
            1,
            "one answer, the stale one removed: {files:?}"
        );
        let file = &files[0];
        // The next discovery reads the file instead of asking the loader.
        fs::write(file, "/marker/libc.so.6\n").unwrap();
        assert_eq!(
            cached_shared_libraries(&node, &interp, &dir).unwrap(),
            vec![PathBuf::from("/marker/libc.so.6")]
        );
        // A file that others could have written is not believed, and is replaced.
        fs::set_permissions(file, fs::Permissions::from_mode(0o666)).unwrap();
        assert_eq!(
            cached_shared_libraries(&node, &interp, &dir).unwrap(),
            direct
        );
        assert_eq!(fs::metadata(file).unwrap().permissions().mode() & 0o022, 0);
        // Nor is anything in a directory that others can write to.
        fs::write(file, "/marker/libc.so.6\n").unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o777)).unwrap();
        assert_eq!(
            cached_shared_libraries(&node, &interp, &dir).unwrap(),
            direct
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn node_libraries_are_found() {
        let Some(interp) = elf_interpreter(Path::new("/usr/bin/node")).unwrap() else {
            return;
        };
        let libs = shared_libraries(&fs::canonicalize("/usr/bin/node").unwrap(), &interp).unwrap();
        assert!(
            libs.iter().any(|l| l.to_string_lossy().contains("libc.so")),
            "{libs:?}"
        );
    }
}
