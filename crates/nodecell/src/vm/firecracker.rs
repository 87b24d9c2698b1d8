//! Firecracker as a sandbox's VMM: one Firecracker per sandbox, configured through its API
//! socket ([`super::api`]), booting the guest's uncompressed kernel (`vmlinux`) with its
//! initramfs as root, no disk, no network device, one vsock device. The guest's pid 1
//! connects to the host's port [`VSOCK_PORT`], which Firecracker's hybrid vsock turns into a
//! connection on the host's unix socket `<uds_path>_<port>`, in the VM's private directory.
//!
//! Where the service is root, Firecracker runs under its jailer: in a chroot of its own
//! (`<dir>/firecracker/<id>/root`, holding hard links to, or copies of, the kernel and
//! initramfs), in its own mount namespace, as an unprivileged user, with its own seccomp
//! filter (Firecracker's default, as without the jailer). The jailer execs Firecracker in
//! place, so the VMM's pid is the one spawned.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::net::UnixListener;
use tokio::process::{Child, Command};

use super::api::ApiClient;
use super::vmm::join_new_group;
use crate::cgroup::{CgroupPlan, RunCgroup};
use crate::error::StartError;
use crate::launch::guest::{GUEST_ARG, VSOCK_PORT_ARG};
use crate::sandbox::process::Started;

/// The host's vsock port the guest connects to.
pub(crate) const VSOCK_PORT: u32 = 1024;
/// The guest's vsock address (any above 2 does: it has only the host to talk to).
const GUEST_CID: u32 = 3;
/// Firecracker's output (its log and the guest's serial console), in the VM's directory.
pub(crate) const VMM_LOG: &str = "firecracker.log";
/// How long Firecracker may take to open its API socket once started.
const API_WAIT: Duration = Duration::from_secs(10);

/// Firecracker under its jailer.
#[derive(Clone, Debug)]
pub(crate) struct Jail {
    /// The jailer's binary.
    pub jailer: PathBuf,
    /// The user and group Firecracker becomes.
    pub uid: u32,
    pub gid: u32,
}

/// One sandbox's VM.
#[derive(Clone, Debug)]
pub(crate) struct FirecrackerMachine {
    pub binary: PathBuf,
    /// The uncompressed kernel (an ELF: Firecracker 1.12 boots no bzImage) and the initramfs.
    pub kernel: PathBuf,
    pub initrd: PathBuf,
    pub ram_mib: u64,
    pub vcpus: u32,
    pub jail: Option<Jail>,
}

/// Where a VM's files are: as the host sees them, and as Firecracker names them (inside its
/// chroot where it is jailed).
struct Layout {
    /// The directory Firecracker's files are in, on the host.
    root: PathBuf,
    /// `root` as Firecracker sees it (its working directory where it is not jailed).
    seen_as: PathBuf,
    /// The jail's id.
    id: Option<String>,
}

impl Layout {
    fn new(dir: &Path, jail: Option<&Jail>) -> Layout {
        match jail {
            Some(_) => {
                // The jailer takes ids of letters, digits and '-' only, at most 64.
                let id = format!("nodecell-{}", &crate::protocol::new_nonce()[..16]);
                Layout {
                    root: dir.join("firecracker").join(&id).join("root"),
                    seen_as: PathBuf::from("/"),
                    id: Some(id),
                }
            }
            // Firecracker runs in `dir`, naming its files relative to it: its sockets' paths
            // must be short (at most 107 bytes), and `dir` may be deep.
            None => Layout {
                root: dir.to_path_buf(),
                seen_as: PathBuf::from("."),
                id: None,
            },
        }
    }

    /// `name` (a file of `root`) on the host.
    fn host(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    /// `name` (a file of `root`) as Firecracker names it.
    fn vm(&self, name: &str) -> String {
        self.seen_as.join(name).to_string_lossy().into_owned()
    }
}

/// The files of a VM, in its layout's `root`.
const KERNEL: &str = "vmlinux";
const INITRD: &str = "initrd";
const VSOCK_SOCKET: &str = "v.sock";
const API_SOCKET: &str = "run/firecracker.socket";

impl FirecrackerMachine {
    /// The guest kernel's command line.
    pub(crate) fn boot_args() -> String {
        format!(
            "console=ttyS0 reboot=k panic=-1 pci=off quiet -- {GUEST_ARG} {VSOCK_PORT_ARG}{VSOCK_PORT}"
        )
    }

    /// The VM's configuration, as API requests (path, body), the start last.
    fn requests(&self, layout: &Layout) -> Vec<(&'static str, serde_json::Value)> {
        use serde_json::json;
        vec![
            (
                "/machine-config",
                json!({"vcpu_count": self.vcpus, "mem_size_mib": self.ram_mib, "smt": false}),
            ),
            (
                "/boot-source",
                json!({
                    "kernel_image_path": layout.vm(KERNEL),
                    "initrd_path": layout.vm(INITRD),
                    "boot_args": Self::boot_args(),
                }),
            ),
            (
                "/vsock",
                json!({"guest_cid": GUEST_CID, "uds_path": layout.vm(VSOCK_SOCKET)}),
            ),
            ("/actions", json!({"action_type": "InstanceStart"})),
        ]
    }

