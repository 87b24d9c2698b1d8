//! The engine: checks requests, decides what every run must be protected by, starts
//! sandboxes and runs jobs in them.

use std::path::{Path, PathBuf};

use crate::cgroup::{CgroupDriver, CgroupPlan, CgroupProof};
use crate::config::EngineConfig;
use crate::enforcement::{EnforcementReport, Protection, ProtectionState};
use crate::error::{EngineError, RequestError, RunError, StartError};
use crate::landlock_backend::{self, LandlockChoices, ScratchDir};
use crate::launch::spec::{LaunchReport, SANDBOX_ID, SPEC_FD, WITHOUT_NAMESPACES, WITH_NAMESPACES};
use crate::layout::NodeLayout;
use crate::limits::{Limits, MAX_LIMITS, MIN_LIMITS};
use crate::native::{self, NativeChoices, RunnerStart};
use crate::nsjail::NsjailChoices;
use crate::outcome::Outcome;
use crate::request::ExecRequest;
use crate::sandbox::{Accounting, LiveEvent, Prelaunch, ProgramInput, Sandbox, Spawn, Supervisor};
use crate::snapshot::RunnerSnapshots;

/// An isolation backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Backend {
    /// nodecell's own launcher: namespaces, a minimal root, Landlock, seccomp, cgroups.
    Native,
    /// The nsjail binary, configured by nodecell (namespaces, root, Kafel seccomp, cgroups).
    Nsjail,
    /// No namespaces, no privileges: Landlock, seccomp, rlimits and the host's watchdog.
    Landlock,
}

impl Backend {
    pub const ALL: [Backend; 3] = [Backend::Native, Backend::Nsjail, Backend::Landlock];

    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Native => "native",
            Backend::Nsjail => "nsjail",
            Backend::Landlock => "landlock",
        }
    }

    pub fn parse(name: &str) -> Result<Backend, RequestError> {
        Backend::ALL
            .into_iter()
            .find(|b| b.as_str() == name)
            .ok_or_else(|| RequestError::UnknownBackend {
                name: name.to_string(),
                known: Backend::ALL.map(Backend::as_str).join(", "),
            })
    }
}

/// When the runner loads the allowed modules (lodash, dayjs, uuid, built-ins).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModuleLoading {
    /// Before the sandbox says it is ready: for sandboxes started ahead of their job.
    Eager,
    /// On first use: for a sandbox started for a job that is already waiting.
    Lazy,
}

/// How much an [`Engine`] finds out about the host before its first run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Discovery {
    /// Try what can only be known by trying (a clone into new namespaces, a cgroup made and
    /// removed), so that the enforcement report is exact before any run: `nodecell check`,
    /// the service.
    Probe,
    /// For an engine that serves a single run (`nodecell run`): no trial clone and no trial
    /// cgroup, because the run's own sandbox makes both moments later and the run fails if
    /// either fails (namespaces are structural, and a cgroup that cannot be made is an
    /// error, never a fallback to weaker limits). Cgroups count as usable when their
    /// directories are writable.
    OneRun,
}

/// What this host offers, found out once.
#[derive(Clone, Debug)]
struct HostSupport {
    namespaces: Result<(), String>,
    landlock_abi: Option<i32>,
    seccomp: bool,
    cgroups: Result<CgroupDriver, String>,
    /// The nsjail binary, or why there is none.
    nsjail: Result<PathBuf, String>,
    root: bool,
}

impl HostSupport {
    fn probe(config: &EngineConfig, discovery: Discovery) -> HostSupport {
        let (namespaces, cgroup_proof) = match discovery {
            Discovery::Probe => (
                crate::sys::probe_namespaces().map_err(|e| {
                    format!(
                        "clone with new user, pid, mount, net, ipc, uts, cgroup namespaces: {e}"
                    )
                }),
                CgroupProof::CreateGroup,
            ),
            Discovery::OneRun => (Ok(()), CgroupProof::Writable),
        };
        let seccomp = std::fs::read_to_string("/proc/self/status")
            .map(|s| s.contains("\nSeccomp:"))
            .unwrap_or(false);
        let cgroups =
            CgroupDriver::detect(&config.cgroup_root, cgroup_proof).map_err(|e| e.to_string());
        let nsjail = find_executable(&config.nsjail_path).ok_or_else(|| {
            format!(
                "nsjail not found at {} (scripts/setup.sh installs it; NODECELL_NSJAIL sets the path)",
                config.nsjail_path.display()
            )
        });
        HostSupport {
            namespaces,
            landlock_abi: crate::sys::landlock_abi(),
            seccomp,
            cgroups,
            nsjail,
            root: nix::unistd::geteuid().is_root(),
        }
    }
}

