//! nodecell-launcher as a microVM guest's init (issue 18): pid 1 of the guest, started by the
//! guest's kernel with `--guest` (after `--` on the kernel's command line).
//!
//! ```text
//! mount /dev, /proc, /sys; load the modules in /modules (virtio, its serial ports, vsock;
//! each with its parameters from the kernel's command line, as modprobe passes them); open
//! the link: the virtio-serial port named "nodecell" (QEMU), or with --vsock-port=P a vsock
//! connection to the host's port P (Firecracker's hybrid vsock, which the host sees as a
//! connection on its unix socket `<uds_path>_P`); read a GuestStart from it; mount a size-capped
//! /tmp; make the sandbox's memory cgroup (guest_memory.rs); then exactly what pid 1 of a
//! container does (in_container.rs): the launcher started without namespaces (uid,
//! capabilities, rlimits, no_new_privs, Landlock, seccomp; Node), in that cgroup, the host's
//! bytes on the port into the job pipe, the sandbox's streams framed back onto the port, the
//! exit code last; once the host closes the port, every process killed and the guest off.
//! ```
//!
//! The link is pid 1's alone: the port's device is root's, the vsock connection is pid 1's
//! fd, and the launcher closes every other fd before Node (whose seccomp filter allows no
//! `socket()`, so no vsock connection of its own), so every byte the sandbox writes reaches
//! the host inside a frame of pid 1's.

use std::fs::File;
use std::io::Read;
use std::os::fd::{AsFd, AsRawFd};
use std::path::Path;
use std::time::{Duration, Instant};

use nix::mount::{mount, MsFlags};
use serde::{Deserialize, Serialize};

use super::guest_memory::GuestMemory;

/// The launcher's argument that makes it a guest's init.
pub const GUEST_ARG: &str = "--guest";
/// The name of the virtio-serial port the host's end is on.
pub const PORT_NAME: &str = "nodecell";
/// The launcher's argument (after [`GUEST_ARG`]) that makes the link a vsock connection to
/// the host's port given after it, instead of the virtio-serial port.
pub const VSOCK_PORT_ARG: &str = "--vsock-port=";
/// The host's address on vsock (`VMADDR_CID_HOST`).
const HOST_CID: u32 = 2;
/// Where the guest image keeps its kernel modules (`NN-name.ko`, numbered in load order).
const MODULES: &str = "/modules";
/// How long pid 1 looks for its port once the modules are loaded.
const PORT_WAIT: Duration = Duration::from_secs(20);
/// The largest GuestStart accepted.
const MAX_START_BYTES: usize = 1 << 20;

/// What the host sends first on the port: a 4-byte big-endian length, then this as JSON.
/// Everything after it is the job channel's.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuestStart {
    /// The size of the guest's /tmp (a tmpfs; Node's working directory).
    pub tmp_size_bytes: u64,
    /// The job's memory limit: the sandbox's cgroup in the guest is held to its usage when
    /// the job arrives plus this (`guest_memory.rs`).
    pub memory_limit_bytes: u64,
    /// The launcher's spec (a `LaunchSpec` as JSON, without namespaces, `in_container`).
    pub spec: String,
}

/// Runs the guest's one sandbox, then turns the guest off (the VMM then exits).
pub fn guest_main() -> ! {
    // Only the guest's init may do this: it kills every other process and stops the machine.
    if std::process::id() != 1 {
        eprintln!("nodecell-launcher {GUEST_ARG} runs only as a microVM guest's init (pid 1)");
        std::process::exit(super::EXIT_SETUP_FAILED);
    }
    match init() {
        Ok(code) => eprintln!("nodecell guest: the sandbox ended with {code}"),
        Err(why) => eprintln!("nodecell guest: {why}"),
    }
    // With `-no-reboot` (QEMU) or as Firecracker does, a reboot ends the VMM.
    let _ = nix::sys::reboot::reboot(nix::sys::reboot::RebootMode::RB_AUTOBOOT);
    std::process::exit(super::EXIT_SETUP_FAILED)
}

fn init() -> Result<i32, String> {
    mount_base()?;
    let cmdline = std::fs::read_to_string("/proc/cmdline").unwrap_or_default();
    load_modules(Path::new(MODULES), &cmdline)?;
    let vsock_port = std::env::args()
        .skip(2)
        .map(|a| match a.strip_prefix(VSOCK_PORT_ARG) {
            Some(p) => p
                .parse::<u32>()
                .map_err(|_| format!("{VSOCK_PORT_ARG}{p}: not a port")),
            None => Err(format!("unknown argument {a:?}")),
        })
        .next()
        .transpose()?;
    let mut port = match vsock_port {
        Some(p) => connect_vsock(p, PORT_WAIT)?,
        None => open_port(PORT_NAME, PORT_WAIT)?,
    };
    let start = read_start(&mut port)?;
    let tmp = format!("size={},mode=1777", start.tmp_size_bytes);
    mount(
        Some("tmpfs"),
        "/tmp",
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        Some(tmp.as_str()),
    )
    .map_err(|e| format!("mounting /tmp: {e}"))?;
    let memory = GuestMemory::create(start.memory_limit_bytes)?;
    super::in_container::run(&start.spec, port.as_fd(), port.as_fd(), Some(&memory))
        .map_err(|e| format!("the sandbox: {e}"))
}

