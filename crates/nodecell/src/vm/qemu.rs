//! QEMU as a sandbox's VMM: one QEMU per sandbox, booting the guest image with its
//! initramfs as root, no disk, no network device, one virtio-serial port (named
//! [`PORT_NAME`]) whose host end is a unix socket in the sandbox's private directory.
//!
//! With KVM QEMU runs `-M microvm`; with TCG (software emulation, where no usable KVM is
//! there) it runs `-M pc`: with no HPET or ACPI PM timer to calibrate the TSC against, a
//! microvm guest on a busy host hung at "tsc: Marking TSC unstable" (1 boot in ~10).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::net::UnixListener;
use tokio::process::Command;

use super::image::GuestImage;
use super::vmm::join_new_group;
use crate::cgroup::{CgroupPlan, RunCgroup};
use crate::error::StartError;
use crate::launch::guest::{GUEST_ARG, PORT_NAME};
use crate::sandbox::process::Started;

/// How the guest's CPU runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Accel {
    Kvm,
    /// QEMU's software emulation: ~10 times slower, but it needs nothing of the host.
    Tcg,
}

impl Accel {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Accel::Kvm => "kvm",
            Accel::Tcg => "tcg",
        }
    }
}

/// One sandbox's VM.
#[derive(Clone, Debug)]
pub(crate) struct QemuMachine {
    pub binary: PathBuf,
    pub image: GuestImage,
    pub accel: Accel,
    pub ram_mib: u64,
    pub vcpus: u32,
    /// As root: the user QEMU becomes, chrooted into the VM's directory, once it has opened
    /// its files and before the guest runs.
    pub run_as: Option<String>,
}

/// The files of a VM in its private directory.
const PORT_SOCKET: &str = "port";
const CONSOLE_LOG: &str = "console.log";
const VMM_LOG: &str = "qemu.log";

/// How long QEMU may take to connect to the port once started (it does so before the guest
/// boots).
const CONNECT_LIMIT: Duration = Duration::from_secs(20);

impl QemuMachine {
    /// QEMU's arguments, its files in `dir`.
    pub(crate) fn args(&self, dir: &Path) -> Vec<OsString> {
        let machine = match self.accel {
            Accel::Kvm => "microvm",
            Accel::Tcg => "pc",
        };
        let cpu = match self.accel {
            Accel::Kvm => "host",
            Accel::Tcg => "max",
        };
        let mut args: Vec<OsString> = [
            "-M",
            machine,
            "-accel",
            self.accel.name(),
            "-cpu",
            cpu,
            "-m",
            &format!("{}M", self.ram_mib),
            "-smp",
            &self.vcpus.to_string(),
            "-nodefaults",
            "-no-user-config",
            "-no-reboot",
            "-display",
            "none",
            "-nic",
            "none",
            // QEMU's own seccomp filter: no obsolete syscalls, no new processes, no
            // scheduling or resource changes. (Privilege changes stay allowed: `-runas`
            // changes uid after the filter is in; as nobody, QEMU cannot become root again.)
            "-sandbox",
            "on,obsolete=deny,spawn=deny,resourcecontrol=deny",
            "-serial",
        ]
        .iter()
        .map(OsString::from)
        .collect();
        let path_arg = |prefix: &str, p: &Path| {
            let mut a = OsString::from(prefix);
            a.push(p.as_os_str());
            a
        };
        args.push(path_arg("file:", &dir.join(CONSOLE_LOG)));
        args.push("-kernel".into());
        args.push(self.image.kernel.clone().into());
        args.push("-initrd".into());
        args.push(self.image.initrd.clone().into());
        args.push("-append".into());
        args.push(format!("console=ttyS0 quiet panic=-1 -- {GUEST_ARG}").into());
        let (bus, balloon) = match self.accel {
            Accel::Kvm => ("virtio-serial-device", "virtio-balloon-device"),
            Accel::Tcg => ("virtio-serial-pci", "virtio-balloon-pci"),
        };
        // Free page reporting: the guest hands back the RAM it freed (the initramfs's image
        // once unpacked, what a run freed), so the VMM's cgroup counts what the guest uses.
        args.push("-device".into());
        args.push(format!("{balloon},free-page-reporting=on").into());
        args.push("-device".into());
        args.push(bus.into());
        args.push("-chardev".into());
        args.push(path_arg("socket,id=port,path=", &dir.join(PORT_SOCKET)));
        args.push("-device".into());
        args.push(format!("virtserialport,chardev=port,name={PORT_NAME}").into());
        if let Some(user) = &self.run_as {
            args.push("-runas".into());
            args.push(user.into());
            args.push("-chroot".into());
            args.push(dir.into());
        }
        args
    }

