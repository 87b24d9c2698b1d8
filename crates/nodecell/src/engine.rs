//! The engine: checks requests, decides what every run of each backend is protected by,
//! starts sandboxes and runs jobs in them.

use crate::backend::{self, Backend, PlanContext, REGISTRY};
use crate::config::EngineConfig;
use crate::enforcement::{EnforcementReport, Protection};
use crate::error::{EngineError, RequestError, RunError, StartError};
use crate::host::{is_executable, Discovery, HostSupport};
use crate::host_call::HostFunctions;
use crate::layout::NodeLayout;
use crate::limits::{Limits, MAX_LIMITS, MIN_LIMITS};
use crate::node_command::{node_flags, ModuleLoading, RunnerStart};
use crate::outcome::Outcome;
use crate::request::{ExecRequest, Mode, Profile, Work};
use crate::sandbox::{LiveEvent, Prelaunch, Sandbox};
use crate::snapshot::RunnerSnapshots;

/// A backend of an [`Engine`], by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BackendId(&'static str);

impl BackendId {
    pub fn as_str(self) -> &'static str {
        self.0
    }
}

impl std::fmt::Display for BackendId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

/// A request checked against the limits and the backends.
#[derive(Clone, Debug)]
pub struct CheckedRequest {
    pub backend: BackendId,
    pub limits: Limits,
    pub profile: Profile,
    pub mode: Mode,
    /// The functions the caller serves (host calls), with their limits.
    pub host: Option<HostFunctions>,
}

impl CheckedRequest {
    /// What the sandbox is given to run for `req`.
    pub fn work<'a>(&'a self, req: &'a ExecRequest) -> Work<'a> {
        Work {
            code: &req.code,
            inputs: &req.inputs,
            profile: self.profile,
            mode: self.mode,
            items: None,
            host: self.host.as_ref(),
        }
    }
}

/// One backend with what it enforces on this host.
struct Entry {
    backend: &'static dyn Backend,
    report: EnforcementReport,
}

