//! The sandbox image, built locally: nothing is ever pulled. Its root filesystem is exactly
//! what the other backends bind into their sandboxes (the [`NodeLayout`]: Node, its ELF
//! interpreter and libraries, the files it reads at start, the runner with its modules and
//! caches) plus an empty `/tmp` and the launcher at [`LAUNCHER_IN_IMAGE`] (the container's
//! first process, `crate::launch::in_container`; it needs only libraries Node needs too), written as a deterministic tar (sorted, owner root, fixed
//! times) and imported with the Engine API's image import. Its tag is the tar's SHA-256, so
//! a changed Node or runner gives a new image; older nodecell images are removed when a new
//! one is made.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use bollard::query_parameters::{
    CreateImageOptionsBuilder, ListImagesOptionsBuilder, RemoveImageOptionsBuilder,
};
use sha2::{Digest, Sha256};
use tokio_stream::StreamExt;

use super::{DockerClient, DockerError};
use crate::launch::in_container::LAUNCHER_IN_IMAGE;
use crate::launch::spec::RootEntry;
use crate::layout::NodeLayout;

/// The repository of every sandbox image.
pub const IMAGE_REPO: &str = "nodecell-sandbox";
/// The label every nodecell image carries (how old ones are found).
pub const IMAGE_LABEL: &str = "org.nodecell.sandbox";

/// Writes the sandbox's root filesystem (`layout` and the `launcher` binary) as a tar to
/// `out`; returns the SHA-256 (hex) of what was written. The same files give the same bytes.
pub fn write_rootfs(layout: &NodeLayout, launcher: &Path, out: impl Write) -> io::Result<String> {
    let mut tar = tar::Builder::new(Hashing {
        inner: out,
        hash: Sha256::new(),
    });
    tar.mode(tar::HeaderMode::Deterministic);
    tar.follow_symlinks(false);
    let mut dir = tar::Header::new_gnu();
    dir.set_entry_type(tar::EntryType::Directory);
    dir.set_mode(0o1777);
    dir.set_size(0);
    dir.set_mtime(0);
    tar.append_data(&mut dir, "tmp", io::empty())?;
    let in_image = relative(Path::new(LAUNCHER_IN_IMAGE));
    let mut dir = tar::Header::new_gnu();
    dir.set_entry_type(tar::EntryType::Directory);
    dir.set_mode(0o755);
    dir.set_size(0);
    dir.set_mtime(0);
    tar.append_data(
        &mut dir,
        in_image.parent().expect("a directory"),
        io::empty(),
    )?;
    tar.append_path_with_name(launcher, &in_image)?;
    for entry in &layout.entries {
        match entry {
            RootEntry::Symlink { path, target } => {
                let mut h = tar::Header::new_gnu();
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_mode(0o777);
                h.set_size(0);
                h.set_mtime(0);
                tar.append_link(&mut h, relative(path), target)?;
            }
            RootEntry::Bind { source, path, .. } => {
                // Startup snapshots are built later, on the host, for the other backends:
                // the image would change with each (its sandboxes boot from the files).
                let skip = layout.runner_dir.join(crate::snapshot::DIR);
                append_tree(&mut tar, source, &relative(path), &skip)?
            }
        }
    }
    let hashing = tar.into_inner()?;
    Ok(hex(&hashing.hash.finalize()))
}

/// `path` without its leading `/`, as tar entries are named.
fn relative(path: &Path) -> PathBuf {
    path.strip_prefix("/").unwrap_or(path).to_path_buf()
}

/// Appends `source` (a file, a symlink or a directory with everything below it, in name
/// order, but `skip`) as `name`.
fn append_tree<W: Write>(
    tar: &mut tar::Builder<W>,
    source: &Path,
    name: &Path,
    skip: &Path,
) -> io::Result<()> {
    let mut stack = vec![(source.to_path_buf(), name.to_path_buf())];
    while let Some((source, name)) = stack.pop() {
        if source == skip {
            continue;
        }
        let named = |e: io::Error| io::Error::new(e.kind(), format!("{}: {e}", source.display()));
        let meta = std::fs::symlink_metadata(&source).map_err(named)?;
        tar.append_path_with_name(&source, &name).map_err(named)?;
        if meta.is_dir() {
            let mut children: Vec<_> = std::fs::read_dir(&source)?
                .map(|e| e.map(|e| e.file_name()))
                .collect::<io::Result<_>>()?;
            // Popped in name order.
            children.sort_unstable_by(|a, b| b.cmp(a));
            for child in children {
                stack.push((source.join(&child), name.join(&child)));
            }
        }
    }
    Ok(())
}