    /// Boots the VM with its files in `dir`, its VMM in a cgroup of `cgroup` where given,
    /// sends it `start` and waits (at most `boot_limit`) until its runner is ready.
    pub(crate) async fn boot(
        self,
        dir: PathBuf,
        start: Vec<u8>,
        cgroup: Option<CgroupPlan>,
        boot_limit: Duration,
    ) -> Result<(Started, Option<RunCgroup>), StartError> {
        let t0 = Instant::now();
        let listener =
            UnixListener::bind(dir.join(PORT_SOCKET)).map_err(|source| StartError::Prepare {
                what: "the guest's port socket",
                source,
            })?;
        let log =
            std::fs::File::create(dir.join(VMM_LOG)).map_err(|source| StartError::Prepare {
                what: "the VMM's log",
                source,
            })?;
        let mut cmd = Command::new(&self.binary);
        cmd.args(self.args(&dir))
            .env_clear()
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .kill_on_drop(true);
        crate::sys::die_with_parent(&mut cmd);
        let mut vmm = cmd.spawn().map_err(StartError::Spawn)?;
        // The VMM's cgroup: the whole VM's memory, threads and CPU time, as the host sees them.
        let group = match (cgroup, vmm.id()) {
            (Some(plan), Some(pid)) => Some(
                tokio::task::spawn_blocking(move || join_new_group(&plan, pid))
                    .await
                    .map_err(|e| StartError::NotReady(format!("the VMM's cgroup: {e}")))??,
            ),
            _ => None,
        };
        let port = tokio::select! {
            accepted = tokio::time::timeout(CONNECT_LIMIT, listener.accept()) => match accepted {
                Ok(Ok((port, _))) => port,
                Ok(Err(e)) => {
                    let _ = vmm.start_kill();
                    let _ = vmm.wait().await;
                    return Err(StartError::NotReady(format!("the guest's port: {e}")));
                }
                Err(_) => {
                let _ = vmm.start_kill();
                let _ = vmm.wait().await;
                return Err(failed(&dir, "QEMU never connected to the guest's port"));
            }
            },
            status = vmm.wait() => {
                return Err(failed(&dir, &format!("QEMU exited at its start ({status:?})")));
            }
        };
        drop(listener);
        let linked = super::link::link(vmm, port, &start, boot_limit, t0).await;
        let started = linked.map_err(|e| match e {
            StartError::StartupTimeout(_) => failed(
                &dir,
                &format!(
                    "the guest's runner was not ready {} s after QEMU started",
                    boot_limit.as_secs()
                ),
            ),
            StartError::NotReady(why) => failed(&dir, &why),
            e => e,
        })?;
        Ok((started, group))
    }
}

/// A VM that did not come up, with the end of what QEMU and the guest's console said.
fn failed(dir: &Path, what: &str) -> StartError {
    super::vmm::failed(dir, what, &[("QEMU", VMM_LOG), ("console", CONSOLE_LOG)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_has_no_network_no_disk_and_one_port() {
        let machine = QemuMachine {
            binary: "qemu-system-x86_64".into(),
            image: GuestImage {
                kernel: "/g/kernel".into(),
                initrd: "/g/initrd".into(),
            },
            accel: Accel::Tcg,
            ram_mib: 640,
            vcpus: 1,
            run_as: None,
        };
        let args: Vec<String> = machine
            .args(Path::new("/run/x"))
            .into_iter()
            .map(|a| a.into_string().unwrap())
            .collect();
        let joined = args.join(" ");
        assert!(joined.contains("-nic none"), "{joined}");
        assert!(joined.contains("-nodefaults"), "{joined}");
        assert!(joined.contains("-m 640M -smp 1"), "{joined}");
        assert!(joined.contains("-M pc -accel tcg"), "{joined}");
        assert!(
            joined.contains("socket,id=port,path=/run/x/port"),
            "{joined}"
        );
        assert!(
            joined.ends_with("virtserialport,chardev=port,name=nodecell"),
            "{joined}"
        );
        assert!(joined.contains("-sandbox on,obsolete=deny"), "{joined}");
        assert!(
            joined.contains("virtio-balloon-pci,free-page-reporting=on"),
            "{joined}"
        );
        assert!(
            !joined.contains("-drive") && !joined.contains("-netdev"),
            "{joined}"
        );
        let kvm = QemuMachine {
            accel: Accel::Kvm,
            run_as: Some("nobody".into()),
            ..machine
        };
        let joined = kvm
            .args(Path::new("/run/x"))
            .into_iter()
            .map(|a| a.into_string().unwrap())
            .collect::<Vec<_>>()
            .join(" ");
        assert!(
            joined.contains("-M microvm -accel kvm -cpu host"),
            "{joined}"
        );
        assert!(joined.contains("virtio-serial-device"), "{joined}");
        assert!(joined.ends_with("-runas nobody -chroot /run/x"), "{joined}");
    }
}