/// A request checked against the limits and the backends.
#[derive(Clone, Debug)]
pub struct CheckedRequest {
    pub backend: Backend,
    pub limits: Limits,
}

pub struct Engine {
    config: EngineConfig,
    layout: NodeLayout,
    host: HostSupport,
    reports: [EnforcementReport; 3],
    snapshots: RunnerSnapshots,
}

impl Engine {
    /// Checks the configuration and discovers the host. Fails on what no run could survive
    /// (no Node, no runner, no launcher); a backend the host cannot protect is reported as
    /// unavailable instead, so `check` can say why.
    pub fn new(config: EngineConfig) -> Result<Engine, EngineError> {
        Engine::with_discovery(config, Discovery::Probe)
    }

    /// An engine for a single run, which skips the trials that run makes anyway
    /// ([`Discovery::OneRun`]).
    pub fn for_one_run(config: EngineConfig) -> Result<Engine, EngineError> {
        Engine::with_discovery(config, Discovery::OneRun)
    }

    pub fn with_discovery(
        config: EngineConfig,
        discovery: Discovery,
    ) -> Result<Engine, EngineError> {
        config
            .default_limits
            .check_within(&MIN_LIMITS, &config.max_limits)
            .map_err(|e| EngineError::Config(format!("default_limits: {e}")))?;
        config
            .max_limits
            .check_within(&MIN_LIMITS, &MAX_LIMITS)
            .map_err(|e| EngineError::Config(format!("max_limits: {e}")))?;
        // The kernel's smallest CFS quota is 1 ms per 100 ms period.
        if config.cpu_ms_per_sec != 0 && !(10..=1_024_000).contains(&config.cpu_ms_per_sec) {
            return Err(EngineError::Config(format!(
                "cpu_ms_per_sec = {} is outside 10..=1024000 (0: no limit)",
                config.cpu_ms_per_sec
            )));
        }
        for (k, _) in &config.sandbox_env {
            if k.starts_with("NODE_") || k.starts_with("LD_") || k.contains('=') || k.is_empty() {
                return Err(EngineError::Config(format!(
                    "sandbox_env may not set {k:?}"
                )));
            }
        }
        if !is_executable(&config.launcher_path) {
            return Err(EngineError::LauncherMissing {
                path: config.launcher_path.clone(),
            });
        }
        let t0 = std::time::Instant::now();
        let layout = NodeLayout::discover(&config.node_path, &config.runner_dir)?;
        let t1 = std::time::Instant::now();
        let host = HostSupport::probe(&config, discovery);
        tracing::debug!(
            layout_ms = (t1 - t0).as_secs_f64() * 1e3,
            probe_ms = t1.elapsed().as_secs_f64() * 1e3,
            "engine discovered the host"
        );
        let reports = Backend::ALL.map(|b| backend_report(b, &config, &host));
        let snapshots =
            RunnerSnapshots::new(&layout.node, &layout.runner_dir, config.runner_snapshot);
        Ok(Engine {
            config,
            layout,
            host,
            reports,
            snapshots,
        })
    }

    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    pub fn layout(&self) -> &NodeLayout {
        &self.layout
    }

    pub fn report(&self, backend: Backend) -> &EnforcementReport {
        &self.reports[backend as usize]
    }

    /// Validates a request without running it.
    pub fn check_request(&self, req: &ExecRequest) -> Result<CheckedRequest, RequestError> {
        let limits = self
            .config
            .default_limits
            .with_overrides(&req.limits, &self.config.max_limits)?;
        let code_len = req.code.len() as u64;
        if code_len > limits.max_code_bytes {
            return Err(RequestError::CodeTooLarge {
                size: code_len,
                max: limits.max_code_bytes,
            });
        }
        let inputs_len = serde_json::to_vec(&req.inputs)
            .map(|v| v.len() as u64)
            .unwrap_or(u64::MAX);
        if inputs_len > limits.max_inputs_bytes {
            return Err(RequestError::InputsTooLarge {
                size: inputs_len,
                max: limits.max_inputs_bytes,
            });
        }
        let backend = match &req.backend {
            Some(name) => Backend::parse(name)?,
            None => Backend::Native,
        };
        let report = self.report(backend);
        if !report.available {
            return Err(RequestError::BackendUnavailable {
                backend: backend.as_str().into(),
                reason: report.problems.join("; "),
            });
        }
        Ok(CheckedRequest { backend, limits })
    }