    /// The VMM's command: Firecracker, or the jailer that becomes it.
    fn command(&self, dir: &Path, layout: &Layout) -> Command {
        let api = layout.vm(API_SOCKET);
        let firecracker = ["--api-sock", api.as_str(), "--level", "Warning"];
        match (&self.jail, &layout.id) {
            (Some(jail), Some(id)) => {
                let mut cmd = Command::new(&jail.jailer);
                cmd.arg("--id")
                    .arg(id)
                    .arg("--exec-file")
                    .arg(&self.binary)
                    .arg("--uid")
                    .arg(jail.uid.to_string())
                    .arg("--gid")
                    .arg(jail.gid.to_string())
                    .arg("--chroot-base-dir")
                    .arg(dir)
                    .arg("--")
                    .args(firecracker);
                cmd
            }
            _ => {
                let mut cmd = Command::new(&self.binary);
                cmd.args(firecracker).current_dir(&layout.root);
                cmd
            }
        }
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
        let layout = Layout::new(&dir, self.jail.as_ref());
        let prepare = |what: &'static str| move |source| StartError::Prepare { what, source };
        std::fs::create_dir_all(layout.host("run")).map_err(prepare("the VM's directory"))?;
        link_or_copy(&self.kernel, &layout.host(KERNEL)).map_err(prepare("the guest's kernel"))?;
        link_or_copy(&self.initrd, &layout.host(INITRD)).map_err(prepare("the guest's initrd"))?;
        let short = ShortDir::open(&layout.root).map_err(prepare("the VM's directory"))?;
        // The guest's connection arrives here; a jailed Firecracker connects as its own user.
        let port_name = format!("{VSOCK_SOCKET}_{VSOCK_PORT}");
        let port_path = layout.host(&port_name);
        let listener = UnixListener::bind(short.join(&port_name))
            .map_err(prepare("the guest's port socket"))?;
        if let Some(jail) = &self.jail {
            std::os::unix::fs::chown(&port_path, Some(jail.uid), Some(jail.gid))
                .map_err(prepare("the guest's port socket"))?;
        }
        let log = std::fs::File::create(dir.join(VMM_LOG)).map_err(prepare("the VMM's log"))?;
        let mut cmd = self.command(&dir, &layout);
        cmd.env_clear()
            .stdin(Stdio::null())
            .stdout(Stdio::from(
                log.try_clone().map_err(prepare("the VMM's log"))?,
            ))
            .stderr(Stdio::from(log))
            .kill_on_drop(true);
        crate::sys::die_with_parent(&mut cmd);
        let mut vmm = cmd.spawn().map_err(StartError::Spawn)?;
        let group = match (cgroup, vmm.id()) {
            (Some(plan), Some(pid)) => {
                let joined = tokio::task::spawn_blocking(move || join_new_group(&plan, pid))
                    .await
                    .map_err(|e| StartError::NotReady(format!("the VMM's cgroup: {e}")))
                    .and_then(|r| r);
                match joined {
                    Ok(group) => Some(group),
                    Err(e) => return Err(gone(vmm, e).await),
                }
            }
            _ => None,
        };
        if let Err(why) = self.configure(&mut vmm, &layout, &short).await {
            return Err(gone(vmm, failed(&dir, &why)).await);
        }
        let left = boot_limit.saturating_sub(t0.elapsed());
        let port = tokio::select! {
            accepted = tokio::time::timeout(left, listener.accept()) => match accepted {
                Ok(Ok((port, _))) => port,
                Ok(Err(e)) => {
                    let why = format!("the guest's port: {e}");
                    return Err(gone(vmm, failed(&dir, &why)).await);
                }
                Err(_) => {
                    let why = format!(
                        "the guest did not connect to its vsock port {} s after Firecracker started",
                        boot_limit.as_secs_f64()
                    );
                    return Err(gone(vmm, failed(&dir, &why)).await);
                }
            },
            status = vmm.wait() => {
                let why = format!("Firecracker exited while the guest booted ({status:?})");
                return Err(failed(&dir, &why));
            }
        };
        drop(listener);
        let left = boot_limit.saturating_sub(t0.elapsed());
        let started = super::link::link(vmm, port, &start, left, t0)
            .await
            .map_err(|e| match e {
                StartError::StartupTimeout(_) => failed(
                    &dir,
                    &format!(
                        "the guest's runner was not ready {} s after Firecracker started",
                        boot_limit.as_secs_f64()
                    ),
                ),
                StartError::NotReady(why) => failed(&dir, &why),
                e => e,
            })?;
        Ok((started, group))
    }

