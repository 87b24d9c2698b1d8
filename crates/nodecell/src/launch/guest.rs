//! nodecell-launcher as a microVM guest's init (issue 18): pid 1 of the guest, started by the
//! guest's kernel with `--guest` (after `--` on the kernel's command line).
//!
//! ```text
//! mount /dev, /proc, /sys; load the modules in /modules (virtio and its serial ports); open
//! the virtio-serial port named "nodecell"; read a GuestStart from it; mount a size-capped
//! /tmp; then exactly what pid 1 of a container does (in_container.rs): the launcher started
//! without namespaces (uid, capabilities, rlimits, no_new_privs, Landlock, seccomp; Node), the
//! host's bytes on the port into the job pipe, the sandbox's streams framed back onto the port,
//! the exit code last; once the host closes the port, every process killed and the guest off.
//! ```
//!
//! The port is pid 1's alone: its device is root's and the launcher closes every other fd
//! before Node, so every byte the sandbox writes reaches the host inside a frame of pid 1's.

use std::fs::File;
use std::io::Read;
use std::os::fd::AsFd;
use std::path::Path;
use std::time::{Duration, Instant};

use nix::mount::{mount, MsFlags};
use serde::{Deserialize, Serialize};

/// The launcher's argument that makes it a guest's init.
pub const GUEST_ARG: &str = "--guest";
/// The name of the virtio-serial port the host's end is on.
pub const PORT_NAME: &str = "nodecell";
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
    load_modules(Path::new(MODULES))?;
    let mut port = open_port(PORT_NAME, PORT_WAIT)?;
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
    super::in_container::run(&start.spec, port.as_fd(), port.as_fd())
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

/// Loads every module in `dir`, in the order of their names.
fn load_modules(dir: &Path) -> Result<(), String> {
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
        match nix::kmod::finit_module(&file, c"", nix::kmod::ModuleInitFlags::empty()) {
            Ok(()) | Err(nix::errno::Errno::EEXIST) => {}
            Err(e) => return Err(format!("loading {}: {e}", path.display())),
        }
    }
    Ok(())
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
