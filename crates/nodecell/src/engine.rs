//! The engine: checks requests, decides what every run must be protected by, starts
//! sandboxes and runs jobs in them.

use std::path::Path;

use crate::cgroup::CgroupDriver;
use crate::config::EngineConfig;
use crate::enforcement::{EnforcementReport, Protection, ProtectionState};
use crate::error::{EngineError, RequestError, RunError, StartError};
use crate::layout::NodeLayout;
use crate::limits::{Limits, MAX_LIMITS, MIN_LIMITS};
use crate::native::{self, NativeChoices};
use crate::outcome::Outcome;
use crate::request::ExecRequest;
use crate::sandbox::{LiveEvent, Sandbox};

/// An isolation backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Backend {
    Native,
}

impl Backend {
    pub const ALL: [Backend; 1] = [Backend::Native];

    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Native => "native",
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

/// What this host offers, found out once.
#[derive(Clone, Debug)]
struct HostSupport {
    namespaces: Result<(), String>,
    landlock_abi: Option<i32>,
    seccomp: bool,
    cgroups: Result<CgroupDriver, String>,
}

impl HostSupport {
    fn probe(config: &EngineConfig) -> HostSupport {
        let namespaces = crate::sys::probe_namespaces().map_err(|e| {
            format!("clone with new user, pid, mount, net, ipc, uts, cgroup namespaces: {e}")
        });
        let seccomp = std::fs::read_to_string("/proc/self/status")
            .map(|s| s.contains("\nSeccomp:"))
            .unwrap_or(false);
        HostSupport {
            namespaces,
            landlock_abi: crate::sys::landlock_abi(),
            seccomp,
            cgroups: CgroupDriver::detect(&config.cgroup_root).map_err(|e| e.to_string()),
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
    native_report: EnforcementReport,
}

impl Engine {
    /// Checks the configuration and discovers the host. Fails on what no run could survive
    /// (no Node, no runner, no launcher); a backend the host cannot protect is reported as
    /// unavailable instead, so `check` can say why.
    pub fn new(config: EngineConfig) -> Result<Engine, EngineError> {
        config
            .default_limits
            .check_within(&MIN_LIMITS, &config.max_limits)
            .map_err(|e| EngineError::Config(format!("default_limits: {e}")))?;
        config
            .max_limits
            .check_within(&MIN_LIMITS, &MAX_LIMITS)
            .map_err(|e| EngineError::Config(format!("max_limits: {e}")))?;
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
        let host = HostSupport::probe(&config);
        tracing::debug!(
            layout_ms = (t1 - t0).as_secs_f64() * 1e3,
            probe_ms = t1.elapsed().as_secs_f64() * 1e3,
            "engine discovered the host"
        );
        let native_report = native_report(&config, &host);
        Ok(Engine {
            config,
            layout,
            host,
            native_report,
        })
    }

    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    pub fn layout(&self) -> &NodeLayout {
        &self.layout
    }

    pub fn report(&self, backend: Backend) -> &EnforcementReport {
        match backend {
            Backend::Native => &self.native_report,
        }
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
        let report = self.report(backend);
        if !report.available {
            return Err(StartError::Setup {
                step: "check_protections".into(),
                message: report.problems.join("; "),
            });
        }
        let cgroup = match (
            &self.host.cgroups,
            report.enforces(Protection::CgroupMemory),
        ) {
            (Ok(driver), true) => {
                let cg = driver.create()?;
                cg.set_memory_limit(limits.memory_bytes())?;
                cg.set_pids_limit(limits.max_processes)?;
                Some(cg)
            }
            _ => None,
        };
        let choices = NativeChoices {
            seccomp: report.enforces(Protection::Seccomp),
            landlock: report.enforces(Protection::Landlock),
            landlock_required: required(report, Protection::Landlock),
            modules,
            v8_heap_limit_mib: (!report.enforces(Protection::CgroupMemory))
                .then_some(limits.memory_mib),
        };
        let spec = native::launch_spec(&self.layout, &self.config, limits, &choices);
        Sandbox::start(
            &self.config.launcher_path,
            &spec,
            cgroup,
            backend.as_str(),
            self.config.startup_timeout_ms,
        )
        .await
    }

    /// Runs one request in a fresh sandbox.
    pub async fn run(&self, req: &ExecRequest) -> Result<Outcome, RunError> {
        self.run_streaming(req, None).await
    }

    /// Like [`Engine::run`], sending output to `live` as it happens.
    pub async fn run_streaming(
        &self,
        req: &ExecRequest,
        live: Option<tokio::sync::mpsc::UnboundedSender<LiveEvent>>,
    ) -> Result<Outcome, RunError> {
        let checked = self.check_request(req)?;
        let sandbox = self
            .start(checked.backend, &checked.limits, ModuleLoading::Lazy)
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

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// Decides, protection by protection, what native runs get on this host.
fn native_report(config: &EngineConfig, host: &HostSupport) -> EnforcementReport {
    let cg = host.cgroups.as_ref();
    let lines: Vec<(Protection, bool, String)> = vec![
        (
            Protection::Namespaces,
            host.namespaces.is_ok(),
            match &host.namespaces {
                Ok(()) => "user, pid, mount, network (nothing reachable), ipc, uts, cgroup".into(),
                Err(e) => format!("cannot create namespaces: {e}"),
            },
        ),
        (
            Protection::RootFilesystem,
            host.namespaces.is_ok(),
            "read-only: node, its libraries, the runner; /dev/{null,zero,random,urandom}; private noexec /tmp; no /proc, /sys".into(),
        ),
        (
            Protection::Landlock,
            host.landlock_abi.is_some(),
            match host.landlock_abi {
                Some(abi) => format!(
                    "ABI {abi}: filesystem{}{}",
                    if abi >= 4 { ", TCP bind/connect denied" } else { "" },
                    if abi >= 6 { ", signals and abstract unix sockets scoped" } else { "" }
                ),
                None => "not available in this kernel".into(),
            },
        ),
        (
            Protection::Seccomp,
            host.seccomp,
            "allowlist from policy/seccomp/node.json (EPERM otherwise; clone3, io_uring_* → ENOSYS)".into(),
        ),
        (
            Protection::CgroupMemory,
            cg.is_ok(),
            match cg {
                Ok(d) => format!("cgroup v{}: memory limit, no swap, OOM detection, peak usage", d.version()),
                Err(e) => format!("{e}; instead V8's heap is capped at the memory limit (Buffers and WebAssembly are not)"),
            },
        ),
        (
            Protection::CgroupPids,
            cg.is_ok(),
            match cg {
                Ok(d) => format!("cgroup v{}: processes + threads limit", d.version()),
                Err(e) => e.clone(),
            },
        ),
    ];
    let mut problems = Vec::new();
    let protections = lines
        .into_iter()
        .map(|(protection, supported, detail)| {
            // The native backend cannot run at all without its namespaces and root.
            let structural = matches!(
                protection,
                Protection::Namespaces | Protection::RootFilesystem
            );
            let required = structural
                || match &config.required_protections {
                    Some(list) => list.contains(&protection),
                    None => supported,
                };
            if required && !supported {
                problems.push(format!(
                    "{} is required but unavailable: {detail}",
                    protection.as_str()
                ));
            }
            ProtectionState {
                protection,
                supported,
                required,
                enforced: supported,
                detail,
            }
        })
        .collect();
    EnforcementReport {
        backend: Backend::Native.as_str().into(),
        available: problems.is_empty(),
        protections,
        always: vec![
            "no_new_privs".into(),
            "capabilities_dropped".into(),
            "uid_gid_nobody".into(),
            "clean_environment".into(),
            "rlimits".into(),
        ],
        problems,
    }
}
