//! The guest a microVM boots: scripts/guest.sh's directory (`kernel`, `initrd`, and `inputs`,
//! one `sha256  path` line per file of the initramfs), checked against this nodecell's own
//! launcher and runner: a guest built from others would speak another protocol.

use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// A guest's kernel and initramfs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct GuestImage {
    pub kernel: PathBuf,
    pub initrd: PathBuf,
}

/// Where a guest image keeps what the host must match, and the host's file for each.
const MATCHED: [(&str, &str); 2] = [
    ("launcher", "./nodecell/launcher"),
    ("runner", "./opt/nodecell/runner/runner.js"),
];

impl GuestImage {
    /// The guest in `dir`, if it holds one built from `launcher` and the runner in
    /// `runner_dir`; why not otherwise.
    pub(crate) fn find(
        dir: &Path,
        launcher: &Path,
        runner_dir: &Path,
    ) -> Result<GuestImage, String> {
        let rebuild = "scripts/guest.sh build makes it";
        let image = GuestImage {
            kernel: dir.join("kernel"),
            initrd: dir.join("initrd"),
        };
        for f in [&image.kernel, &image.initrd] {
            if !f.is_file() {
                return Err(format!(
                    "no guest image: {} is missing ({rebuild})",
                    f.display()
                ));
            }
        }
        let inputs = std::fs::read_to_string(dir.join("inputs"))
            .map_err(|e| format!("{}/inputs: {e} ({rebuild})", dir.display()))?;
        for (what, in_guest) in MATCHED {
            let host = match what {
                "launcher" => launcher.to_path_buf(),
                _ => runner_dir.join("runner.js"),
            };
            let want = inputs
                .lines()
                .find_map(|l| l.split_once("  ").filter(|(_, p)| *p == in_guest))
                .map(|(hash, _)| hash)
                .ok_or_else(|| format!("the guest image in {} has no {in_guest}", dir.display()))?;
            let have = sha256_file(&host).map_err(|e| format!("{}: {e}", host.display()))?;
            if have != want {
                return Err(format!(
                    "the guest image in {} was built from another {what} than {} ({rebuild})",
                    dir.display(),
                    host.display()
                ));
            }
        }
        Ok(image)
    }
}

fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hash = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hash.update(&buf[..n]);
    }
    Ok(hash.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_guest_built_from_another_launcher_or_runner_is_refused_with_the_way_out() {
        let dir = std::env::temp_dir().join(format!(
            "nodecell-image-test-{}",
            crate::protocol::new_nonce()
        ));
        let runner = dir.join("runner");
        std::fs::create_dir_all(&runner).unwrap();
        let launcher = dir.join("launcher-bin");
        std::fs::write(&launcher, "launcher v1").unwrap();
        std::fs::write(runner.join("runner.js"), "runner v1").unwrap();
        let missing = GuestImage::find(&dir, &launcher, &runner).unwrap_err();
        assert!(missing.contains("scripts/guest.sh build"), "{missing}");
        std::fs::write(dir.join("kernel"), "k").unwrap();
        std::fs::write(dir.join("initrd"), "i").unwrap();
        let inputs = format!(
            "{}  ./nodecell/launcher\n{}  ./opt/nodecell/runner/runner.js\n",
            sha256_file(&launcher).unwrap(),
            sha256_file(&runner.join("runner.js")).unwrap()
        );
        std::fs::write(dir.join("inputs"), inputs).unwrap();
        let found = GuestImage::find(&dir, &launcher, &runner).unwrap();
        assert_eq!(found.kernel, dir.join("kernel"));
        std::fs::write(runner.join("runner.js"), "runner v2").unwrap();
        let stale = GuestImage::find(&dir, &launcher, &runner).unwrap_err();
        assert!(stale.contains("another runner"), "{stale}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
