//! The native backend: nodecell's own launcher, with namespaces, a minimal root, Landlock,
//! seccomp and cgroups.

use std::path::Path;

use crate::cgroup::CgroupPlan;
use crate::config::EngineConfig;
use crate::enforcement::{Guarantee, Offer, Protection};
use crate::error::StartError;
use crate::host::{landlock_detail, HostSupport, SECCOMP_DETAIL};
use crate::launch::spec::{LandlockSpec, LaunchSpec, RootFs};
use crate::layout::RUNNER_MOUNT;
use crate::node_command::{devices, executables, node_argv};
use crate::sandbox::plan::{AccountingPlan, SandboxPlan};
use crate::sandbox::Prelaunch;

use super::{launcher, Backend, PlanContext};

pub(crate) struct Native;

impl Backend for Native {
    fn name(&self) -> &'static str {
        "native"
    }

    fn offers(&self, host: &HostSupport, config: &EngineConfig) -> Vec<Offer> {
        use Protection as P;
        let ns = host.namespaces.is_ok();
        let cg = host.cgroups.is_ok();
        vec![
            Offer::structural(P::Namespaces, ns, match &host.namespaces {
                Ok(()) => "user, pid, mount, network (nothing reachable), ipc, uts, cgroup".into(),
                Err(e) => format!("cannot create namespaces: {e}"),
            }),
            Offer::structural(P::RootFilesystem, ns, "read-only: node, its libraries, the runner; /dev/{null,zero,random,urandom}; private noexec /tmp; no /proc, /sys"),
            Offer::applies(P::Landlock, host.landlock_abi.is_some(), landlock_detail(host.landlock_abi)),
            Offer::applies(P::Seccomp, host.seccomp, SECCOMP_DETAIL),
            Offer::applies(P::CgroupMemory, cg, match &host.cgroups {
                Ok(d) => format!("cgroup v{}: memory limit, no swap, OOM detection, peak usage", d.version()),
                Err(e) => format!("{e}; instead V8's heap is capped at the memory limit and a host watchdog holds resident memory to it (sampled every 10 ms)"),
            }),
            Offer::applies(P::CgroupPids, cg, host.cgroup_detail("processes + threads limit")),
            host.cpu_offer(config.cpu_ms_per_sec, ""),
        ]
    }

    fn guarantees(&self, _host: &HostSupport) -> Vec<Guarantee> {
        Guarantee::CONFINED.to_vec()
    }

    fn plan(&self, cx: &PlanContext<'_>) -> Result<SandboxPlan, StartError> {
        let accounting = match (
            &cx.host.cgroups,
            cx.report.enforces(Protection::CgroupMemory),
        ) {
            (Ok(driver), true) => AccountingPlan::OwnCgroup(CgroupPlan {
                driver: driver.clone(),
                memory_bytes: cx.limits.memory_bytes(),
                max_processes: cx.limits.max_processes,
                cpu_ms_per_sec: cx
                    .report
                    .enforces(Protection::CgroupCpu)
                    .then_some(cx.config.cpu_ms_per_sec),
            }),
            _ => AccountingPlan::Watchdog,
        };
        // launcher → init → node
        launcher::plan(cx.config, &launch_spec(cx), 2, accounting, None)
    }

    fn prelaunch(&self, config: &EngineConfig) -> Result<Option<Prelaunch>, StartError> {
        launcher::prelaunch(config, true)
    }
}

fn launch_spec(cx: &PlanContext<'_>) -> LaunchSpec {
    let (layout, config, limits, report) = (cx.layout, cx.config, cx.limits, cx.report);
    let executables = executables(layout);
    let devices = devices();
    let argv = node_argv(&layout.sandbox_node, Path::new(RUNNER_MOUNT), &cx.runner);
    LaunchSpec {
        namespaces: true,
        rootfs: Some(RootFs {
            entries: layout.entries.clone(),
            devices: devices.clone(),
            tmp_size_bytes: limits.tmp_size_bytes(),
            tmp_inodes: limits.tmp_inodes(),
        }),
        rlimits: launcher::rlimits(limits, limits.max_processes, None),
        landlock: report.enforces(Protection::Landlock).then(|| LandlockSpec {
            read: vec!["/".into()],
            read_write: vec!["/tmp".into()],
            execute: executables,
            devices,
            required: report.requires(Protection::Landlock),
        }),
        seccomp: report.enforces(Protection::Seccomp),
        env: config.sandbox_env.clone(),
        argv,
        cwd: "/tmp".into(),
        hostname: "nodecell".into(),
        run_as: None,
        in_container: false,
    }
}
