//! Backend firecracker: one microVM per sandbox, booted by Firecracker (under its jailer
//! where the service is root) from the guest scripts/guest.sh builds: Debian's kernel
//! (uncompressed, `vmlinux`), an initramfs of nodecell-launcher as init, Node, the runner.
//! The guest's link is vsock (Firecracker's hybrid vsock); KVM only (no software emulation).
//!
//! The VM is the boundary, as for qemu: its own kernel, no network device, no disk, nothing
//! of the host's files; inside it the launcher confines Node as in a container. Firecracker
//! itself runs with its own seccomp filter, and jailed: chrooted into the VM's own
//! directory, in its own mount namespace, as `jail_uid`. On the host the VMM runs in a
//! cgroup of its own.
//!
//! Firecracker's guests need hardware KVM: a host whose `/dev/kvm` is PVM (itself a guest)
//! starts the VM, but a stock kernel never runs there, so the backend is unavailable there
//! unless the guest's kernel is PVM-enabled (`pvm_guest_kernel`).

use std::time::Duration;

use crate::config::{EngineConfig, FirecrackerConfig};
use crate::enforcement::{Guarantee, Offer, Protection};
use crate::error::StartError;
use crate::host::HostSupport;
use crate::sandbox::plan::{AccountingPlan, Confirmation, PidsAllowance, Program, SandboxPlan};
use crate::vm::firecracker::{FirecrackerMachine, Jail};
use crate::vm::image::GuestImage;
use crate::vm::kvm;

use super::{microvm, Backend, PlanContext};

/// How to get Firecracker, for an error that says it is missing.
const FIRECRACKER_HINT: &str =
    "scripts/firecracker.sh install puts the official release in .tools/firecracker; \
     [backends.firecracker] binary";

/// Firecracker's own memory on top of the guest's RAM.
const VMM_OVERHEAD_MIB: u64 = 64;

pub(crate) struct Firecracker;

/// What a sandbox needs of this host: the VMM (and its jail), a guest built from this
/// nodecell with its `vmlinux`, and a KVM that boots it.
fn ready(host: &HostSupport, config: &EngineConfig) -> Result<FirecrackerMachine, String> {
    let f = &config.backends.firecracker;
    GuestImage::find(&f.guest_dir, &config.launcher_path, &config.runner_dir)?;
    machine(host, f)
}

/// The VM [`ready`] found possible (without checking the guest's hashes again: a sandbox's
/// start does not read the launcher), sized later.
fn machine(host: &HostSupport, f: &FirecrackerConfig) -> Result<FirecrackerMachine, String> {
    let binary = microvm::resolve(&f.binary, FIRECRACKER_HINT)?;
    let jail = jail(host, f)?;
    let kernel = f.guest_dir.join("vmlinux");
    if !kernel.is_file() {
        return Err(format!(
            "the guest in {} has no vmlinux (Firecracker boots no bzImage; scripts/guest.sh \
             build makes it)",
            f.guest_dir.display()
        ));
    }
    match kvm::check() {
        Ok(()) => {}
        Err(u) if u.pvm && f.pvm_guest_kernel => {}
        Err(u) => return Err(format!("cannot boot Firecracker guests here: {}", u.why)),
    }
    Ok(FirecrackerMachine {
        binary,
        kernel,
        initrd: f.guest_dir.join("initrd"),
        ram_mib: 0,
        vcpus: f.vcpus,
        jail,
    })
}

/// The jailer, where the service is root and `jail` is on.
fn jail(host: &HostSupport, f: &FirecrackerConfig) -> Result<Option<Jail>, String> {
    if !(host.root && f.jail) {
        return Ok(None);
    }
    let jailer = microvm::resolve(
        &f.jailer,
        "it comes with Firecracker's release; [backends.firecracker] jailer, or jail = false",
    )?;
    Ok(Some(Jail {
        jailer,
        uid: f.jail_uid,
        gid: f.jail_gid,
    }))
}

impl Backend for Firecracker {
    fn name(&self) -> &'static str {
        "firecracker"
    }

    fn offers(&self, host: &HostSupport, config: &EngineConfig) -> Vec<Offer> {
        use Protection as P;
        let f = &config.backends.firecracker;
        let ready = ready(host, config);
        let boundary = match &ready {
            Ok(m) => format!(
                "a microVM of its own (Firecracker on KVM, {}; {} vCPU, guest RAM = memory \
                 limit + {} MiB): its own kernel (Debian's), no network device, no disk, no \
                 host file, one vsock device",
                match &m.jail {
                    Some(j) => format!(
                        "jailed: chroot, own mount namespace, uid {} gid {}",
                        j.uid, j.gid
                    ),
                    None => "not jailed (the service is not root, or jail = false)".into(),
                },
                f.vcpus,
                f.ram_overhead_mib
            ),
            Err(e) => e.clone(),
        };
        let mut offers = vec![
            Offer::structural(P::Namespaces, ready.is_ok(), boundary),
            Offer::structural(
                P::RootFilesystem,
                ready.is_ok(),
                "the guest's initramfs (root's, read-only for the runner's uid 65534: Node, its \
                 libraries, the runner); size-capped noexec tmpfs /tmp; the vsock connection \
                 is pid 1's alone",
            ),
        ];
        offers.extend(microvm::guest_offers(host, config, "Firecracker"));
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
        let f = &config.backends.firecracker;
        let mut machine = machine(cx.host, f).map_err(StartError::NotReady)?;
        let start = microvm::guest_start(cx)?;
        machine.ram_mib = f.ram_overhead_mib + limits.memory_mib;
        let cgroup = microvm::vmm_cgroup(cx, machine.ram_mib, VMM_OVERHEAD_MIB);
        // The sockets, the log and the jail, private to the service, gone with the sandbox.
        let scratch = microvm::vm_dir()?;
        let jailed = machine.jail.is_some();
        let starting = machine.boot(
            scratch.path().to_path_buf(),
            start,
            cgroup,
            Duration::from_millis(f.boot_timeout_ms),
        );
        Ok(SandboxPlan {
            program: Program::Starting(Box::pin(starting)),
            confirmation: Confirmation::ContainerLauncher {
                namespaces: vec![format!(
                    "microvm (firecracker, kvm{})",
                    if jailed { ", jailed" } else { "" }
                )],
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
