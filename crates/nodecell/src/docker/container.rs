//! One sandbox as one container: created hardened, attached, started; its streams taken
//! apart again on the host; ended by closing its stdin, and removed by the engine.
//!
//! The container's first process is the launcher in its `--in-container` mode
//! (`crate::launch::in_container`), which multiplexes the runner's streams on its stdout.
//! Here the demultiplexer writes each stream into a unix socket pair whose other end the
//! sandbox core reads, as it reads the pipes of a sandbox the host spawned.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bollard::container::{AttachContainerResults, LogOutput};
use bollard::models::{ContainerCreateBody, HostConfig, Mount, MountType, ResourcesUlimits};
use bollard::query_parameters::{
    AttachContainerOptionsBuilder, CreateContainerOptionsBuilder, RemoveContainerOptionsBuilder,
    WaitContainerOptionsBuilder,
};
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio::sync::oneshot;
use tokio_stream::{Stream, StreamExt};

use super::DockerClient;
use crate::cgroup::{CgroupDriver, RunCgroup};
use crate::error::StartError;
use crate::launch::in_container::{IN_CONTAINER, LAUNCHER_IN_IMAGE};
use crate::launch::spec::SANDBOX_ID;
use crate::sandbox::mux::{MuxEnds, MuxedSockets};
use crate::sandbox::process::{SandboxProcess, Started};

use super::owner::owner;
pub(crate) use super::owner::sweep;
pub use super::owner::{owned_by, CONTAINER_LABEL};

/// What one sandbox container gets.
#[derive(Clone, Debug)]
pub struct ContainerSpec {
    /// The sandbox image's reference.
    pub image: String,
    /// The OCI runtime (None: the engine's default).
    pub runtime: Option<String>,
    /// The launcher's spec (JSON), its argument.
    pub launch_spec: String,
    /// The OCI seccomp profile: its JSON, or (for Podman, whose Docker API reads the
    /// option as a path on its side) a file holding it.
    pub seccomp: String,
    pub memory_bytes: u64,
    /// Processes and threads of the whole container (the launcher's two included).
    pub pids_limit: u64,
    /// CPU time per second of wall time, where limited.
    pub cpu_ms_per_sec: Option<u64>,
    pub tmp_size_bytes: u64,
    pub max_open_files: u64,
    /// Host files bound read-only into the container (host path, container path): the
    /// runner's startup snapshot.
    pub read_only_files: Vec<(std::path::PathBuf, String)>,
    /// For Podman, which otherwise asks for an RLIMIT_NPROC above the hard limit it may set:
    /// this one (a per-uid backstop; the pids limit holds the run).
    pub nproc: Option<u64>,
}

/// RLIMIT_NPROC of a Podman container (at most the Podman service's own hard limit, which
/// its runtime may not raise): counted per host uid over every process and thread of
/// nobody, so it bounds all sandboxes together (about 300 at a dozen threads each).
const PODMAN_NPROC: u64 = 4096;

/// Processes of the launcher in every container, on top of the run's own.
pub const LAUNCHER_PROCESSES: u64 = 2;