    /// Starts a sandbox whose limits are `limits` (memory and processes may still be changed
    /// per job; /tmp size and open files are fixed at start).
    pub async fn start(
        &self,
        backend: Backend,
        limits: &Limits,
        modules: ModuleLoading,
    ) -> Result<Sandbox, StartError> {
        self.start_with(backend, limits, modules, None).await
    }

    /// [`Engine::start`], taking over `prelaunch` if it fits the sandbox.
    async fn start_with(
        &self,
        backend: Backend,
        limits: &Limits,
        modules: ModuleLoading,
        prelaunch: Option<Prelaunch>,
    ) -> Result<Sandbox, StartError> {
        let report = self.report(backend);
        if !report.available {
            return Err(StartError::Setup {
                step: "check_protections".into(),
                message: report.problems.join("; "),
            });
        }
        let spawn = match backend {
            Backend::Native => self.native_spawn(report, limits, modules)?,
            Backend::Nsjail => self.nsjail_spawn(report, limits, modules)?,
            Backend::Landlock => self.landlock_spawn(report, limits, modules)?,
        };
        Sandbox::start(
            spawn,
            backend.as_str(),
            self.config.startup_timeout_ms,
            prelaunch,
        )
        .await
    }

    fn native_spawn(
        &self,
        report: &EnforcementReport,
        limits: &Limits,
        modules: ModuleLoading,
    ) -> Result<Spawn, StartError> {
        let accounting = match (
            &self.host.cgroups,
            report.enforces(Protection::CgroupMemory),
        ) {
            (Ok(driver), true) => Accounting::Cgroup(CgroupPlan {
                driver: driver.clone(),
                memory_bytes: limits.memory_bytes(),
                max_processes: limits.max_processes,
                cpu_ms_per_sec: report
                    .enforces(Protection::CgroupCpu)
                    .then_some(self.config.cpu_ms_per_sec),
            }),
            _ => Accounting::Proc,
        };
        let choices = NativeChoices {
            seccomp: report.enforces(Protection::Seccomp),
            landlock: report.enforces(Protection::Landlock),
            landlock_required: required(report, Protection::Landlock),
            runner: self.runner_start(Backend::Native, limits, modules),
        };
        let spec = native::launch_spec(&self.layout, &self.config, limits, &choices);
        self.launcher_spawn(&spec, 2, accounting, None)
    }

    fn landlock_spawn(
        &self,
        report: &EnforcementReport,
        limits: &Limits,
        modules: ModuleLoading,
    ) -> Result<Spawn, StartError> {
        let scratch = ScratchDir::create(self.host.root).map_err(|e| StartError::Setup {
            step: "scratch_dir".into(),
            message: e.to_string(),
        })?;
        let choices = LandlockChoices {
            seccomp: report.enforces(Protection::Seccomp),
            landlock_required: true,
            runner: self.runner_start(Backend::Landlock, limits, modules),
            scratch: scratch.path(),
            user_max_processes: self.config.landlock_user_max_processes,
        };
        let spec = landlock_backend::launch_spec(&self.layout, &self.config, limits, &choices);
        self.launcher_spawn(&spec, 1, Accounting::Proc, Some(scratch))
    }

    /// Node's flags for `backend` (V8's heap is capped where no memory cgroup holds the
    /// limit) and, for eager module loading, the runner snapshot built for them.
    fn runner_start(
        &self,
        backend: Backend,
        limits: &Limits,
        modules: ModuleLoading,
    ) -> RunnerStart {
        let heap_cap = backend == Backend::Landlock
            || !self.report(backend).enforces(Protection::CgroupMemory);
        let flags = native::node_flags(&self.config, heap_cap.then_some(limits.memory_mib));
        // The snapshot holds every module, loaded: it beats loading them all from files,
        // but a sandbox for one waiting job starts faster loading only what the job uses.
        let snapshot = match modules {
            ModuleLoading::Eager => self.snapshots.blob_for(&flags),
            ModuleLoading::Lazy => None,
        };
        RunnerStart {
            flags,
            modules,
            snapshot,
        }
    }