pub struct Engine {
    config: EngineConfig,
    layout: NodeLayout,
    host: HostSupport,
    /// The default first.
    backends: Vec<Entry>,
    snapshots: RunnerSnapshots,
    /// The zygotes of backend native (`[backends.native] zygote`), killed with the engine
    /// once no sandbox of theirs is left.
    zygotes: crate::backend::zygote::Zygotes,
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
        mut config: EngineConfig,
        discovery: Discovery,
    ) -> Result<Engine, EngineError> {
        check_config(&mut config)?;
        if !is_executable(&config.launcher_path) {
            return Err(EngineError::LauncherMissing {
                path: config.launcher_path.clone(),
            });
        }
        let t0 = std::time::Instant::now();
        let layout = NodeLayout::discover(&config.node_path, &config.runner_dir)?;
        let t1 = std::time::Instant::now();
        let host = HostSupport::probe(
            &config.cgroup_root,
            config.backends.docker.socket.as_deref(),
            discovery,
        );
        tracing::debug!(
            layout_ms = (t1 - t0).as_secs_f64() * 1e3,
            probe_ms = t1.elapsed().as_secs_f64() * 1e3,
            "engine discovered the host"
        );
        Ok(Engine::assemble(config, layout, host, REGISTRY))
    }

    /// An engine whose only backend is `fake` (see `backend/fake.rs`): no Node, no
    /// launcher, no privileges; for in-process tests of what sits on the engine.
    #[cfg(feature = "fake")]
    pub fn fake(mut config: EngineConfig) -> Result<Engine, EngineError> {
        check_config(&mut config)?;
        config.runner_snapshot = false;
        let layout = NodeLayout {
            node: config.node_path.clone(),
            sandbox_node: config.node_path.clone(),
            entries: Vec::new(),
            runner_dir: config.runner_dir.clone(),
            allowed_modules: Vec::new(),
            caches_trusted: false,
        };
        let none = "the fake backend uses none".to_string();
        let host = HostSupport {
            namespaces: Err(none.clone()),
            landlock_abi: None,
            seccomp: false,
            cgroups: Err(none),
            root: false,
            docker: None,
        };
        Ok(Engine::assemble(
            config,
            layout,
            host,
            &[&backend::fake::Fake],
        ))
    }

    fn assemble(
        config: EngineConfig,
        layout: NodeLayout,
        host: HostSupport,
        backends: &[&'static dyn Backend],
    ) -> Engine {
        let backends = backends
            .iter()
            .map(|&backend| Entry {
                backend,
                report: backend::report(backend, &host, &config),
            })
            .collect();
        let snapshots =
            RunnerSnapshots::new(&layout.node, &layout.runner_dir, config.runner_snapshot);
        Engine {
            config,
            layout,
            host,
            backends,
            snapshots,
            zygotes: Default::default(),
        }
    }

    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    pub fn layout(&self) -> &NodeLayout {
        &self.layout
    }

    /// The backend called `name`.
    pub fn backend(&self, name: &str) -> Result<BackendId, RequestError> {
        self.backends
            .iter()
            .find(|e| e.backend.name() == name)
            .map(|e| BackendId(e.backend.name()))
            .ok_or_else(|| backend::unknown(name, self.backends.iter().map(|e| e.backend)))
    }

    /// Every backend, the default first.
    pub fn backends(&self) -> impl Iterator<Item = BackendId> + '_ {
        self.backends.iter().map(|e| BackendId(e.backend.name()))
    }

    /// The backend a request that names none runs on.
    pub fn default_backend(&self) -> BackendId {
        BackendId(self.backends[0].backend.name())
    }

    fn entry(&self, backend: BackendId) -> &Entry {
        self.backends
            .iter()
            .find(|e| e.backend.name() == backend.0)
            .expect("a BackendId names a backend of this engine")
    }

    /// What runs of `backend` get on this host.
    pub fn report(&self, backend: BackendId) -> &EnforcementReport {
        &self.entry(backend).report
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
        // The inputs' JSON text without white space (kept so since they were read).
        let inputs_len = req.inputs.text().len() as u64;
        if inputs_len > limits.max_inputs_bytes {
            return Err(RequestError::InputsTooLarge {
                size: inputs_len,
                max: limits.max_inputs_bytes,
            });
        }
        let backend = match &req.backend {
            Some(name) => self.backend(name)?,
            None => self.default_backend(),
        };
        let report = self.report(backend);
        if !report.available {
            return Err(RequestError::BackendUnavailable {
                backend: backend.as_str().into(),
                reason: report.problems.join("; "),
            });
        }
        let host = crate::host_call::check(
            &req.host_functions,
            &req.host_call_limits,
            limits.timeout_ms,
        )?;
        Ok(CheckedRequest {
            backend,
            limits,
            profile: req.profile.unwrap_or(self.config.default_profile),
            mode: req.mode.unwrap_or_default(),
            host,
        })
    }

    /// Starts a sandbox whose limits are `limits` (memory and processes may still be changed
    /// per job; /tmp size and open files are fixed at start).
    pub async fn start(
        &self,
        backend: BackendId,
        limits: &Limits,
        modules: ModuleLoading,
    ) -> Result<Sandbox, StartError> {
        self.start_with(backend, limits, modules, None).await
    }

    /// [`Engine::start`], taking over `prelaunch` if it fits the sandbox.
    async fn start_with(
        &self,
        backend: BackendId,
        limits: &Limits,
        modules: ModuleLoading,
        prelaunch: Option<Prelaunch>,
    ) -> Result<Sandbox, StartError> {
        let Entry { backend, report } = self.entry(backend);
        if !report.available {
            return Err(StartError::Unavailable {
                backend: backend.name(),
                reason: report.problems.join("; "),
            });
        }
        let heap_cap = !report.enforces(Protection::CgroupMemory);
        let mut prelaunch = prelaunch;
        loop {
            let runner = self.runner_start(heap_cap.then_some(limits.memory_mib), modules);
            let snapshot_flags = runner.snapshot.is_some().then(|| runner.flags.clone());
            let plan = backend.plan(&PlanContext {
                config: &self.config,
                layout: &self.layout,
                host: &self.host,
                report,
                limits,
                runner,
                zygotes: &self.zygotes,
            })?;
            let from_zygote = plan.from_zygote;
            let started = Sandbox::start(
                plan,
                backend.name(),
                self.config.startup_timeout_ms,
                prelaunch.take(),
            )
            .await;
            match started {
                Ok(sandbox) => {
                    if from_zygote {
                        self.zygotes.started();
                    }
                    return Ok(sandbox.with_heap_cap(heap_cap.then_some(limits.memory_mib)));
                }
                // The zygote path does not work here: the boot path takes over (planned
                // again, now without the zygote).
                Err(e) if from_zygote && self.zygotes.failed(&e) => continue,
                Err(e) => {
                    // Node aborts on a damaged snapshot: the next start checks the blob again.
                    if let Some(flags) = &snapshot_flags {
                        self.snapshots.recheck(flags);
                    }
                    return Err(self.node_gone().unwrap_or(e));
                }
            }
        }
    }

    /// Why backend native boots Node in each sandbox instead of forking it from a zygote
    /// (docs/architecture.md, "Zygotes"); `None` while the zygote path serves, or has not
    /// been tried yet.
    pub fn zygote_fallback(&self) -> Option<String> {
        if !self.config.backends.native.zygote {
            return Some("off in the configuration ([backends.native] zygote = false)".into());
        }
        self.zygotes.fallback()
    }

    /// Ends every zygote once its last child is gone (now, where none is left): a later
    /// sandbox on the zygote path starts a fresh one.
    pub async fn stop_zygotes(&self) {
        self.zygotes.stop().await;
    }

    /// Whether a sandbox forked from a zygote has started on this engine.
    pub fn zygote_proven(&self) -> bool {
        self.zygotes.proven()
    }

    /// Why a start failed when the configured Node binary is gone from the host: a tool's
    /// own message names only where the sandbox sees it (`/usr/local/bin/node`).
    fn node_gone(&self) -> Option<StartError> {
        let node = &self.layout.node;
        match std::fs::metadata(node) {
            Ok(m) if m.is_file() => None,
            Ok(_) => Some(std::io::Error::other("not a regular file")),
            Err(e) => Some(e),
        }
        .map(|e| StartError::Prepare {
            what: "Node binary",
            source: std::io::Error::new(e.kind(), format!("{}: {e}", node.display())),
        })
    }

    /// Node's flags (V8's heap capped at `heap_cap_mib`, where no memory cgroup holds the
    /// limit) and, for eager module loading, the runner snapshot built for them.
    fn runner_start(&self, heap_cap_mib: Option<u64>, modules: ModuleLoading) -> RunnerStart {
        let flags = node_flags(&self.config, heap_cap_mib);
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
            caches: self.layout.caches_trusted,
        }
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
        live: Option<tokio::sync::mpsc::Sender<LiveEvent>>,
    ) -> Result<Outcome, RunError> {
        self.run_with(req, live, None).await
    }

    async fn run_with(
        &self,
        req: &ExecRequest,
        live: Option<tokio::sync::mpsc::Sender<LiveEvent>>,
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
            .execute(&checked.work(req), &checked.limits, live)
            .await)
    }
}

/// What no engine may run with: limits outside their bounds, a CPU limit the kernel cannot
/// hold, a sandbox environment that would configure Node or the loader. Deprecated keys
/// move into their sections.
fn check_config(config: &mut EngineConfig) -> Result<(), EngineError> {
    for warning in config
        .upgrade_deprecated_keys()
        .map_err(EngineError::Config)?
    {
        tracing::warn!("{warning}");
    }
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
    config.backends.landlock.uids().check().map_err(|e| {
        EngineError::Config(format!("[backends.landlock] first_uid, uid_count: {e}"))
    })?;
    for (k, _) in &config.sandbox_env {
        if k.starts_with("NODE_") || k.starts_with("LD_") || k.contains('=') || k.is_empty() {
            return Err(EngineError::Config(format!(
                "sandbox_env may not set {k:?}"
            )));
        }
    }
    Ok(())
}