impl ContainerSpec {
    /// The engine's create request.
    pub fn body(&self) -> ContainerCreateBody {
        let ulimit = |name: &str, v: u64| ResourcesUlimits {
            name: Some(name.into()),
            soft: Some(v as i64),
            hard: Some(v as i64),
        };
        let host_config = HostConfig {
            network_mode: Some("none".into()),
            readonly_rootfs: Some(true),
            tmpfs: Some(HashMap::from([(
                "/tmp".to_string(),
                format!(
                    "rw,noexec,nosuid,nodev,size={},mode=1777",
                    self.tmp_size_bytes
                ),
            )])),
            cap_drop: Some(vec!["ALL".into()]),
            security_opt: Some(vec![
                "no-new-privileges".into(),
                format!("seccomp={}", self.seccomp),
            ]),
            memory: Some(self.memory_bytes as i64),
            memory_swap: Some(self.memory_bytes as i64),
            pids_limit: Some(self.pids_limit as i64),
            nano_cpus: self.cpu_ms_per_sec.map(|ms| ms as i64 * 1_000_000),
            ulimits: Some(
                [
                    Some(ulimit("nofile", self.max_open_files)),
                    Some(ulimit("core", 0)),
                    Some(ulimit("fsize", self.tmp_size_bytes)),
                    self.nproc.map(|n| ulimit("nproc", n)),
                ]
                .into_iter()
                .flatten()
                .collect(),
            ),
            ipc_mode: Some("none".into()),
            // Removed by the host once it knows how the container ended (an OOM kill of
            // gVisor's Sentry ends the whole container); its first process ends when the host
            // closes stdin or dies, and a stopped container of a dead host is swept.
            auto_remove: Some(false),
            // Output goes to the attached host only, never to a log on the engine's disk.
            log_config: Some(bollard::models::HostConfigLogConfig {
                typ: Some("none".into()),
                config: None,
            }),
            runtime: self.runtime.clone(),
            mounts: Some(
                self.read_only_files
                    .iter()
                    .map(|(source, target)| Mount {
                        typ: Some(MountType::BIND),
                        source: Some(source.to_string_lossy().into_owned()),
                        target: Some(target.clone()),
                        read_only: Some(true),
                        ..Default::default()
                    })
                    .collect(),
            ),
            ..Default::default()
        };
        ContainerCreateBody {
            image: Some(self.image.clone()),
            entrypoint: Some(vec![LAUNCHER_IN_IMAGE.into()]),
            cmd: Some(vec![IN_CONTAINER.into(), self.launch_spec.clone()]),
            user: Some(format!("{SANDBOX_ID}:{SANDBOX_ID}")),
            env: Some(vec![]),
            working_dir: Some("/tmp".into()),
            hostname: Some("nodecell".into()),
            labels: Some(HashMap::from([(CONTAINER_LABEL.to_string(), owner())])),
            network_disabled: Some(true),
            tty: Some(false),
            attach_stdin: Some(true),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            open_stdin: Some(true),
            stdin_once: Some(true),
            host_config: Some(host_config),
            ..Default::default()
        }
    }
}

static NEXT: AtomicU64 = AtomicU64::new(0);

/// Creates, attaches and starts the container of `spec`; with `cgroups` (the engine runs on
/// this host) also finds the container's cgroup.
pub(crate) async fn start(
    client: DockerClient,
    spec: ContainerSpec,
    cgroups: Option<CgroupDriver>,
) -> Result<(Started, Option<RunCgroup>), StartError> {
    // A task of its own, counted until it ends: a caller that gives up (a client gone, a
    // deadline) must not leave a container the engine created but nobody knows of. What the
    // task started after its caller went is dropped there, which removes it.
    STARTING.fetch_add(1, Ordering::AcqRel);
    let (tx, rx) = oneshot::channel();
    tokio::spawn(async move {
        let started = start_now(client, spec, cgroups).await;
        // Nobody waits any more: dropped here, which has the container removed (counted),
        // before this start stops counting.
        drop(tx.send(started));
        STARTING.fetch_sub(1, Ordering::AcqRel);
        REMOVED.notify_waiters();
    });
    rx.await
        .map_err(|_| StartError::NotReady("the sandbox container's start was cancelled".into()))?
}

