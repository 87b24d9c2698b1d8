//! The docker and gvisor backends: one container per sandbox, through a Docker Engine's API
//! (Docker, Docker Desktop, Podman's Docker-compatible service), from nodecell's own image
//! (built locally, `crate::docker::image`). gvisor is the same container under gVisor's
//! runtime (runsc), whose Sentry is then the kernel boundary.
//!
//! In the container, the launcher is the first process (`crate::launch::in_container`): it
//! carries the runner's streams over the engine's attach stream and confines Node exactly as
//! the landlock backend's launcher does (rlimits, capabilities, no_new_privs, node.json's
//! seccomp filter) inside what the engine applies (namespaces, read-only image, tmpfs /tmp,
//! no network, user nobody, no capabilities, no_new_privs, the OCI seccomp profile, memory
//! with swap equal to memory, pids, CPU, rlimits).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::config::EngineConfig;
use crate::docker::container::{self, ContainerSpec, LAUNCHER_PROCESSES};
use crate::docker::{image, DockerClient, EngineFacts};
use crate::enforcement::{Guarantee, Offer, Protection};
use crate::error::StartError;
use crate::host::{landlock_detail, HostSupport};
use crate::launch::spec::{LandlockSpec, LaunchSpec, RlimitResource, RootEntry};
use crate::layout::{NodeLayout, RUNNER_MOUNT};
use crate::node_command::{devices, executables, node_argv};
use crate::sandbox::plan::{AccountingPlan, Confirmation, PidsAllowance, Program, SandboxPlan};

use super::{launcher, Backend, PlanContext};

/// Host processes and threads of gVisor's Sentry and its platform's stubs, on top of twice
/// the run's own (each task of the sandbox has a host thread under the ptrace platform).
const GVISOR_PIDS_ALLOWANCE: u64 = 256;

/// Where a container sees the runner's startup snapshot.
const SNAPSHOT_IN_CONTAINER: &str = "/nodecell/snapshot.blob";

/// Backend `docker`: the engine's default runtime (runc, crun).
pub(crate) struct Docker;

/// Backend `gvisor`: the same container under gVisor's runtime.
pub(crate) struct Gvisor;

impl Backend for Docker {
    fn name(&self) -> &'static str {
        "docker"
    }

    fn offers(&self, host: &HostSupport, config: &EngineConfig) -> Vec<Offer> {
        offers(None, host, config)
    }

    fn guarantees(&self, _host: &HostSupport) -> Vec<Guarantee> {
        guarantees()
    }

    fn plan(&self, cx: &PlanContext<'_>) -> Result<SandboxPlan, StartError> {
        plan(self.name(), None, cx)
    }
}

impl Backend for Gvisor {
    fn name(&self) -> &'static str {
        "gvisor"
    }

    fn offers(&self, host: &HostSupport, config: &EngineConfig) -> Vec<Offer> {
        offers(Some(&config.backends.docker.gvisor_runtime), host, config)
    }

    fn guarantees(&self, _host: &HostSupport) -> Vec<Guarantee> {
        guarantees()
    }

    fn plan(&self, cx: &PlanContext<'_>) -> Result<SandboxPlan, StartError> {
        let runtime = cx.config.backends.docker.gvisor_runtime.clone();
        plan(self.name(), Some(runtime), cx)
    }
}

/// gVisor's platform (how the Sentry traps Node's syscalls), from the runtime's arguments.
fn gvisor_platform(args: &[String]) -> String {
    args.iter()
        .enumerate()
        .find_map(|(i, a)| match a.strip_prefix("--platform") {
            Some(rest) if rest.starts_with('=') => Some(rest[1..].to_string()),
            Some("") => args.get(i + 1).cloned(),
            _ => None,
        })
        .unwrap_or_else(|| "ptrace, runsc's default".into())
}

fn guarantees() -> Vec<Guarantee> {
    let mut g = Guarantee::CONFINED.to_vec();
    // The container's pid namespace ends with its first process.
    g.push(Guarantee::ProcessTreeKilled);
    g
}