    /// Configures and starts the VM through its API, unless Firecracker ends first.
    async fn configure(
        &self,
        vmm: &mut Child,
        layout: &Layout,
        short: &ShortDir,
    ) -> Result<(), String> {
        let api = short.join(API_SOCKET);
        let calls = async {
            let mut client = ApiClient::connect(&api, API_WAIT).await?;
            for (path, body) in self.requests(layout) {
                client.put(path, &body).await?;
            }
            Ok::<(), String>(())
        };
        tokio::select! {
            done = calls => done,
            status = vmm.wait() => Err(format!("Firecracker exited at its start ({status:?})")),
        }
    }
}

/// A directory held open, so that the sockets in it have short names
/// (`/proc/self/fd/<fd>/<name>`): a socket's path holds at most 107 bytes, and a jail's
/// directory in a sandbox's private directory is deeper than that.
struct ShortDir(std::fs::File);

impl ShortDir {
    fn open(dir: &Path) -> std::io::Result<ShortDir> {
        std::fs::File::open(dir).map(ShortDir)
    }

    fn join(&self, name: &str) -> PathBuf {
        use std::os::fd::AsRawFd;
        PathBuf::from(format!("/proc/self/fd/{}/{name}", self.0.as_raw_fd()))
    }
}

/// `why` the VM did not come up, once its VMM is gone and reaped (so that its whole log is
/// there to read, and nothing of it is left).
async fn gone(mut vmm: Child, why: StartError) -> StartError {
    let _ = vmm.start_kill();
    let _ = vmm.wait().await;
    why
}

/// A VM that did not come up, with the end of what Firecracker and the guest's console said.
fn failed(dir: &Path, what: &str) -> StartError {
    super::vmm::failed(dir, what, &[("Firecracker and the console", VMM_LOG)])
}

/// `to` as a hard link to `from`, or a copy where they are on different file systems.
/// (Of the file `from` names: a symbolic link would dangle in a jail.)
fn link_or_copy(from: &Path, to: &Path) -> std::io::Result<()> {
    let from = &std::fs::canonicalize(from)?;
    match std::fs::hard_link(from, to) {
        Ok(()) => Ok(()),
        Err(e)
            if e.raw_os_error() == Some(libc::EXDEV) || e.raw_os_error() == Some(libc::EPERM) =>
        {
            std::fs::copy(from, to).map(|_| ())
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn machine(jail: Option<Jail>) -> FirecrackerMachine {
        FirecrackerMachine {
            binary: "/opt/fc/firecracker".into(),
            kernel: "/g/vmlinux".into(),
            initrd: "/g/initrd".into(),
            ram_mib: 640,
            vcpus: 1,
            jail,
        }
    }

    #[test]
    fn the_vm_has_a_vsock_device_no_network_no_disk_and_the_guest_links_over_vsock() {
        let m = machine(None);
        let layout = Layout::new(Path::new("/run/x"), None);
        let requests = m.requests(&layout);
        let paths: Vec<_> = requests.iter().map(|(p, _)| *p).collect();
        assert_eq!(
            paths,
            ["/machine-config", "/boot-source", "/vsock", "/actions"]
        );
        assert_eq!(requests[0].1["mem_size_mib"], 640);
        assert_eq!(requests[1].1["kernel_image_path"], "./vmlinux");
        assert_eq!(requests[2].1["uds_path"], "./v.sock");
        let args = FirecrackerMachine::boot_args();
        assert!(args.ends_with("-- --guest --vsock-port=1024"), "{args}");
        let cmd = m.command(Path::new("/run/x"), &layout);
        let argv: Vec<_> = cmd
            .as_std()
            .get_args()
            .map(|a| a.to_string_lossy())
            .collect();
        assert_eq!(
            cmd.as_std().get_program().to_string_lossy(),
            "/opt/fc/firecracker"
        );
        assert_eq!(
            argv,
            [
                "--api-sock",
                "./run/firecracker.socket",
                "--level",
                "Warning"
            ]
        );
        assert_eq!(cmd.as_std().get_current_dir(), Some(Path::new("/run/x")));
    }

    #[test]
    fn a_jailed_vm_names_its_files_inside_its_chroot() {
        let jail = Jail {
            jailer: "/opt/fc/jailer".into(),
            uid: 65534,
            gid: 65534,
        };
        let m = machine(Some(jail));
        let layout = Layout::new(Path::new("/run/x"), m.jail.as_ref());
        let id = layout.id.clone().unwrap();
        assert!(id.len() <= 64 && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
        assert_eq!(
            layout.host(KERNEL),
            Path::new("/run/x/firecracker")
                .join(&id)
                .join("root/vmlinux")
        );
        let requests = m.requests(&layout);
        assert_eq!(requests[1].1["kernel_image_path"], "/vmlinux");
        assert_eq!(requests[1].1["initrd_path"], "/initrd");
        assert_eq!(requests[2].1["uds_path"], "/v.sock");
        let cmd = m.command(Path::new("/run/x"), &layout);
        let argv: Vec<_> = cmd
            .as_std()
            .get_args()
            .map(|a| a.to_string_lossy())
            .collect();
        assert_eq!(
            cmd.as_std().get_program().to_string_lossy(),
            "/opt/fc/jailer"
        );
        assert_eq!(
            argv.join(" "),
            format!(
                "--id {id} --exec-file /opt/fc/firecracker --uid 65534 --gid 65534 \
                 --chroot-base-dir /run/x -- --api-sock /run/firecracker.socket --level Warning"
            )
        );
    }
}