async fn start_now(
    client: DockerClient,
    mut spec: ContainerSpec,
    cgroups: Option<CgroupDriver>,
) -> Result<(Started, Option<RunCgroup>), StartError> {
    let t0 = Instant::now();
    // Podman reads the profile from the file when it creates the container: removed after.
    let mut profile = None;
    if client.is_podman() {
        spec.nproc = Some(PODMAN_NPROC);
        let file = ProfileFile::write(&spec.seccomp).map_err(|source| StartError::Prepare {
            what: "seccomp profile file",
            source,
        })?;
        spec.seccomp = file.0.to_string_lossy().into_owned();
        profile = Some(file);
    }
    let unavailable = |what: &str, e: bollard::errors::Error| {
        StartError::NotReady(format!("Docker Engine at {}: {what}: {e}", client.at()))
    };
    let docker = client.api();
    let name = format!(
        "nodecell-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let options = CreateContainerOptionsBuilder::default().name(&name).build();
    let id = docker
        .create_container(Some(options), spec.body())
        .await
        .map_err(|e| unavailable("creating the sandbox container", e))?
        .id;
    drop(profile);
    // From here on the container is removed if anything fails (the process does it).
    let mut process = ContainerProcess {
        client: client.clone(),
        id: id.clone(),
        close_stdin: None,
        exit: Arc::new(Mutex::new(Exit::default())),
        attached: Arc::new(std::sync::atomic::AtomicBool::new(true)),
        removed: false,
    };
    let attach = AttachContainerOptionsBuilder::default()
        .stream(true)
        .stdin(true)
        .stdout(true)
        .stderr(true)
        .logs(false)
        .build();
    let AttachContainerResults { output, input } = docker
        .attach_container(&id, Some(attach))
        .await
        .map_err(|e| unavailable("attaching to the sandbox container", e))?;
    let sockets = MuxedSockets::new()?;
    let (close_tx, close_rx) = oneshot::channel();
    process.close_stdin = Some(close_tx);
    tokio::spawn(feed(sockets.job, input, close_rx));
    let ends = sockets.ends;
    let exit = process.exit.clone();
    let (engine, container) = (client.clone(), id.clone());
    let attached = process.attached.clone();
    tokio::spawn(async move {
        let ends = demux(output, ends, &exit).await;
        attached.store(false, Ordering::Release);
        // Without the launcher's exit frame the container itself ended: the engine says
        // how (gVisor's Sentry OOM-killed) before the streams end for the host.
        if exit.lock().expect("exit lock").code.is_none() {
            if let Ok(c) = engine.api().inspect_container(&container, None).await {
                let state = c.state.unwrap_or_default();
                let mut exit = exit.lock().expect("exit lock");
                exit.oom_killed = state.oom_killed.unwrap_or(false);
                exit.code = state.exit_code.map(|c| c as i32);
            }
        }
        drop(ends);
    });
    docker
        .start_container(&id, None)
        .await
        .map_err(|e| unavailable("starting the sandbox container", e))?;
    let cgroup = match cgroups {
        Some(driver) => {
            let pid = docker
                .inspect_container(&id, None)
                .await
                .map_err(|e| unavailable("inspecting the sandbox container", e))?
                .state
                .and_then(|s| s.pid)
                .filter(|&p| p > 0);
            let found = pid.and_then(|p| driver.group_of_container(p as u32, &id));
            if found.is_none() {
                crate::warn_limited!(?pid, cgroup = ?pid.map(|p| std::fs::read_to_string(format!("/proc/{p}/cgroup"))), "no cgroup for the sandbox container");
            }
            found
        }
        None => None,
    };
    tracing::debug!(
        elapsed_ms = t0.elapsed().as_secs_f64() * 1e3,
        container = %name,
        "sandbox container started"
    );
    Ok((
        Started {
            process: Box::new(process),
            channel: sockets.channel,
            status: Some(Box::new(sockets.status)),
            started: t0,
        },
        cgroup,
    ))
}

/// The seccomp profile in a file of its own, for an engine that reads the option as a path
/// (Podman, on this host); removed on drop.
struct ProfileFile(std::path::PathBuf);

impl ProfileFile {
    fn write(json: &str) -> std::io::Result<ProfileFile> {
        let path = std::env::temp_dir().join(format!(
            "nodecell-seccomp-{}.json",
            crate::protocol::new_nonce()
        ));
        std::fs::write(&path, json)?;
        Ok(ProfileFile(path))
    }
}

impl Drop for ProfileFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Carries the job into the container's stdin, and keeps stdin open until `close` (or its
/// sender's drop): closing it ends the container.
async fn feed(
    mut job: UnixStream,
    mut input: Pin<Box<dyn AsyncWrite + Send>>,
    mut close: oneshot::Receiver<()>,
) {
    let copied = tokio::select! {
        _ = tokio::io::copy(&mut job, &mut input) => true,
        _ = &mut close => false,
    };
    if copied {
        let _ = close.await;
    }
    let _ = input.shutdown().await;
}

/// Takes the launcher's frames apart into the streams' sockets, and records the exit code.
/// Whatever the launcher itself writes on its stderr (before the sandbox exists) goes to the
/// sandbox's stderr.
async fn demux(
    mut output: Pin<Box<dyn Stream<Item = Result<LogOutput, bollard::errors::Error>> + Send>>,
    mut ends: MuxEnds,
    exit: &Mutex<Exit>,
) -> MuxEnds {
    while let Some(item) = output.next().await {
        match item {
            Ok(LogOutput::StdOut { message }) => {
                let pushed = ends.push(&message).await;
                if let Some(code) = ends.exit() {
                    exit.lock().expect("exit lock").code = Some(code);
                }
                if pushed.is_err() {
                    crate::warn_limited!("the sandbox container's frames are broken");
                    break;
                }
            }
            Ok(LogOutput::StdErr { message }) => ends.raw_stderr(&message).await,
            Ok(_) => continue,
            Err(_) => break,
        }
    }
    ends
}

/// How a container ended, as far as the host knows.
#[derive(Debug, Default)]
struct Exit {
    /// The launcher's exit code (its exit frame), else the container's.
    code: Option<i32>,
    /// The engine says the container was OOM-killed.
    oom_killed: bool,
}

/// The host's handle on a sandbox container.
struct ContainerProcess {
    client: DockerClient,
    id: String,
    /// Dropped to close the container's stdin, which ends it.
    close_stdin: Option<oneshot::Sender<()>>,
    exit: Arc<Mutex<Exit>>,
    /// Cleared when the attach stream ends (the container, or its engine, went away).
    attached: Arc<std::sync::atomic::AtomicBool>,
    removed: bool,
}

/// Removals asked for in the background (a sandbox dropped), and starts under way: a process
/// that exits waits for them with [`settle`].
static REMOVING: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
static STARTING: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
static REMOVED: tokio::sync::Notify = tokio::sync::Notify::const_new();

/// Waits (at most `limit`) until every container start of this process has ended and every
/// sandbox container it dropped has been removed by its engine: before the process exits,
/// or its containers outlive it (stopped, until the next nodecell's sweep).
pub async fn settle(limit: std::time::Duration) {
    let _ = tokio::time::timeout(limit, async {
        loop {
            let removed = REMOVED.notified();
            if REMOVING.load(Ordering::Acquire) == 0 && STARTING.load(Ordering::Acquire) == 0 {
                return;
            }
            removed.await;
        }
    })
    .await;
}

impl ContainerProcess {
    /// Has the engine remove the container now, whatever runs in it.
    fn force_remove(&self) {
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            let (client, id) = (self.client.clone(), self.id.clone());
            REMOVING.fetch_add(1, Ordering::AcqRel);
            rt.spawn(async move {
                let options = RemoveContainerOptionsBuilder::default()
                    .force(true)
                    .v(true)
                    .build();
                let _ = client.api().remove_container(&id, Some(options)).await;
                REMOVING.fetch_sub(1, Ordering::AcqRel);
                REMOVED.notify_waiters();
            });
        }
    }
}