    fn launcher_spawn(
        &self,
        spec: &crate::launch::spec::LaunchSpec,
        node_depth: usize,
        accounting: Accounting,
        scratch: Option<ScratchDir>,
    ) -> Result<Spawn, StartError> {
        Ok(Spawn {
            program: self.config.launcher_path.clone(),
            args: vec![if spec.namespaces {
                WITH_NAMESPACES
            } else {
                WITHOUT_NAMESPACES
            }
            .to_string()],
            input: ProgramInput::Spec(
                serde_json::to_vec(spec).map_err(|e| StartError::Spawn(e.into()))?,
            ),
            supervisor: Supervisor::Launcher { node_depth },
            accounting,
            scratch,
        })
    }

    fn nsjail_spawn(
        &self,
        report: &EnforcementReport,
        limits: &Limits,
        modules: ModuleLoading,
    ) -> Result<Spawn, StartError> {
        let nsjail = self.host.nsjail.as_ref().map_err(|e| StartError::Setup {
            step: "find_nsjail".into(),
            message: e.clone(),
        })?;
        let group = match (
            &self.host.cgroups,
            report.enforces(Protection::CgroupMemory),
        ) {
            (Ok(driver), true) => Some(crate::nsjail::cgroup_layout(driver).create()?),
            _ => None,
        };
        let choices = NsjailChoices {
            seccomp: report.enforces(Protection::Seccomp),
            cpu_ms_per_sec: (group.is_some() && report.enforces(Protection::CgroupCpu))
                .then_some(self.config.cpu_ms_per_sec),
            cgroups: group
                .as_ref()
                .zip(self.host.cgroups.as_ref().ok())
                .map(|(g, d)| (d.clone(), g.name().to_string())),
            argv: native::node_argv(
                &self.layout,
                std::path::Path::new(crate::layout::RUNNER_MOUNT),
                &self.runner_start(Backend::Nsjail, limits, modules),
            ),
            host_root: self.host.root,
        };
        let text = crate::nsjail::render(&self.layout, &self.config, limits, &choices);
        let config_fd = crate::sys::memfd_with("nodecell-nsjail.cfg", text.as_bytes())
            .map_err(StartError::Spawn)?;
        let outside = |id: u32| if self.host.root { SANDBOX_ID } else { id };
        let expected = LaunchReport {
            namespaces: ["user", "pid", "mount", "network", "ipc", "uts", "cgroup"]
                .map(String::from)
                .to_vec(),
            rootfs: true,
            landlock: "off".into(),
            landlock_abi: 0,
            seccomp: choices.seccomp,
            no_new_privs: true,
            capabilities_dropped: true,
            uid: outside(nix::unistd::geteuid().as_raw()),
            gid: outside(nix::unistd::getegid().as_raw()),
        };
        Ok(Spawn {
            program: nsjail.clone(),
            args: vec!["--config".into(), format!("/proc/self/fd/{SPEC_FD}")],
            input: ProgramInput::Config(config_fd),
            supervisor: Supervisor::Nsjail { expected },
            accounting: match group {
                Some(g) => Accounting::NsjailCgroup(g),
                None => Accounting::Proc,
            },
            scratch: None,
        })
    }

    /// Runs one request in a fresh sandbox.
    pub async fn run(&self, req: &ExecRequest) -> Result<Outcome, RunError> {
        self.run_with(req, None, None).await
    }

    /// [`Engine::run`] in the sandbox of `prelaunch` if it was started for the request's
    /// backend (a bad request, or another backend, drops it: the launcher is killed and
    /// nothing of it stays).
    pub async fn run_prelaunched(
        &self,
        req: &ExecRequest,
        prelaunch: Option<Prelaunch>,
    ) -> Result<Outcome, RunError> {
        self.run_with(req, None, prelaunch).await
    }

    /// Like [`Engine::run`], sending output to `live` as it happens.
    pub async fn run_streaming(
        &self,
        req: &ExecRequest,
        live: Option<tokio::sync::mpsc::UnboundedSender<LiveEvent>>,
    ) -> Result<Outcome, RunError> {
        self.run_with(req, live, None).await
    }

    async fn run_with(
        &self,
        req: &ExecRequest,
        live: Option<tokio::sync::mpsc::UnboundedSender<LiveEvent>>,
        prelaunch: Option<Prelaunch>,
    ) -> Result<Outcome, RunError> {
        let checked = self.check_request(req)?;
        let sandbox = self
            .start_with(
                checked.backend,
                &checked.limits,
                ModuleLoading::Lazy,
                prelaunch,
            )
            .await?;
        Ok(sandbox
            .execute(&req.code, &req.inputs, &checked.limits, live)
            .await)
    }
}

