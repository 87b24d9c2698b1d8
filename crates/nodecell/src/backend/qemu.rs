//! Backend qemu: one microVM per sandbox, booted by QEMU from the guest scripts/guest.sh
//! builds (Debian's kernel; an initramfs of nodecell-launcher as init, Node, the runner).
//! KVM where this host's `/dev/kvm` boots a stock guest kernel, QEMU's software emulation
//! (TCG) otherwise.
//!
//! The VM is the boundary: its own kernel, no network device, no disk, nothing of the host's
//! files. Inside it the launcher confines Node as in a container (`crate::launch::guest`):
//! uid 65534, no capabilities, no_new_privs, rlimits, Landlock and node.json's seccomp filter
//! from the guest's kernel. On the host the VMM runs in a cgroup of its own: the whole VM's
//! memory, threads and CPU time.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::cgroup::CgroupPlan;
use crate::config::{EngineConfig, QemuAccel};
use crate::enforcement::{Guarantee, Offer, Protection};
use crate::error::StartError;
use crate::host::HostSupport;
use crate::launch::guest::GuestStart;
use crate::launch::spec::{LandlockSpec, LaunchSpec, SANDBOX_ID};
use crate::node_command::{node_argv, DEVICES};
use crate::sandbox::plan::{AccountingPlan, Confirmation, PidsAllowance, Program, SandboxPlan};
use crate::scratch::{ScratchCap, ScratchDir};
use crate::vm::image::GuestImage;
use crate::vm::kvm;
use crate::vm::qemu::{Accel, QemuMachine};

use super::{launcher, Backend, PlanContext};

/// Where the guest image holds Node, its loader and libraries, and the runner.
const GUEST_NODE: &str = "/usr/local/bin/node";
const GUEST_RUNNER: &str = "/opt/nodecell/runner";
const GUEST_READ: [&str; 4] = ["/usr/local/bin", "/lib", "/lib64", GUEST_RUNNER];
const GUEST_LOADER: &str = "/lib64/ld-linux-x86-64.so.2";

/// Host threads of one QEMU (main loop, vCPUs, RCU, I/O workers): the VMM's pids limit. The
/// run's own processes are the guest's, held there by RLIMIT_NPROC.
const VMM_THREADS: u64 = 64;

/// The VMM's own memory on top of the guest's RAM (device state, TCG's translation cache).
const VMM_OVERHEAD_MIB: u64 = 256;

/// The user QEMU runs the guest as where the service is root (`-runas`, with `-chroot` into
/// the VM's own empty directory).
const QEMU_USER: &str = "nobody";

pub(crate) struct Qemu;