impl SandboxProcess for ContainerProcess {
    fn pid(&self) -> Option<u32> {
        None
    }

    fn stop(&mut self) {
        self.close_stdin.take();
    }

    fn oom_killed(&self) -> bool {
        self.exit.lock().expect("exit lock").oom_killed
    }

    fn alive(&self) -> bool {
        self.attached.load(Ordering::Acquire)
    }

    fn kill(&mut self) {
        self.close_stdin.take();
        if !self.removed {
            self.force_remove();
        }
    }

    fn wait(&mut self) -> Pin<Box<dyn Future<Output = std::io::Result<Option<i32>>> + Send + '_>> {
        Box::pin(async move {
            // The run is over whenever the host waits: its end is asked for first.
            self.close_stdin.take();
            let api = self.client.api();
            let options = WaitContainerOptionsBuilder::default()
                .condition("not-running")
                .build();
            let code = match api.wait_container(&self.id, Some(options)).next().await {
                Some(Ok(r)) => Some(r.status_code as i32),
                Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => {
                    Some(code as i32)
                }
                // Already removed.
                Some(Err(bollard::errors::Error::DockerResponseServerError {
                    status_code: 404,
                    ..
                }))
                | None => None,
                Some(Err(e)) => return Err(std::io::Error::other(e)),
            };
            let options = RemoveContainerOptionsBuilder::default().v(true).build();
            match api.remove_container(&self.id, Some(options)).await {
                Ok(())
                | Err(bollard::errors::Error::DockerResponseServerError {
                    status_code: 404, ..
                }) => self.removed = true,
                Err(e) => return Err(std::io::Error::other(e)),
            }
            Ok(self.exit.lock().expect("exit lock").code.or(code))
        })
    }
}

impl Drop for ContainerProcess {
    fn drop(&mut self) {
        if !self.removed {
            self.close_stdin.take();
            self.force_remove();
        }
    }
}