/// The engine's facts, if it answered when the host was discovered.
fn facts(host: &HostSupport) -> Option<&EngineFacts> {
    host.docker.as_ref().and_then(|r| r.as_ref().ok())
}

/// What one container gets; `runtime` is gVisor's for backend gvisor.
fn offers(runtime: Option<&str>, host: &HostSupport, config: &EngineConfig) -> Vec<Offer> {
    use Protection as P;
    let facts = facts(host);
    // A runtime the engine does not have makes the backend unavailable; an engine that did
    // not answer at discovery is found out per start (503 until it answers).
    let (usable, boundary) = match (runtime, facts) {
        (None, _) => (true, "the host kernel (runc)".to_string()),
        (Some(r), Some(f)) => match f.runtime(r) {
            Some(args) => (
                true,
                format!(
                    "gVisor's Sentry (runtime {r}{}{}; platform {}), a user-space kernel between Node and the host's",
                    if args.is_empty() { "" } else { " " },
                    args.join(" "),
                    gvisor_platform(args)
                ),
            ),
            None => (
                false,
                format!("the Docker Engine at {} has no runtime {r:?} (scripts/dockerd.sh registers runsc)", f.at),
            ),
        },
        (Some(r), None) => (true, format!("gVisor's Sentry (runtime {r})")),
    };
    let boundary = match facts {
        Some(_) => boundary,
        None => format!(
            "{boundary}; no engine answered at discovery: each start fails with \
             sandbox_unavailable until one does"
        ),
    };
    let user = match facts {
        Some(f) if f.userns_remap => "user namespace: the daemon's userns-remap",
        Some(f) if f.rootless => "user namespace: the engine is rootless",
        Some(_) => "no user namespace (the daemon does not remap): nobody is the host's uid 65534",
        None => {
            "user namespace as the daemon is configured (not known: it did not answer at discovery)"
        }
    };
    let seccomp_detail = match (runtime, facts.and_then(|f| runtime.and_then(|r| f.runtime(r)))) {
        (Some(_), Some(args)) if !args.iter().any(|a| a == "--oci-seccomp") => {
            "node.json installed by the launcher on Node, enforced by the Sentry (the runtime lacks --oci-seccomp, so the OCI profile is not loaded)"
        }
        _ => "OCI profile from policy/seccomp/{node,container}.json on the whole container, and node.json installed exactly by the launcher on Node",
    };
    let cg = host.cgroups.is_ok();
    vec![
        Offer::structural(P::Namespaces, usable, if usable {
            format!("the engine's: pid, mount, network (none), ipc (none), uts; {user}; kernel boundary: {boundary}")
        } else {
            boundary
        }),
        Offer::structural(P::RootFilesystem, usable, "nodecell's image read-only (Node, its libraries, the runner; built locally, never pulled); size-capped noexec tmpfs /tmp; no host path mounted"),
        match runtime {
            None => Offer::applies(P::Landlock, host.landlock_abi.is_some(), format!(
                "{}, applied by the launcher in the container: the image's files read-only, /tmp read-write, no /proc",
                landlock_detail(host.landlock_abi)
            )),
            Some(_) => Offer::absent(P::Landlock, "gVisor's Sentry does not implement Landlock"),
        },
        Offer::applies(P::Seccomp, true, seccomp_detail),
        Offer::applies(P::CgroupMemory, true, if cg {
            "the engine's memory cgroup (swap = memory): job limits, peak usage and OOM kills from the container's cgroup"
        } else {
            "the engine's memory cgroup (swap = memory); usage not readable here (the engine's cgroups are not this host's)"
        }),
        Offer::applies(P::CgroupPids, true, match runtime {
            None => "the engine's pids limit: processes + threads, the launcher's two included".to_string(),
            Some(_) => format!("the Sentry's RLIMIT_NPROC holds the run's processes; the engine's pids limit (2 × max_processes + {GVISOR_PIDS_ALLOWANCE}, for the Sentry's threads and stubs) is the host's backstop"),
        }),
        Offer::applies(P::CgroupCpu, config.cpu_ms_per_sec > 0, if config.cpu_ms_per_sec > 0 {
            format!("the engine's CPU limit: at most {} ms of CPU per second", config.cpu_ms_per_sec)
        } else {
            "cpu_ms_per_sec = 0: no CPU limit configured".into()
        }),
    ]
}

