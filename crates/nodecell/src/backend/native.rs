//! The native backend: nodecell's own launcher, with namespaces, a minimal root, Landlock,
//! seccomp and cgroups.

use std::path::Path;

use crate::cgroup::CgroupPlan;
use crate::config::EngineConfig;
use crate::enforcement::{Guarantee, Offer, Protection};
use crate::error::StartError;
use crate::host::{landlock_detail, HostSupport, SECCOMP_DETAIL};
use crate::launch::spec::{LandlockSpec, LaunchSpec, RlimitResource, RootEntry, RootFs};
use crate::launch::zygote::ChildSpec;
use crate::layout::RUNNER_MOUNT;
use crate::node_command::{devices, executables, node_argv, ModuleLoading, RunnerStart};
use crate::sandbox::plan::{AccountingPlan, Confirmation, Program, SandboxPlan};
use crate::sandbox::Prelaunch;

use super::{launcher, zygote, Backend, PlanContext};

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
        if cx.config.backends.native.zygote && cx.zygotes.in_use() {
            return Ok(zygote_plan(cx, accounting));
        }
        // launcher → init → node
        launcher::plan(cx.config, &launch_spec(cx), 2, accounting, None)
    }

    fn prelaunch(&self, config: &EngineConfig) -> Result<Option<Prelaunch>, StartError> {
        launcher::prelaunch(config, true)
    }
}

/// Where a zygote sees its addon; hidden from its children.
const ZYGOTE_ADDON_DIR: &str = "/nodecell-zygote";

/// A sandbox forked from the zygote of this plan's Node flags (started on first use): the
/// zygote runs in a sandbox like [`launch_spec`]'s, without Landlock and seccomp (it never
/// runs user code, and its children apply both after their own mounts); each child gets
/// the run's own limits, /tmp, Landlock and seccomp.
fn zygote_plan(cx: &PlanContext<'_>, accounting: AccountingPlan) -> SandboxPlan {
    let mut zygote = launch_spec(cx);
    let addon = Path::new(ZYGOTE_ADDON_DIR).join("zygote.node");
    if let Some(rootfs) = zygote.rootfs.as_mut() {
        rootfs.entries.push(RootEntry::Bind {
            source: cx.config.zygote_addon_path(),
            path: addon.clone(),
            dir: false,
            exec: true,
        });
        // Its own /tmp is never used: each child mounts its own.
        rootfs.tmp_size_bytes = 1 << 20;
        rootfs.tmp_inodes = 64;
    }
    // The zygote loads its addon (children cannot: see runner.js's zygote path), and runs V8
    // on one thread (a fork keeps only the forking thread). V8 still posts tasks to Node's
    // platform workers (a scavenge announces its job to them even when it runs it alone),
    // and a child's post signals the workers' condition variable, whose waiters it copied
    // but does not have. With two or more such ghost waiters, one still counted in glibc's
    // older group and one in the newer, the signal waits for the older group to drain:
    // forever (Node 26 children hung so in allocation-heavy jobs). With one worker thread,
    // at most one group ever holds a waiter and a signal never waits.
    let mut flags: Vec<String> = cx
        .runner
        .flags
        .iter()
        .filter(|f| *f != "--no-addons")
        .cloned()
        .collect();
    flags.push("--single-threaded".into());
    flags.push("--v8-pool-size=1".into());
    let start = RunnerStart {
        flags,
        modules: ModuleLoading::Eager,
        snapshot: None,
        caches: cx.runner.caches,
    };
    zygote.argv = node_argv(&cx.layout.sandbox_node, Path::new(RUNNER_MOUNT), &start);
    zygote.argv.push(format!("--zygote={}", addon.display()));
    zygote.zygote = true;
    let child = ChildSpec {
        tmp_size_bytes: cx.limits.tmp_size_bytes(),
        tmp_inodes: cx.limits.tmp_inodes(),
        rlimits: std::mem::take(&mut zygote.rlimits),
        landlock: zygote.landlock.take(),
        seccomp: std::mem::replace(&mut zygote.seccomp, false),
        hostname: zygote.hostname.clone(),
        hide: vec![ZYGOTE_ADDON_DIR.into()],
        join_cgroups: 0,
    };
    // The zygote's own: open files and no core dumps (its children set theirs).
    zygote.rlimits = launcher::rlimits(cx.limits, u64::MAX, None)
        .into_iter()
        .filter(|r| matches!(r.resource, RlimitResource::Nofile | RlimitResource::Core))
        .collect();
    let config = cx.config.clone();
    let timeout_ms = cx.config.startup_timeout_ms;
    let zygotes = cx.zygotes.clone();
    // The zygote's own cgroup, where runs get theirs.
    let cgroup = match &accounting {
        AccountingPlan::OwnCgroup(run) => Some(CgroupPlan {
            driver: run.driver.clone(),
            memory_bytes: zygote::ZYGOTE_MEMORY_BYTES,
            max_processes: zygote::ZYGOTE_PROCESSES,
            cpu_ms_per_sec: None,
        }),
        _ => None,
    };
    // The run's own cgroup is made before the fork, so that the child moves itself into it
    // (cgroup v1: sandbox/plan.rs, `AccountingPlan::OwnCgroupFromStart`).
    let (run_cgroup, accounting) = match accounting {
        AccountingPlan::OwnCgroup(run) => (Some(run), AccountingPlan::OwnCgroupFromStart),
        other => (None, other),
    };
    SandboxPlan {
        program: Program::Starting(Box::pin(async move {
            let run_cgroup = run_cgroup.map(|plan| plan.make()).transpose()?;
            let joins = match run_cgroup.as_ref().and_then(|cg| cg.self_join_files()) {
                Some(files) => open_for_writing(&files)?,
                None => Vec::new(),
            };
            let child = ChildSpec {
                join_cgroups: joins.len(),
                ..child
            };
            // A zygote found gone when asked (killed, or its launcher ended) is replaced once.
            let z = zygotes.get(&config, &zygote, cgroup.as_ref()).await?;
            let started = match zygote::fork(z, child.clone(), &joins, timeout_ms).await {
                Err(zygote::ForkError::Gone(_)) => {
                    let z = zygotes.get(&config, &zygote, cgroup.as_ref()).await?;
                    zygote::fork(z, child, &joins, timeout_ms).await
                }
                other => other,
            };
            Ok((started.map_err(StartError::from)?, run_cgroup))
        })),
        confirmation: Confirmation::LauncherReport { node_depth: 0 },
        accounting,
        scratch: None,
        from_zygote: true,
        fixed_memory_mib: None,
    }
}

/// Each of `files`, opened for writing (close-on-exec).
fn open_for_writing(files: &[std::path::PathBuf]) -> Result<Vec<std::os::fd::OwnedFd>, StartError> {
    files
        .iter()
        .map(|f| {
            std::fs::OpenOptions::new()
                .write(true)
                .open(f)
                .map(std::os::fd::OwnedFd::from)
                .map_err(|e| StartError::NotReady(format!("opening {}: {e}", f.display())))
        })
        .collect()
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
        zygote: false,
    }
}