impl Backend for Qemu {
    fn name(&self) -> &'static str {
        "qemu"
    }

    fn offers(&self, host: &HostSupport, config: &EngineConfig) -> Vec<Offer> {
        use Protection as P;
        let q = &config.backends.qemu;
        let ready = resolve(&q.binary)
            .and_then(|_| GuestImage::find(&q.guest_dir, &config.launcher_path, &config.runner_dir))
            .and_then(|_| accel(q.accel));
        let boundary = match &ready {
            Ok((accel, why)) => format!(
                "a microVM of its own (QEMU, {}{why}; {} vCPU, guest RAM = memory limit + {} MiB): \
                 its own kernel (Debian's), no network device, no disk, no host file",
                accel.name(),
                q.vcpus,
                q.ram_overhead_mib
            ),
            Err(e) => e.clone(),
        };
        let cg = host.cgroups.is_ok();
        vec![
            Offer::structural(P::Namespaces, ready.is_ok(), boundary),
            Offer::structural(
                P::RootFilesystem,
                ready.is_ok(),
                "the guest's initramfs (root's, read-only for the runner's uid 65534: Node, its \
                 libraries, the runner); size-capped noexec tmpfs /tmp; the port's device is \
                 pid 1's alone",
            ),
            Offer::applies(
                P::Landlock,
                true,
                "in the guest's kernel, applied by the launcher in the guest: the image's files \
                 read-only, /tmp read-write, no /proc, /sys or port device",
            ),
            Offer::applies(
                P::Seccomp,
                true,
                "node.json, installed by the launcher in the guest on Node",
            ),
            Offer::applies(
                P::CgroupMemory,
                cg,
                if cg {
                    "the VMM's cgroup on the host (the whole VM: the guest RAM it touched and \
                     QEMU's own): job limits above what the ready VM uses, peak usage, OOM \
                     kills; the guest's RAM is the wall inside"
                        .to_string()
                } else {
                    format!(
                        "{}; instead V8's heap is capped at the memory limit, and the guest's \
                         RAM is the wall",
                        host.cgroup_detail("")
                    )
                },
            ),
            Offer::applies(
                P::CgroupPids,
                true,
                format!(
                    "RLIMIT_NPROC of the guest's uid 65534, which only the sandbox has: its \
                     processes + threads; the VMM's own threads held to {VMM_THREADS} by its \
                     cgroup where there is one"
                ),
            ),
            host.cpu_offer(config.cpu_ms_per_sec, "the VMM's cgroup: "),
        ]
    }

    fn guarantees(&self, _host: &HostSupport) -> Vec<Guarantee> {
        let mut g = Guarantee::CONFINED.to_vec();
        // Everything of the sandbox is in the VM, which ends with its VMM.
        g.push(Guarantee::ProcessTreeKilled);
        g
    }

    fn plan(&self, cx: &PlanContext<'_>) -> Result<SandboxPlan, StartError> {
        let (config, limits, report) = (cx.config, cx.limits, cx.report);
        let q = &config.backends.qemu;
        let (accel, _) = accel(q.accel).map_err(StartError::NotReady)?;
        let binary = resolve(&q.binary).map_err(StartError::NotReady)?;
        let image = GuestImage {
            kernel: q.guest_dir.join("kernel"),
            initrd: q.guest_dir.join("initrd"),
        };
        // The guest has no startup snapshot and no code caches of the host's V8.
        let mut runner = cx.runner.clone();
        runner.snapshot = None;
        runner.caches = false;
        let spec = LaunchSpec {
            namespaces: false,
            rootfs: None,
            // The guest's uid 65534 is the sandbox's alone: RLIMIT_NPROC is the run's limit.
            rlimits: launcher::rlimits(limits, limits.max_processes, None),
            landlock: Some(LandlockSpec {
                read: GUEST_READ.map(PathBuf::from).to_vec(),
                read_write: vec!["/tmp".into()],
                execute: vec![GUEST_NODE.into(), GUEST_LOADER.into()],
                devices: DEVICES.map(PathBuf::from).to_vec(),
                required: report.requires(Protection::Landlock),
            }),
            seccomp: true,
            env: config.sandbox_env.clone(),
            argv: node_argv(Path::new(GUEST_NODE), Path::new(GUEST_RUNNER), &runner),
            cwd: "/tmp".into(),
            hostname: "nodecell".into(),
            run_as: Some(SANDBOX_ID),
            in_container: true,
            zygote: false,
        };
        let start = serde_json::to_vec(&GuestStart {
            tmp_size_bytes: limits.tmp_size_bytes(),
            spec: serde_json::to_string(&spec).map_err(|e| StartError::Spawn(e.into()))?,
        })
        .map_err(|e| StartError::Spawn(e.into()))?;
        let ram_mib = q.ram_overhead_mib + limits.memory_mib;
        let cgroup = cx.host.cgroups.as_ref().ok().map(|driver| CgroupPlan {
            driver: driver.clone(),
            // Until the job sets its own: the guest's RAM and QEMU's own.
            memory_bytes: (ram_mib + VMM_OVERHEAD_MIB) << 20,
            max_processes: VMM_THREADS,
            cpu_ms_per_sec: report
                .enforces(Protection::CgroupCpu)
                .then_some(config.cpu_ms_per_sec),
        });
        // The port's socket and the VM's logs, private to the service, gone with the sandbox.
        let scratch = ScratchDir::create(
            None,
            ScratchCap {
                bytes: 0,
                inodes: 0,
            },
        )
        .map_err(|source| StartError::Prepare {
            what: "the VM's directory",
            source,
        })?;
        let machine = QemuMachine {
            binary,
            image,
            accel,
            ram_mib,
            vcpus: q.vcpus,
            run_as: cx.host.root.then(|| QEMU_USER.to_string()),
        };
        let starting = machine.boot(
            scratch.path().to_path_buf(),
            start,
            cgroup,
            Duration::from_millis(q.boot_timeout_ms),
        );
        Ok(SandboxPlan {
            program: Program::Starting(Box::pin(starting)),
            confirmation: Confirmation::ContainerLauncher {
                namespaces: vec![format!("microvm (qemu, {})", accel.name())],
            },
            accounting: AccountingPlan::FromStart(PidsAllowance {
                per_process: 0,
                extra: VMM_THREADS,
            }),
            scratch: Some(scratch),
            from_zygote: false,
            memory_ceiling_mib: Some(limits.memory_mib),
        })
    }
}

/// The accelerator `wanted` resolves to here, with why where `auto` chose TCG.
fn accel(wanted: QemuAccel) -> Result<(Accel, String), String> {
    match (wanted, kvm::usable()) {
        (QemuAccel::Tcg, _) => Ok((Accel::Tcg, ", as configured".into())),
        (QemuAccel::Kvm | QemuAccel::Auto, Ok(())) => Ok((Accel::Kvm, String::new())),
        (QemuAccel::Kvm, Err(why)) => Err(format!("accel = kvm, but {why}")),
        (QemuAccel::Auto, Err(why)) => Ok((Accel::Tcg, format!(", software emulation: {why}"))),
    }
}

/// Where the PATH is looked up when the service has none (as `execvp` does, and where
/// Debian's qemu-system-x86 installs).
const DEFAULT_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// The executable file `binary` names: a path, or a name on the PATH.
fn resolve(binary: &Path) -> Result<PathBuf, String> {
    let candidates: Vec<PathBuf> = if binary.components().count() > 1 {
        vec![binary.to_path_buf()]
    } else {
        let path = std::env::var_os("PATH").unwrap_or_else(|| DEFAULT_PATH.into());
        std::env::split_paths(&path)
            .map(|d| d.join(binary))
            .collect()
    };
    use std::os::unix::fs::PermissionsExt;
    candidates
        .into_iter()
        .find(|c| {
            std::fs::metadata(c).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
        .ok_or_else(|| {
            format!(
                "no QEMU: {} is not found (Debian's qemu-system-x86 has it; [backends.qemu] binary)",
                binary.display()
            )
        })
}