/// Engine clients by socket, and the image each has, found once per process.
struct Known {
    clients: HashMap<Option<PathBuf>, DockerClient>,
    /// (engine, node, runner, launcher) → the image reference.
    images: HashMap<(String, PathBuf, PathBuf, PathBuf), String>,
}

static KNOWN: std::sync::LazyLock<tokio::sync::Mutex<Known>> = std::sync::LazyLock::new(|| {
    tokio::sync::Mutex::new(Known {
        clients: HashMap::new(),
        images: HashMap::new(),
    })
});

fn unavailable(e: impl std::fmt::Display) -> StartError {
    StartError::NotReady(e.to_string())
}

/// The engine's client and the sandbox image's reference (the image built when missing).
/// Serialised: concurrent first starts build the image once.
async fn client_and_image(
    socket: Option<PathBuf>,
    layout: &NodeLayout,
    launcher: &Path,
) -> Result<(DockerClient, String), StartError> {
    let mut known = KNOWN.lock().await;
    let client = match known.clients.get(&socket) {
        Some(c) => c.clone(),
        None => {
            let c = DockerClient::connect(socket.as_deref())
                .await
                .map_err(unavailable)?;
            let swept = container::sweep(&c).await;
            if swept > 0 {
                tracing::info!(
                    swept,
                    "removed sandbox containers of nodecells that are gone"
                );
            }
            known.clients.insert(socket, c.clone());
            c
        }
    };
    let key = (
        client.at().to_string(),
        layout.node.clone(),
        layout.runner_dir.clone(),
        launcher.to_path_buf(),
    );
    if let Some(reference) = known.images.get(&key) {
        return Ok((client, reference.clone()));
    }
    let made = image::ensure(&client, layout, launcher)
        .await
        .map_err(unavailable)?;
    if made.built {
        tracing::info!(image = %made.reference, removed = ?made.removed, "built the sandbox image");
    }
    known.images.insert(key, made.reference.clone());
    Ok((client, made.reference))
}

/// Forgets what was found about the engine (after a failed start: the image may have been
/// removed, the engine restarted elsewhere).
async fn forget() {
    let mut known = KNOWN.lock().await;
    known.images.clear();
}

