//! Zygotes, from the host's side: one pre-booted Node per launch spec (backend native with
//! `[backends.native] zygote`), started by nodecell-launcher in a base sandbox and asked for
//! one child per sandbox (`child.rs`; the zygote's side is `crate::launch::zygote`).
//!
//! A zygote serves at most `zygote_max_forks` children or `zygote_max_age_ms`; then a fresh
//! one takes over. The old one stays until its last child is gone (each child holds it):
//! its children are processes of its pid namespace and die with it. A zygote that stops
//! answering is replaced at the next request.
//!
//! The zygote path is backend native's default; where it does not work (no addon, a
//! zygote that cannot start, or children that cannot), the engine falls back to the boot
//! path and says why ([`Zygotes::fallback`]): a zygote's first sandbox that fails to start
//! is tried again on the boot path, and the zygote path is tried again after
//! [`FALLBACK_RETRY`].

mod child;

use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};
use tokio::io::AsyncWriteExt;
use tokio::net::unix::pipe;
use tokio::process::{Child, Command};

use crate::cgroup::{CgroupPlan, RunCgroup};
use crate::config::EngineConfig;
use crate::error::StartError;
use crate::launch::spec::{LaunchSpec, EVENT_FD, SPEC_FD, STATUS_FD};
use crate::launch::zygote::CONTROL_FD;
use crate::sandbox::channel::{ready_frame, ReadHalf};

pub(crate) use child::{fork, ForkError};

/// A zygote's own cgroup: its memory (Node with every module loaded, and what its children
/// dirty before they join their run's cgroup) and its processes (its fork server, and each
/// child until it joins its run's cgroup). It never runs user code: these bound a fault of
/// nodecell's, not a user's.
pub(crate) const ZYGOTE_MEMORY_BYTES: u64 = 512 << 20;
pub(crate) const ZYGOTE_PROCESSES: u64 = 4096;

/// One zygote: its launcher (killed on drop, which ends its pid namespace), its cgroup
/// (removed after the launcher is killed) and the host's end of its control socket.
pub(crate) struct Zygote {
    launcher: std::sync::Mutex<Child>,
    /// Where the host has cgroups; declared after `launcher`, so dropped after it.
    _cgroup: Option<RunCgroup>,
    control: OwnedFd,
    born: Instant,
    forks: AtomicU64,
    broken: AtomicBool,
    max_forks: u64,
    max_age: Duration,
}

impl Zygote {
    /// Whether its launcher still runs (it exits once the zygote's Node has).
    fn running(&self) -> bool {
        self.launcher
            .lock()
            .map(|mut l| matches!(l.try_wait(), Ok(None)))
            .unwrap_or(false)
    }

    /// Whether new children may still come from it.
    fn serves(&self) -> bool {
        self.running()
            && !self.broken.load(Ordering::Relaxed)
            && self.forks.load(Ordering::Relaxed) < self.max_forks
            && self.born.elapsed() < self.max_age
    }
}

/// How long the boot path serves after the zygote path failed before it is tried again.
pub(crate) const FALLBACK_RETRY: Duration = Duration::from_secs(60);

/// An engine's serving zygote of each launch spec (keyed by the spec's JSON), and whether
/// the zygote path works on this host.
#[derive(Clone, Default)]
pub(crate) struct Zygotes {
    serving: Arc<tokio::sync::Mutex<HashMap<String, Arc<Zygote>>>>,
    path: Arc<std::sync::Mutex<PathState>>,
}

/// What the engine has seen of the zygote path.
#[derive(Default)]
struct PathState {
    /// A sandbox forked from a zygote started (its report read and its runner ready).
    proven: bool,
    /// Why the boot path serves instead, and since when.
    fallback: Option<(String, Instant)>,
}

impl Zygotes {
    /// Whether the next sandbox is forked from a zygote: no failure of the zygote path
    /// younger than [`FALLBACK_RETRY`].
    pub(crate) fn in_use(&self) -> bool {
        let path = self.path.lock().unwrap_or_else(|e| e.into_inner());
        match &path.fallback {
            Some((_, since)) => since.elapsed() >= FALLBACK_RETRY,
            None => true,
        }
    }

    /// Why the boot path serves instead of the zygote path, while it does.
    pub(crate) fn fallback(&self) -> Option<String> {
        let path = self.path.lock().unwrap_or_else(|e| e.into_inner());
        path.fallback.as_ref().map(|(why, _)| why.clone())
    }

    /// Whether the zygote path has started a sandbox yet.
    pub(crate) fn proven(&self) -> bool {
        self.path.lock().unwrap_or_else(|e| e.into_inner()).proven
    }

    /// A sandbox forked from a zygote started.
    pub(crate) fn started(&self) {
        let mut path = self.path.lock().unwrap_or_else(|e| e.into_inner());
        path.proven = true;
        path.fallback = None;
    }

    /// A sandbox planned on the zygote path failed to start with `error`: whether the boot
    /// path takes over (and the start is tried again on it). It does when the zygote itself
    /// could not start, or when no sandbox forked from a zygote ever started here.
    pub(crate) fn failed(&self, error: &StartError) -> bool {
        let mut path = self.path.lock().unwrap_or_else(|e| e.into_inner());
        if path.proven && !matches!(error, StartError::Zygote(_)) {
            return false;
        }
        tracing::warn!(error = %error, "backend native falls back to its boot path");
        path.fallback = Some((error.to_string(), Instant::now()));
        true
    }