/// The kernel's file systems pid 1 needs.
fn mount_base() -> Result<(), String> {
    for (what, target, fstype) in [
        ("dev", "/dev", "devtmpfs"),
        ("proc", "/proc", "proc"),
        ("sys", "/sys", "sysfs"),
    ] {
        let flags = MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC;
        match mount(Some(what), target, Some(fstype), flags, None::<&str>) {
            Ok(()) | Err(nix::errno::Errno::EBUSY) => {}
            Err(e) => return Err(format!("mounting {target}: {e}")),
        }
    }
    Ok(())
}

/// Loads every module in `dir` (`NN-name.ko`), in the order of their names, each with its
/// parameters from the kernel's command line `cmdline`.
fn load_modules(dir: &Path, cmdline: &str) -> Result<(), String> {
    let mut files: Vec<_> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "ko"))
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(format!("{}: {e}", dir.display())),
    };
    files.sort();
    for path in files {
        let file = File::open(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let stem = path.file_stem().unwrap_or_default().to_string_lossy();
        let name = stem.split_once('-').map_or(&*stem, |(_, name)| name);
        let params = std::ffi::CString::new(module_params(cmdline, name))
            .map_err(|_| format!("the parameters of {name} hold a NUL"))?;
        match nix::kmod::finit_module(&file, &params, nix::kmod::ModuleInitFlags::empty()) {
            Ok(()) | Err(nix::errno::Errno::EEXIST) => {}
            Err(e) => return Err(format!("loading {}: {e}", path.display())),
        }
    }
    Ok(())
}

/// The parameters the kernel's command line `cmdline` gives module `module`
/// (`module.param=value`, the kernel's spelling with `-` or `_`), as `finit_module` takes
/// them: what modprobe does for a module loaded after boot. Firecracker names its virtio-mmio
/// devices so (`virtio_mmio.device=4K@0xd0000000:5`).
fn module_params(cmdline: &str, module: &str) -> String {
    let norm = |s: &str| s.replace('-', "_");
    let module = norm(module);
    cmdline
        .split_whitespace()
        .take_while(|w| *w != "--")
        .filter_map(|w| {
            let (name, param) = w.split_once('.')?;
            (norm(name) == module && param.contains('=')).then_some(param)
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A vsock connection to the host's `port`: retried until the vsock transport has probed
/// its device (the modules were just loaded) and the host listens, at most `wait`.
fn connect_vsock(port: u32, wait: Duration) -> Result<File, String> {
    use nix::sys::socket::{connect, socket, AddressFamily, SockFlag, SockType, VsockAddr};
    let t0 = Instant::now();
    loop {
        let sock = socket(
            AddressFamily::Vsock,
            SockType::Stream,
            SockFlag::SOCK_CLOEXEC,
            None,
        );
        let err = match sock {
            Ok(fd) => match connect(fd.as_raw_fd(), &VsockAddr::new(HOST_CID, port)) {
                Ok(()) => return Ok(File::from(fd)),
                Err(e) => e,
            },
            Err(e) => e,
        };
        if t0.elapsed() > wait {
            return Err(format!(
                "no vsock connection to the host's port {port}: {err}"
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The virtio-serial port called `name` (its device appears once the driver has probed it).
fn open_port(name: &str, wait: Duration) -> Result<File, String> {
    let t0 = Instant::now();
    loop {
        if let Ok(ports) = std::fs::read_dir("/sys/class/virtio-ports") {
            for port in ports.flatten() {
                let named = std::fs::read_to_string(port.path().join("name")).unwrap_or_default();
                if named.trim() == name {
                    let dev = Path::new("/dev").join(port.file_name());
                    return std::fs::OpenOptions::new()
                        .read(true)
                        .write(true)
                        .open(&dev)
                        .map_err(|e| format!("{}: {e}", dev.display()));
                }
            }
        }
        if t0.elapsed() > wait {
            return Err(format!("no virtio-serial port named {name:?}"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The host's GuestStart: exactly its bytes are read, the job's stay in the port.
fn read_start(port: &mut File) -> Result<GuestStart, String> {
    let mut len = [0u8; 4];
    port.read_exact(&mut len)
        .map_err(|e| format!("reading the start from the port: {e}"))?;
    let len = u32::from_be_bytes(len) as usize;
    if len > MAX_START_BYTES {
        return Err(format!(
            "a start of {len} bytes (at most {MAX_START_BYTES})"
        ));
    }
    let mut text = vec![0u8; len];
    port.read_exact(&mut text)
        .map_err(|e| format!("reading the start from the port: {e}"))?;
    serde_json::from_slice(&text).map_err(|e| format!("the start: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modules_get_their_parameters_from_the_command_line_as_modprobe_gives_them() {
        let cmdline = "console=ttyS0 reboot=k virtio_mmio.device=4K@0xd0000000:5 \
                       virtio-mmio.device=4K@0xd0001000:6 vsock.x virtio_mmio.quiet \
                       pci=off -- --guest virtio_mmio.device=nope";
        assert_eq!(
            module_params(cmdline, "virtio_mmio"),
            "device=4K@0xd0000000:5 device=4K@0xd0001000:6"
        );
        assert_eq!(
            module_params(cmdline, "virtio-mmio"),
            module_params(cmdline, "virtio_mmio")
        );
        assert_eq!(module_params(cmdline, "vsock"), "");
        assert_eq!(module_params(cmdline, "pci"), "");
    }
}
