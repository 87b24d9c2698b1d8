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

use std::time::Duration;

use crate::config::{EngineConfig, QemuAccel};
use crate::enforcement::{Guarantee, Offer, Protection};
use crate::error::StartError;
use crate::host::HostSupport;
use crate::sandbox::plan::{AccountingPlan, Confirmation, PidsAllowance, Program, SandboxPlan};
use crate::vm::image::GuestImage;
use crate::vm::kvm;
use crate::vm::qemu::{Accel, QemuMachine};

use super::{microvm, Backend, PlanContext};

/// How to get QEMU, for an error that says it is missing.
const QEMU_HINT: &str = "Debian's qemu-system-x86 has it; [backends.qemu] binary";

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
        let ready = microvm::resolve(&q.binary, QEMU_HINT)
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
        let mut offers = vec![
            Offer::structural(P::Namespaces, ready.is_ok(), boundary),
            Offer::structural(
                P::RootFilesystem,
                ready.is_ok(),
                "the guest's initramfs (root's, read-only for the runner's uid 65534: Node, its \
                 libraries, the runner); size-capped noexec tmpfs /tmp; the port's device is \
                 pid 1's alone",
            ),
        ];
        offers.extend(microvm::guest_offers(host, config, "QEMU"));
        offers
    }

    fn guarantees(&self, _host: &HostSupport) -> Vec<Guarantee> {
        let mut g = Guarantee::CONFINED.to_vec();
        // Everything of the sandbox is in the VM, which ends with its VMM.
        g.push(Guarantee::ProcessTreeKilled);
        g
    }

    fn plan(&self, cx: &PlanContext<'_>) -> Result<SandboxPlan, StartError> {
        let (config, limits) = (cx.config, cx.limits);
        let q = &config.backends.qemu;
        let (accel, _) = accel(q.accel).map_err(StartError::NotReady)?;
        let binary = microvm::resolve(&q.binary, QEMU_HINT).map_err(StartError::NotReady)?;
        let image = GuestImage {
            kernel: q.guest_dir.join("kernel"),
            initrd: q.guest_dir.join("initrd"),
        };
        let start = microvm::guest_start(cx)?;
        let ram_mib = q.ram_overhead_mib + limits.memory_mib;
        let cgroup = microvm::vmm_cgroup(cx, ram_mib, VMM_OVERHEAD_MIB);
        // The port's socket and the VM's logs, private to the service, gone with the sandbox.
        let scratch = microvm::vm_dir()?;
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
                extra: microvm::VMM_THREADS,
            }),
            scratch: Some(scratch),
            from_zygote: false,
            fixed_memory_mib: Some(limits.memory_mib),
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