fn required(report: &EnforcementReport, p: Protection) -> bool {
    report
        .protections
        .iter()
        .any(|s| s.protection == p && s.required)
}

/// `p` if it is an executable file; a bare name is looked up on the PATH.
fn find_executable(p: &Path) -> Option<PathBuf> {
    if p.components().count() > 1 {
        return is_executable(p).then(|| p.to_path_buf());
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(p))
        .find(|c| is_executable(c))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// One line of a backend's report before the configuration is applied.
struct Line {
    protection: Protection,
    /// The backend can apply it at all.
    offered: bool,
    /// The backend cannot run without it, whatever the configuration says.
    structural: bool,
    /// This host lets the backend apply it.
    supported: bool,
    detail: String,
}

fn line(
    protection: Protection,
    offered: bool,
    structural: bool,
    supported: bool,
    detail: impl Into<String>,
) -> Line {
    Line {
        protection,
        offered,
        structural,
        supported: offered && supported,
        detail: detail.into(),
    }
}

fn landlock_detail(abi: Option<i32>) -> String {
    match abi {
        Some(abi) => format!(
            "ABI {abi}: filesystem{}{}",
            if abi >= 4 {
                ", TCP bind/connect denied"
            } else {
                ""
            },
            if abi >= 6 {
                ", signals and abstract unix sockets scoped"
            } else {
                ""
            }
        ),
        None => "not available in this kernel".into(),
    }
}

const SECCOMP_DETAIL: &str =
    "allowlist from policy/seccomp/node.json (EPERM otherwise; socket() refused; clone3, io_uring_* → ENOSYS)";

/// What one backend can apply on this host, protection by protection.
fn backend_lines(backend: Backend, host: &HostSupport, cpu_ms_per_sec: u64) -> Vec<Line> {
    use Protection as P;
    let cg_detail = |what: &str, cg: &Result<CgroupDriver, String>| match cg {
        Ok(d) => format!("cgroup v{}: {what}", d.version()),
        Err(e) => e.clone(),
    };
    // The CPU limit needs the cpu controller, and a limit configured.
    let cpu_line = |cg: &Result<CgroupDriver, String>, whose: &str| match cg {
        Err(e) => line(P::CgroupCpu, true, false, false, e.clone()),
        Ok(d) if !d.has_cpu_controller() => line(
            P::CgroupCpu,
            true,
            false,
            false,
            format!("cgroup v{}: no cpu controller", d.version()),
        ),
        Ok(_) if cpu_ms_per_sec == 0 => line(
            P::CgroupCpu,
            true,
            false,
            false,
            "cpu_ms_per_sec = 0: no CPU limit configured",
        ),
        Ok(d) => line(
            P::CgroupCpu,
            true,
            false,
            true,
            format!(
                "cgroup v{}: {whose}at most {cpu_ms_per_sec} ms of CPU per second",
                d.version()
            ),
        ),
    };
    match backend {
        Backend::Native => {
            let ns = host.namespaces.is_ok();
            let cg = host.cgroups.is_ok();
            vec![
                line(P::Namespaces, true, true, ns, match &host.namespaces {
                    Ok(()) => "user, pid, mount, network (nothing reachable), ipc, uts, cgroup".into(),
                    Err(e) => format!("cannot create namespaces: {e}"),
                }),
                line(P::RootFilesystem, true, true, ns, "read-only: node, its libraries, the runner; /dev/{null,zero,random,urandom}; private noexec /tmp; no /proc, /sys"),
                line(P::Landlock, true, false, host.landlock_abi.is_some(), landlock_detail(host.landlock_abi)),
                line(P::Seccomp, true, false, host.seccomp, SECCOMP_DETAIL),
                line(P::CgroupMemory, true, false, cg, match &host.cgroups {
                    Ok(d) => format!("cgroup v{}: memory limit, no swap, OOM detection, peak usage", d.version()),
                    Err(e) => format!("{e}; instead V8's heap is capped at the memory limit and a host watchdog holds resident memory to it (sampled every 10 ms)"),
                }),
                line(P::CgroupPids, true, false, cg, cg_detail("processes + threads limit", &host.cgroups)),
                cpu_line(&host.cgroups, ""),
            ]
        }
        Backend::Nsjail => {
            let ns = host.namespaces.is_ok() && host.nsjail.is_ok();
            let cg = host.cgroups.is_ok();
            let ns_detail = match (&host.nsjail, &host.namespaces) {
                (Err(e), _) => e.clone(),
                (Ok(_), Err(e)) => format!("cannot create namespaces: {e}"),
                (Ok(p), Ok(())) => format!(
                    "{}: user, pid, mount, network (nothing reachable), ipc, uts, cgroup",
                    p.display()
                ),
            };
            vec![
                line(P::Namespaces, true, true, ns, ns_detail),
                line(P::RootFilesystem, true, true, ns, "read-only tmpfs root with binds of node, its libraries, the runner; /dev/{null,zero,random,urandom}; private noexec /tmp; no /proc, /sys"),
                line(P::Landlock, false, false, false, "nsjail does not apply Landlock"),
                line(P::Seccomp, true, false, host.seccomp, format!("{SECCOMP_DETAIL}, rendered in Kafel for nsjail")),
                line(P::CgroupMemory, true, false, cg, cg_detail("nsjail's memory limit (the job may add its limit to what the ready sandbox uses), no swap, OOM detection, peak usage", &host.cgroups)),
                line(P::CgroupPids, true, false, cg, cg_detail("nsjail's processes + threads limit", &host.cgroups)),
                cpu_line(&host.cgroups, "nsjail's limit, "),
            ]
        }
        Backend::Landlock => {
            // Without namespaces, Landlock's signal and abstract-socket scoping (ABI 6) is what
            // keeps one run from signalling another run or the service.
            let ll = host.landlock_abi.is_some_and(|abi| abi >= 6);
            vec![
                line(P::Namespaces, false, false, false, "none: the host's pid, network and ipc namespaces (other processes are visible; sockets are refused by seccomp, signals scoped by Landlock)"),
                line(P::RootFilesystem, false, false, false, "none: the host's filesystem, of which Landlock allows reading only node, its libraries, the runner and /etc/ssl/openssl.cnf, and writing only a private scratch directory"),
                line(P::Landlock, true, true, ll, match host.landlock_abi {
                    Some(abi) if abi >= 6 => landlock_detail(Some(abi)),
                    Some(abi) => format!("ABI {abi}: this backend needs ABI 6 (signal and abstract unix socket scoping)"),
                    None => "not available in this kernel".into(),
                }),
                line(P::Seccomp, true, true, host.seccomp, SECCOMP_DETAIL),
                line(P::CgroupMemory, false, false, false, "none: V8's heap cap, RLIMIT_DATA (the job may add its limit to what the ready sandbox uses) and a host watchdog on resident memory every 10 ms; /tmp is a scratch directory on the host's disk whose files RLIMIT_FSIZE caps one by one"),
                line(P::CgroupPids, false, false, false, "none: the host watchdog kills a run above max_processes; RLIMIT_NPROC is per user (landlock_user_max_processes)"),
                line(P::CgroupCpu, false, false, false, "none: a run may use every CPU until its wall-time limit"),
            ]
        }
    }
}

/// Decides, protection by protection, what runs of `backend` get on this host.
fn backend_report(
    backend: Backend,
    config: &EngineConfig,
    host: &HostSupport,
) -> EnforcementReport {
    let mut problems = Vec::new();
    let protections = backend_lines(backend, host, config.cpu_ms_per_sec)
        .into_iter()
        .map(|l| {
            let required = l.structural
                || match &config.required_protections {
                    Some(list) => list.contains(&l.protection),
                    None => l.supported,
                };
            if required && !l.supported {
                problems.push(format!(
                    "{} is required but unavailable: {}",
                    l.protection.as_str(),
                    l.detail
                ));
            }
            ProtectionState {
                protection: l.protection,
                offered: l.offered,
                supported: l.supported,
                required,
                enforced: l.supported,
                detail: l.detail,
            }
        })
        .collect();
    let mut always = vec!["no_new_privs".to_string(), "capabilities_dropped".into()];
    if backend != Backend::Landlock || host.root {
        always.push("uid_gid_nobody".into());
    }
    always.extend(["clean_environment".into(), "rlimits".into()]);
    if backend == Backend::Landlock {
        always.extend([
            "v8_heap_cap".into(),
            "rlimit_data".into(),
            "host_watchdog".into(),
            "process_tree_killed".into(),
        ]);
    }
    EnforcementReport {
        backend: backend.as_str().into(),
        available: problems.is_empty(),
        protections,
        always,
        problems,
    }
}