fn plan(
    backend: &'static str,
    runtime: Option<String>,
    cx: &PlanContext<'_>,
) -> Result<SandboxPlan, StartError> {
    let (config, limits, report) = (cx.config, cx.limits, cx.report);
    // The runner's startup snapshot is built on the host (for every backend), and stays out
    // of the image (which would change with it): bound read-only into the container.
    let mut runner = cx.runner.clone();
    let mut read_only_files = Vec::new();
    if let Some(rel) = runner.snapshot.take() {
        read_only_files.push((
            cx.layout.runner_dir.join(rel),
            SNAPSHOT_IN_CONTAINER.to_string(),
        ));
        runner.snapshot = Some(SNAPSHOT_IN_CONTAINER.into());
    }
    let gvisor = runtime.is_some();
    // Under runc, RLIMIT_NPROC would count per host uid, over every container of nobody:
    // the pids limit holds the run's processes and threads. Under gVisor the host's pids
    // cgroup counts the Sentry's own threads and its ptrace stubs (a tight limit makes the
    // Sentry fail to start a thread and abort the sandbox): there the Sentry's RLIMIT_NPROC
    // (its uids are the sandbox's alone) holds the run, and the host's limit is a backstop.
    let rlimits = launcher::rlimits(limits, limits.max_processes, None)
        .into_iter()
        .filter(|r| gvisor || r.resource != RlimitResource::Nproc)
        .collect();
    let pids = if gvisor {
        PidsAllowance {
            per_process: 2,
            extra: GVISOR_PIDS_ALLOWANCE,
        }
    } else {
        PidsAllowance {
            per_process: 1,
            extra: LAUNCHER_PROCESSES,
        }
    };
    let spec = LaunchSpec {
        namespaces: false,
        rootfs: None,
        rlimits,
        // Landlock where the container runs on this host's kernel (not under gVisor): the
        // image's files read-only, /tmp read-write, and nothing of /proc (whose
        // /proc/self/mem would let Node rewrite its own code).
        landlock: report.enforces(Protection::Landlock).then(|| LandlockSpec {
            read: cx
                .layout
                .entries
                .iter()
                .filter_map(|e| match e {
                    RootEntry::Bind { path, .. } => Some(path.clone()),
                    RootEntry::Symlink { .. } => None,
                })
                .chain(read_only_files.iter().map(|(_, t)| PathBuf::from(t)))
                .collect(),
            read_write: vec!["/tmp".into()],
            execute: executables(cx.layout),
            devices: devices(),
            required: report.requires(Protection::Landlock),
        }),
        seccomp: true,
        env: config.sandbox_env.clone(),
        argv: node_argv(&cx.layout.sandbox_node, Path::new(RUNNER_MOUNT), &runner),
        cwd: "/tmp".into(),
        hostname: "nodecell".into(),
        run_as: None,
        in_container: true,
        zygote: false,
    };
    let mut spec = ContainerSpec {
        image: String::new(),
        runtime,
        launch_spec: serde_json::to_string(&spec).map_err(|e| StartError::Spawn(e.into()))?,
        seccomp: crate::docker::seccomp::profile().map_err(|e| StartError::Prepare {
            what: "seccomp profile",
            source: std::io::Error::other(e),
        })?,
        memory_bytes: limits.memory_bytes(),
        pids_limit: pids.limit(limits.max_processes),
        cpu_ms_per_sec: report
            .enforces(Protection::CgroupCpu)
            .then_some(config.cpu_ms_per_sec),
        tmp_size_bytes: limits.tmp_size_bytes(),
        max_open_files: limits.max_open_files,
        read_only_files,
        nproc: None,
    };
    let cgroups = cx.host.cgroups.as_ref().ok().cloned();
    let socket = config.backends.docker.socket.clone();
    let (layout, launcher) = (cx.layout.clone(), config.launcher_path.clone());
    let startup = Duration::from_millis(config.startup_timeout_ms);
    let mut namespaces: Vec<String> = ["pid", "mount", "network", "ipc", "uts"]
        .map(String::from)
        .to_vec();
    if facts(cx.host).is_some_and(|f| f.userns_remap || f.rootless) {
        namespaces.insert(0, "user".into());
    }
    let starting = async move {
        let (client, image) = client_and_image(socket, &layout, &launcher).await?;
        spec.image = image;
        let started = tokio::time::timeout(startup, container::start(client, spec, cgroups))
            .await
            .map_err(|_| StartError::StartupTimeout(startup.as_millis() as u64))
            .and_then(|r| r);
        if started.is_err() {
            forget().await;
        }
        started
    };
    tracing::trace!(backend, "planned a sandbox container");
    Ok(SandboxPlan {
        program: Program::Starting(Box::pin(starting)),
        confirmation: Confirmation::ContainerLauncher { namespaces },
        accounting: AccountingPlan::FromStart(pids),
        scratch: None,
        from_zygote: false,
        fixed_memory_mib: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gvisor_platform_is_read_from_the_runtime_arguments() {
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(gvisor_platform(&args(&["--platform=kvm"])), "kvm");
        assert_eq!(
            gvisor_platform(&args(&["--network=none", "--platform", "systrap"])),
            "systrap"
        );
        assert_eq!(
            gvisor_platform(&args(&["--oci-seccomp"])),
            "ptrace, runsc's default"
        );
    }
}