/// A writer that hashes what passes through it.
struct Hashing<W> {
    inner: W,
    hash: Sha256,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The image's reference for a root filesystem of hash `sha256`.
pub fn reference(sha256: &str) -> String {
    format!("{IMAGE_REPO}:{}", &sha256[..sha256.len().min(20)])
}

/// What [`ensure`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SandboxImage {
    /// `nodecell-sandbox:<hash>`.
    pub reference: String,
    /// Whether it was imported now (it was not there).
    pub built: bool,
    /// Older nodecell images removed.
    pub removed: Vec<String>,
}

/// The root filesystem of `layout`, written to a temporary file, and its hash.
struct RootfsFile {
    path: PathBuf,
    sha256: String,
}

impl RootfsFile {
    fn write(layout: &NodeLayout, launcher: &Path) -> io::Result<RootfsFile> {
        let path = std::env::temp_dir().join(format!(
            "nodecell-rootfs-{}.tar",
            crate::protocol::new_nonce()
        ));
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)?;
        let mut rootfs = RootfsFile {
            path,
            sha256: String::new(),
        };
        rootfs.sha256 = write_rootfs(layout, launcher, io::BufWriter::new(file))?;
        Ok(rootfs)
    }
}

impl Drop for RootfsFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Whether the engine has the image `reference`.
pub async fn present(client: &DockerClient, reference: &str) -> Result<bool, DockerError> {
    match client.api().inspect_image(reference).await {
        Ok(_) => Ok(true),
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => Ok(false),
        Err(e) => Err(client.error("inspecting the sandbox image")(e)),
    }
}

/// The reference the sandbox image of `layout` and `launcher` has (whether or not the engine
/// has it).
pub async fn reference_of(layout: &NodeLayout, launcher: &Path) -> Result<String, DockerError> {
    let (layout, launcher) = (layout.clone(), launcher.to_path_buf());
    let sha = tokio::task::spawn_blocking(move || write_rootfs(&layout, &launcher, io::sink()))
        .await
        .map_err(io::Error::other)??;
    Ok(reference(&sha))
}

/// Makes sure the engine has the sandbox image of `layout` and `launcher`: imports it when
/// missing, then removes every other nodecell image that no container uses.
pub async fn ensure(
    client: &DockerClient,
    layout: &NodeLayout,
    launcher: &Path,
) -> Result<SandboxImage, DockerError> {
    // Hashed first without writing anything: the image is usually there already.
    let reference = reference_of(layout, launcher).await?;
    let built = !present(client, &reference).await?;
    if built {
        let (owned, launcher) = (layout.clone(), launcher.to_path_buf());
        let rootfs = tokio::task::spawn_blocking(move || RootfsFile::write(&owned, &launcher))
            .await
            .map_err(io::Error::other)??;
        if self::reference(&rootfs.sha256) != reference {
            return Err(DockerError::Rootfs(io::Error::other(
                "the files of the layout changed while the image was being made",
            )));
        }
        import(client, &rootfs.path, &reference).await?;
    }
    let removed = remove_others(client, &reference).await?;
    Ok(SandboxImage {
        reference,
        built,
        removed,
    })
}

/// Imports the tar at `path` as the image `reference`, labelled as nodecell's.
async fn import(client: &DockerClient, path: &Path, reference: &str) -> Result<(), DockerError> {
    // The whole reference as `repo` (which "may include a tag"): Podman's Docker API ignores
    // the `tag` parameter of an import.
    let options = CreateImageOptionsBuilder::default()
        .from_src("-")
        .repo(reference)
        .changes(vec![format!("LABEL {IMAGE_LABEL}=1")])
        .build();
    let file = tokio::fs::File::open(path).await?;
    let body = bollard::body_try_stream(tokio_util::io::ReaderStream::new(file));
    let mut progress = client.api().create_image(Some(options), Some(body), None);
    while let Some(step) = progress.next().await {
        step.map_err(client.error("importing the sandbox image"))?;
    }
    if !present(client, reference).await? {
        return Err(DockerError::Rootfs(io::Error::other(format!(
            "the engine imported {reference} but does not list it"
        ))));
    }
    Ok(())
}

