//! The nsjail backend: the real nsjail binary builds the sandbox from a configuration nodecell
//! renders (`render.rs`): namespaces, a tmpfs root holding read-only binds of exactly what
//! Node needs (the same layout as the native backend), a private noexec /tmp, uid/gid nobody,
//! a clean environment, rlimits, cgroup limits and the seccomp policy in Kafel, rendered at
//! build time from the same policy/seccomp/node.json as the native backend's BPF.
//!
//! nsjail runs Node as pid 1 of the new pid namespace; when the host stops the sandbox
//! (SIGTERM to nsjail), nsjail SIGKILLs it and the kernel empties the namespace before the
//! exit can be reaped. nsjail writes its own log (errors only) to the status fd, apart from
//! Node's stderr; what is in force for Node is read by the host from /proc and checked
//! against what nsjail was configured to apply. nsjail starts in a mount namespace of its own
//! with an empty tmpfs on `/run` (as root), where it makes the two work directories it never
//! removes.

mod render;

use crate::config::EngineConfig;
use crate::enforcement::{Guarantee, Offer, Protection};
use crate::error::StartError;
use crate::host::{find_executable, HostSupport, SECCOMP_DETAIL};
use crate::launch::spec::{LandlockStatus, LaunchReport, SANDBOX_ID, SPEC_FD};
use crate::node_command::node_argv;
use crate::sandbox::plan::{AccountingPlan, Confirmation, Program, ProgramInput, SandboxPlan};

use super::{Backend, PlanContext};
use render::{cgroup_name, render, NsjailChoices};

pub(crate) struct Nsjail;

/// The nsjail binary, or why there is none.
fn binary(config: &EngineConfig) -> Result<std::path::PathBuf, String> {
    let path = &config.backends.nsjail.path;
    find_executable(path).ok_or_else(|| {
        format!(
            "nsjail not found at {} (scripts/setup.sh installs it; NODECELL_NSJAIL or [backends.nsjail] path sets the path)",
            path.display()
        )
    })
}

impl Backend for Nsjail {
    fn name(&self) -> &'static str {
        "nsjail"
    }

    fn offers(&self, host: &HostSupport, config: &EngineConfig) -> Vec<Offer> {
        use Protection as P;
        let nsjail = binary(config);
        let ns = host.namespaces.is_ok() && nsjail.is_ok();
        let cg = host.cgroups.is_ok();
        let ns_detail = match (&nsjail, &host.namespaces) {
            (Err(e), _) => e.clone(),
            (Ok(_), Err(e)) => format!("cannot create namespaces: {e}"),
            (Ok(p), Ok(())) => format!(
                "{}: user, pid, mount, network (nothing reachable), ipc, uts, cgroup",
                p.display()
            ),
        };
        vec![
            Offer::structural(P::Namespaces, ns, ns_detail),
            Offer::structural(P::RootFilesystem, ns, "read-only tmpfs root with binds of node, its libraries, the runner; /dev/{null,zero,random,urandom}; private noexec /tmp; no /proc, /sys"),
            Offer::absent(P::Landlock, "nsjail does not apply Landlock"),
            Offer::applies(P::Seccomp, host.seccomp, format!("{SECCOMP_DETAIL}, rendered in Kafel for nsjail")),
            Offer::applies(P::CgroupMemory, cg, host.cgroup_detail("nsjail's memory limit (the job may add its limit to what the ready sandbox uses), no swap, OOM detection, peak usage")),
            Offer::applies(P::CgroupPids, cg, host.cgroup_detail("nsjail's processes + threads limit")),
            host.cpu_offer(config.cpu_ms_per_sec, "nsjail's limit, "),
        ]
    }

    fn guarantees(&self, _host: &HostSupport) -> Vec<Guarantee> {
        Guarantee::CONFINED.to_vec()
    }

    fn plan(&self, cx: &PlanContext<'_>) -> Result<SandboxPlan, StartError> {
        let nsjail = binary(cx.config).map_err(|reason| StartError::Unavailable {
            backend: "nsjail",
            reason,
        })?;
        // nodecell's group for the sandbox, in this process's cgroup instance, in which nsjail
        // nests its own: nsjail only needs its parent group to exist, and usage and OOM kills
        // stay readable from ours after nsjail has removed its own. No cpuacct: nsjail does
        // not join it.
        let driver = cx
            .host
            .cgroups
            .as_ref()
            .ok()
            .map(crate::cgroup::CgroupDriver::without_cpuacct);
        let group = match &driver {
            Some(driver) if cx.report.enforces(Protection::CgroupMemory) => Some(driver.create()?),
            _ => None,
        };
        let seccomp = cx.report.enforces(Protection::Seccomp);
        let choices = NsjailChoices {
            seccomp,
            cpu_ms_per_sec: (group.is_some() && cx.report.enforces(Protection::CgroupCpu))
                .then_some(cx.config.cpu_ms_per_sec),
            cgroups: group
                .as_ref()
                .zip(driver.as_ref())
                .map(|(g, d)| (d.layout().clone(), g.name().to_string())),
            argv: node_argv(
                &cx.layout.sandbox_node,
                std::path::Path::new(crate::layout::RUNNER_MOUNT),
                &cx.runner,
            ),
            host_root: cx.host.root,
        };
        let text = render(cx.layout, cx.config, cx.limits, &choices);
        let config_fd = crate::sys::memfd_with("nodecell-nsjail.cfg", text.as_bytes())
            .map_err(StartError::Spawn)?;
        let outside = |id: u32| if cx.host.root { SANDBOX_ID } else { id };
        let expected = LaunchReport {
            namespaces: ["user", "pid", "mount", "network", "ipc", "uts", "cgroup"]
                .map(String::from)
                .to_vec(),
            rootfs: true,
            landlock: LandlockStatus::Off,
            landlock_abi: 0,
            seccomp,
            no_new_privs: true,
            capabilities_dropped: true,
            uid: outside(nix::unistd::geteuid().as_raw()),
            gid: outside(nix::unistd::getegid().as_raw()),
        };
        Ok(SandboxPlan {
            program: Program::Spawn {
                path: nsjail,
                args: vec!["--config".into(), format!("/proc/self/fd/{SPEC_FD}")],
                input: ProgramInput::Config(config_fd),
                own_run_dir: true,
            },
            confirmation: Confirmation::Inspect {
                tool: "nsjail",
                expected,
            },
            accounting: match group {
                Some(outer) => AccountingPlan::NestedCgroup {
                    outer,
                    inner: cgroup_name,
                },
                None => AccountingPlan::Watchdog,
            },
            scratch: None,
            from_zygote: false,
            fixed_memory_mib: None,
        })
    }
}