    /// Lets go of every serving zygote: each ends (its launcher killed, its cgroup removed)
    /// with its last child.
    pub(crate) async fn stop(&self) {
        let stopped: Vec<Arc<Zygote>> = self.serving.lock().await.drain().map(|(_, z)| z).collect();
        // Dropped off the async workers: removing a cgroup waits for its processes to end.
        let _ = tokio::task::spawn_blocking(move || drop(stopped)).await;
    }

    /// The zygote for `spec`: the serving one, or a fresh one started now.
    pub(crate) async fn get(
        &self,
        config: &EngineConfig,
        spec: &LaunchSpec,
        cgroup: Option<&CgroupPlan>,
    ) -> Result<Arc<Zygote>, StartError> {
        let key = serde_json::to_string(spec).map_err(|e| StartError::Spawn(e.into()))?;
        let mut zygotes = self.serving.lock().await;
        if let Some(z) = zygotes.get(&key) {
            if z.serves() {
                return Ok(z.clone());
            }
        }
        zygotes.remove(&key);
        let z = Arc::new(start(config, spec, cgroup).await.map_err(|e| match e {
            e @ StartError::Zygote(_) => e,
            e => StartError::Zygote(e.to_string()),
        })?);
        zygotes.insert(key, z.clone());
        Ok(z)
    }
}

/// Starts a zygote: the launcher with `spec`, fd 3 the control socket; ready once the
/// launcher reported what it applied and the zygote's Node said "ready" on fd 4, and its
/// processes are in a cgroup of their own made from `cgroup`.
async fn start(
    config: &EngineConfig,
    spec: &LaunchSpec,
    cgroup: Option<&CgroupPlan>,
) -> Result<Zygote, StartError> {
    let spawn = |e: std::io::Error| StartError::Spawn(e);
    let addon = config.zygote_addon_path();
    if let Err(e) = std::fs::metadata(&addon) {
        return Err(StartError::Zygote(format!(
            "its addon {}: {e} (built by `cargo build --release -p nodecell-zygote`)",
            addon.display()
        )));
    }
    let (control, zygote_end) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .map_err(|e| spawn(e.into()))?;
    let pipe_pair =
        || nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| spawn(e.into()));
    let (ev_r, ev_w) = pipe_pair()?;
    let (st_r, st_w) = pipe_pair()?;
    let (err_r, err_w) = pipe_pair()?;
    let (spec_r, spec_w) = pipe_pair()?;
    let mut cmd = Command::new(&config.launcher_path);
    cmd.args(super::launcher::args(true))
        .env_clear()
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::from(err_w))
        .kill_on_drop(true);
    use std::os::fd::AsRawFd;
    let fds = vec![
        (zygote_end.as_raw_fd(), CONTROL_FD),
        (ev_w.as_raw_fd(), EVENT_FD),
        (st_w.as_raw_fd(), STATUS_FD),
        (spec_r.as_raw_fd(), SPEC_FD),
    ];
    crate::sys::die_with_parent(&mut cmd);
    crate::sys::inherit_fds(&mut cmd, fds);
    let launcher = cmd.spawn().map_err(spawn)?;
    drop((cmd, zygote_end, ev_w, st_w, spec_r));
    let mut spec_pipe = pipe::Sender::from_owned_fd(spec_w).map_err(spawn)?;
    let text = serde_json::to_vec(spec).map_err(|e| spawn(e.into()))?;
    // A launcher that went away says why on its status fd, read next.
    let _ = spec_pipe.write_all(&text).await;
    drop(spec_pipe);
    let receiver = |fd| -> Result<Box<dyn ReadHalf>, StartError> {
        Ok(Box::new(pipe::Receiver::from_owned_fd(fd).map_err(spawn)?))
    };
    let (mut status, mut events, mut stderr) = (receiver(st_r)?, receiver(ev_r)?, receiver(err_r)?);
    let ready = async {
        crate::sandbox::confirm::launcher_report(&mut status).await?;
        ready_frame(&mut events, &mut stderr).await
    };
    let timeout = Duration::from_millis(config.startup_timeout_ms);
    match tokio::time::timeout(timeout, ready).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(StartError::Zygote(e.to_string())),
        Err(_) => return Err(StartError::StartupTimeout(config.startup_timeout_ms)),
    }
    tracing::debug!(launcher = launcher.id(), "zygote ready");
    let cgroup = match (cgroup, launcher.id()) {
        (Some(plan), Some(pid)) => Some(own_cgroup(plan.clone(), pid as i32).await?),
        _ => None,
    };
    let native = &config.backends.native;
    Ok(Zygote {
        launcher: std::sync::Mutex::new(launcher),
        _cgroup: cgroup,
        control,
        born: Instant::now(),
        forks: AtomicU64::new(0),
        broken: AtomicBool::new(false),
        max_forks: native.zygote_max_forks.max(1),
        max_age: Duration::from_millis(native.zygote_max_age_ms.max(1)),
    })
}

/// Moves the zygote's processes (its launcher, the sandbox's init, its Node) into a cgroup
/// of their own. Done once it is ready: it forks nothing before it is asked to.
async fn own_cgroup(plan: CgroupPlan, launcher: i32) -> Result<RunCgroup, StartError> {
    tokio::task::spawn_blocking(move || {
        let cg = plan.make_for_zygote()?;
        for f in cg.procs_files() {
            for pid in crate::procfs::tree(launcher) {
                std::fs::write(&f, pid.to_string()).map_err(|e| {
                    StartError::Zygote(format!("moving it into {}: {e}", f.display()))
                })?;
            }
        }
        Ok(cg)
    })
    .await
    .map_err(|e| StartError::Zygote(format!("moving it into its cgroup: {e}")))?
}