/// Removes the nodecell images other than `keep`; one a container still uses stays.
async fn remove_others(client: &DockerClient, keep: &str) -> Result<Vec<String>, DockerError> {
    let filters = std::collections::HashMap::from([("label", vec![IMAGE_LABEL])]);
    let options = ListImagesOptionsBuilder::default()
        .filters(&filters)
        .build();
    let images = client
        .api()
        .list_images(Some(options))
        .await
        .map_err(client.error("listing nodecell images"))?;
    let mut removed = Vec::new();
    for image in images {
        // Podman lists short names fully qualified (docker.io/library/…, localhost/…).
        if image
            .repo_tags
            .iter()
            .any(|t| t == keep || t.ends_with(&format!("/{keep}")))
        {
            continue;
        }
        let name = image.repo_tags.first().cloned().unwrap_or(image.id.clone());
        let options = RemoveImageOptionsBuilder::default().build();
        match client
            .api()
            .remove_image(&image.id, Some(options), None)
            .await
        {
            Ok(_) => removed.push(name),
            // In use by a container (409), or gone meanwhile (404): not ours to force.
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404 | 409,
                ..
            }) => {}
            Err(e) => return Err(client.error("removing an old nodecell image")(e)),
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout_of(dir: &Path) -> NodeLayout {
        NodeLayout {
            node: dir.join("bin/node"),
            sandbox_node: "/usr/bin/node".into(),
            entries: vec![
                RootEntry::Bind {
                    source: dir.join("bin"),
                    path: "/usr/bin".into(),
                    dir: true,
                    exec: true,
                },
                RootEntry::Symlink {
                    path: "/lib64".into(),
                    target: "usr/lib64".into(),
                },
            ],
            runner_dir: dir.join("runner"),
            allowed_modules: vec![],
            caches_trusted: true,
        }
    }

    #[test]
    fn the_same_files_give_the_same_tar_and_a_changed_file_another() {
        let dir = std::env::temp_dir().join(format!("nodecell-image-test-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("bin/sub")).unwrap();
        for name in ["node", "b", "a", "sub/c"] {
            std::fs::write(dir.join("bin").join(name), name).unwrap();
        }
        let layout = layout_of(&dir);
        let launcher = dir.join("bin/a");
        let mut first = Vec::new();
        let a = write_rootfs(&layout, &launcher, &mut first).unwrap();
        let mut second = Vec::new();
        let b = write_rootfs(&layout, &launcher, &mut second).unwrap();
        assert_eq!(a, b);
        assert_eq!(first, second);
        assert_eq!(a, hex(&Sha256::digest(&first)));
        let names: Vec<String> = tar::Archive::new(first.as_slice())
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            [
                "tmp",
                "nodecell",
                "nodecell/launcher",
                "usr/bin",
                "usr/bin/a",
                "usr/bin/b",
                "usr/bin/node",
                "usr/bin/sub",
                "usr/bin/sub/c",
                "lib64"
            ]
        );
        std::fs::write(dir.join("bin/sub/c"), "changed").unwrap();
        let c = write_rootfs(&layout, &launcher, io::sink()).unwrap();
        assert_ne!(a, c);
        assert!(reference(&c).starts_with("nodecell-sandbox:"));
        // A file of the layout gone: the error names it.
        std::fs::remove_file(dir.join("bin/sub/c")).unwrap();
        std::fs::remove_dir(dir.join("bin/sub")).unwrap();
        std::fs::remove_file(dir.join("bin/b")).unwrap();
        let gone = dir.join("bin/node");
        std::fs::remove_file(&gone).unwrap();
        let layout = NodeLayout {
            entries: vec![RootEntry::Bind {
                source: gone.clone(),
                path: "/usr/bin/node".into(),
                dir: false,
                exec: true,
            }],
            ..layout
        };
        let err = write_rootfs(&layout, &launcher, io::sink()).unwrap_err();
        assert!(err.to_string().contains(gone.to_str().unwrap()), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
