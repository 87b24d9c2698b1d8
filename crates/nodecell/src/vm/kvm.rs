//! Whether this host's KVM boots a stock guest kernel, and why not where it does not.

use std::path::Path;

/// Ok where `/dev/kvm` opens read-write and is hardware virtualization; the reason otherwise.
///
/// A host that is itself a PVM guest (a Firecracker guest with `CONFIG_KVM_PVM`, as this
/// project's development machines are) has a `/dev/kvm` that opens and accepts a VM's
/// configuration, but whose guests must run a PVM-enabled kernel: a stock kernel never prints
/// a line. There the CPU has no `vmx`/`svm` flag and the `kvm_pvm` module is loaded.
pub(crate) fn usable() -> Result<(), String> {
    check().map_err(|u| u.why)
}

/// Why this host's KVM boots no stock guest kernel.
#[derive(Debug)]
pub(crate) struct Unusable {
    /// `/dev/kvm` is PVM: it boots PVM-enabled guest kernels only.
    pub pvm: bool,
    pub why: String,
}

/// As [`usable`], telling a PVM host apart.
pub(crate) fn check() -> Result<(), Unusable> {
    usable_at(Path::new("/"))
}

fn usable_at(root: &Path) -> Result<(), Unusable> {
    let refuse = |pvm, why: String| Err(Unusable { pvm, why });
    let dev = root.join("dev/kvm");
    if let Err(e) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&dev)
    {
        return refuse(false, format!("{} does not open: {e}", dev.display()));
    }
    let cpuinfo = std::fs::read_to_string(root.join("proc/cpuinfo")).unwrap_or_default();
    let hardware = cpuinfo
        .lines()
        .filter(|l| l.starts_with("flags"))
        .any(|l| l.split_whitespace().any(|f| f == "vmx" || f == "svm"));
    if root.join("sys/module/kvm_pvm").exists() && !hardware {
        return refuse(
            true,
            "/dev/kvm is PVM (this host is itself a guest: kvm_pvm loaded, no vmx/svm CPU flag); \
             its guests need a PVM-enabled guest kernel, which no registry ships"
                .into(),
        );
    }
    if !hardware {
        return refuse(
            false,
            "the CPU shows no hardware virtualization (no vmx or svm flag)".into(),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A host's files under a directory of its own, removed on drop.
    struct FakeHost(std::path::PathBuf);

    impl FakeHost {
        fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for FakeHost {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn empty() -> FakeHost {
        let root = std::env::temp_dir().join(format!(
            "nodecell-kvm-test-{}",
            crate::protocol::new_nonce()
        ));
        std::fs::create_dir(&root).unwrap();
        FakeHost(root)
    }

    fn host(flags: &str, pvm: bool) -> FakeHost {
        let root = empty();
        for d in ["dev", "proc", "sys/module"] {
            std::fs::create_dir_all(root.path().join(d)).unwrap();
        }
        std::fs::write(root.path().join("dev/kvm"), "").unwrap();
        std::fs::write(
            root.path().join("proc/cpuinfo"),
            format!("processor\t: 0\nflags\t\t: fpu {flags} sse\n"),
        )
        .unwrap();
        if pvm {
            std::fs::create_dir(root.path().join("sys/module/kvm_pvm")).unwrap();
        }
        root
    }

    #[test]
    fn a_pvm_host_is_told_apart_from_hardware_kvm() {
        let why = usable_at(host("", true).path()).unwrap_err();
        assert!(why.pvm && why.why.contains("PVM"), "{why:?}");
        assert!(usable_at(host("vmx", false).path()).is_ok());
        assert!(usable_at(host("svm", true).path()).is_ok());
        let why = usable_at(host("", false).path()).unwrap_err();
        assert!(
            !why.pvm && why.why.contains("no hardware virtualization"),
            "{why:?}"
        );
        assert!(usable_at(empty().path())
            .unwrap_err()
            .why
            .contains("does not open"));
    }
}
