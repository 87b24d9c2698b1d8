//! One sandbox, seen from the host: started ahead of its job, given exactly one job, then
//! destroyed. Every figure in the outcome is measured here, never taken from the sandbox.

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::unix::pipe;
use tokio::process::{Child, ChildStderr, ChildStdout, Command};
use tokio::sync::mpsc;

use crate::cgroup::{CgroupPlan, RunCgroup};
use crate::error::StartError;
use crate::landlock_backend::ScratchDir;
use crate::launch::spec::{
    LaunchMessage, LaunchReport, EVENT_FD, JOB_FD, SPEC_FD, STATUS_FD, WITHOUT_NAMESPACES,
    WITH_NAMESPACES,
};
use crate::limits::Limits;
use crate::outcome::{ErrorInfo, LogEntry, Outcome, Status, Usage};
use crate::procfs;
use crate::protocol::{self, FrameError, Job, RunnerEvent, RunnerResult};

/// How often the watchdog samples a sandbox that has no cgroup.
const WATCHDOG_PERIOD: Duration = Duration::from_millis(10);

/// Output of a run as it happens (for streaming transports).
#[derive(Clone, Debug, PartialEq)]
pub enum LiveEvent {
    Log(LogEntry),
    Stdout(String),
    Stderr(String),
}

/// Teardowns still running in the background (see [`Sandbox::set_cleanups`]).
#[derive(Debug, Default)]
pub struct Cleanups {
    pending: AtomicUsize,
    idle: tokio::sync::Notify,
}

impl Cleanups {
    /// Waits until every tracked teardown has finished.
    pub async fn wait_idle(&self) {
        loop {
            let idle = self.idle.notified();
            if self.pending.load(Ordering::Acquire) == 0 {
                return;
            }
            idle.await;
        }
    }
}

/// A started sandbox: Node is up, the runner has loaded its modules and waits for its job.
pub struct Sandbox {
    child: Child,
    /// Taken when the job is sent.
    job: Option<pipe::Sender>,
    /// Taken by the event reader when the job is sent.
    events: Option<pipe::Receiver>,
    stdout: ChildStdout,
    stderr: ChildStderr,
    cgroup: Option<RunCgroup>,
    /// Where the job's limits are set, if not on `cgroup` (nsjail's own group for Node).
    limit_group: Option<RunCgroup>,
    /// Host pid of Node.
    node_pid: i32,
    /// The run's private directory (landlock backend), removed with the sandbox.
    scratch: Option<ScratchDir>,
    /// Set by a pool: teardown after a result may finish in the background, tracked here.
    cleanups: Option<Arc<Cleanups>>,
    backend: String,
    report: LaunchReport,
    startup: Duration,
}

/// How a backend builds its sandbox's process tree.
pub(crate) struct Spawn {
    /// nodecell-launcher or nsjail.
    pub program: PathBuf,
    pub args: Vec<String>,
    /// What the program reads on fd 6.
    pub input: ProgramInput,
    pub supervisor: Supervisor,
    pub accounting: Accounting,
    pub scratch: Option<ScratchDir>,
}

/// What a sandbox's program reads on fd 6.
pub(crate) enum ProgramInput {
    /// The launcher's spec (JSON), written into a pipe once the launcher runs.
    Spec(Vec<u8>),
    /// nsjail's configuration, in a file (a memfd).
    Config(OwnedFd),
}

/// Who reports what was applied.
pub(crate) enum Supervisor {
    /// nodecell-launcher: its report arrives on the status fd, which closes when Node is
    /// exec'd `node_depth` generations below it.
    Launcher { node_depth: usize },
    /// nsjail: its log (errors only) arrives on the status fd; Node is its child, and what
    /// is in force is read by the host from /proc and checked against `expected`.
    Nsjail { expected: LaunchReport },
}

/// Where the run's memory, processes and CPU time are counted and limited.
pub(crate) enum Accounting {
    /// nodecell's own cgroup, made right after the launcher is spawned (making it overlaps
    /// the launcher's work); the host moves Node into it while Node boots.
    Cgroup(CgroupPlan),
    /// nodecell's group in nsjail's parent, which nsjail creates Node's group
    /// (`NSJAIL.<node pid>`) in: usage and OOM kills are read from it (they are hierarchical,
    /// and outlive nsjail's group), job limits set on nsjail's.
    NsjailCgroup(RunCgroup),
    /// No cgroup: /proc figures, RLIMIT_DATA set per job, and the host's watchdog.
    Proc,
}

/// [`Accounting`] once the sandbox's process exists: every group made.
enum Made {
    Cgroup(RunCgroup),
    NsjailCgroup(RunCgroup),
    Proc,
}

fn pipe_pair() -> Result<(OwnedFd, OwnedFd), StartError> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| StartError::Spawn(e.into()))
}

/// Reads everything until EOF (bounded by the caller's timeout).
async fn read_to_end_capped<R: AsyncRead + Unpin>(r: &mut R, cap: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = r.read(&mut buf).await {
        if n == 0 || out.len() > cap {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    out
}

/// The launcher's report, read until EOF (which comes once Node has been exec'd).
async fn launcher_report(status: &mut pipe::Receiver) -> Result<LaunchReport, StartError> {
    let lines = read_to_end_capped(status, 1 << 20).await;
    let mut report = None;
    for line in lines.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        match serde_json::from_slice::<LaunchMessage>(line) {
            Ok(LaunchMessage::Failed { step, message }) => {
                return Err(StartError::Setup { step, message })
            }
            Ok(LaunchMessage::Enforced(r)) => report = Some(r),
            Err(e) => {
                return Err(StartError::NotReady(format!(
                    "unreadable launcher status: {e}"
                )))
            }
        }
    }
    report.ok_or_else(|| StartError::NotReady("the launcher exited without a report".into()))
}

/// The runner's ready frame (with its stderr as the explanation if something else comes).
async fn ready_frame(
    events: &mut pipe::Receiver,
    stderr: &mut ChildStderr,
) -> Result<(), StartError> {
    match protocol::read_event(events, 4096).await {
        Ok(Some(RunnerEvent::Ready)) => Ok(()),
        Ok(other) => {
            let err = read_to_end_capped(stderr, 4096).await;
            Err(StartError::NotReady(format!(
                "expected the runner's ready frame, got {other:?}; stderr: {}",
                String::from_utf8_lossy(&err).trim()
            )))
        }
        Err(e) => Err(StartError::NotReady(format!("runner channel: {e}"))),
    }
}

/// Reads what is buffered in a (non-blocking) pipe right now, without waiting; `keep` returns
/// false once the output budget is exceeded, which stops the read and is returned.
fn drain_buffered(
    pipe: &impl std::os::fd::AsFd,
    buf: &mut [u8],
    mut keep: impl FnMut(&[u8]) -> bool,
) -> bool {
    loop {
        match nix::unistd::read(pipe.as_fd(), buf) {
            Ok(0) => return true,
            Ok(n) => {
                if !keep(&buf[..n]) {
                    return false;
                }
            }
            Err(nix::errno::Errno::EINTR) => continue,
            // EAGAIN: nothing more is buffered; anything else: nothing more can be read.
            Err(_) => return true,
        }
    }
}

/// Why nsjail did not start the sandbox: its own log (on the status fd) once it has exited.
async fn nsjail_failure(
    e: StartError,
    child: &mut Child,
    status: &mut pipe::Receiver,
) -> StartError {
    let _ = child.start_kill();
    let log = tokio::time::timeout(Duration::from_secs(2), async {
        let _ = child.wait().await;
        read_to_end_capped(status, 1 << 16).await
    })
    .await
    .unwrap_or_default();
    let log = String::from_utf8_lossy(&log).trim().to_string();
    if log.is_empty() {
        e
    } else {
        StartError::Setup {
            step: "nsjail".into(),
            message: format!("{log} ({e})"),
        }
    }
}

/// What is in force for Node (host pid `node`), read from /proc, checked against what nsjail
/// was configured to apply: a sandbox that lacks any of it is not used.
fn verify_from_proc(node: i32, expected: &LaunchReport) -> Result<LaunchReport, StartError> {
    let field = |k: &str| procfs::status_field(node, k).unwrap_or_default();
    let first_id = |k: &str| {
        field(k)
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(u32::MAX)
    };
    let caps_empty = ["CapEff", "CapPrm", "CapInh", "CapBnd", "CapAmb"]
        .iter()
        .all(|k| field(k).trim_start_matches('0').is_empty());
    let seen = LaunchReport {
        namespaces: procfs::own_namespaces(node),
        rootfs: expected.rootfs,
        landlock: "off".into(),
        landlock_abi: expected.landlock_abi,
        seccomp: field("Seccomp") == "2",
        no_new_privs: field("NoNewPrivs") == "1",
        capabilities_dropped: caps_empty,
        uid: first_id("Uid"),
        gid: first_id("Gid"),
    };
    let mut missing = Vec::new();
    for ns in &expected.namespaces {
        if !seen.namespaces.contains(ns) {
            missing.push(format!("{ns} namespace"));
        }
    }
    for (want, got, what) in [
        (expected.seccomp, seen.seccomp, "seccomp filter"),
        (expected.no_new_privs, seen.no_new_privs, "no_new_privs"),
        (
            expected.capabilities_dropped,
            seen.capabilities_dropped,
            "empty capability sets",
        ),
    ] {
        if want && !got {
            missing.push(what.into());
        }
    }
    if seen.uid != expected.uid || seen.gid != expected.gid {
        missing.push(format!(
            "uid/gid {}/{} (found {}/{})",
            expected.uid, expected.gid, seen.uid, seen.gid
        ));
    }
    if !missing.is_empty() {
        return Err(StartError::Setup {
            step: "verify_nsjail".into(),
            message: format!("Node runs without: {}", missing.join(", ")),
        });
    }
    Ok(seen)
}

/// A started launcher or nsjail with the pipes of its sandbox.
pub(crate) struct Launched {
    program: PathBuf,
    args: Vec<String>,
    child: Child,
    stdout: ChildStdout,
    stderr: ChildStderr,
    job: pipe::Sender,
    events: pipe::Receiver,
    status: pipe::Receiver,
    /// The launcher's spec pipe (fd 6), until the spec is written.
    spec: Option<pipe::Sender>,
    started: Instant,
}

impl Launched {
    /// Starts `program args` with the sandbox's fds: 3 (job), 4 (events), 5 (status) and 6:
    /// `config` (nsjail's configuration, and nsjail gets a `/run` of its own: see
    /// [`crate::sys::own_run_dir`]) or else the read end of a pipe for the spec.
    fn spawn(
        program: &Path,
        args: &[String],
        config: Option<OwnedFd>,
    ) -> Result<Launched, StartError> {
        let started = Instant::now();
        let (job_r, job_w) = pipe_pair()?;
        let (ev_r, ev_w) = pipe_pair()?;
        let (st_r, st_w) = pipe_pair()?;
        let (six, spec_w) = match config {
            Some(fd) => (fd, None),
            None => {
                let (r, w) = pipe_pair()?;
                (r, Some(w))
            }
        };
        let mut cmd = Command::new(program);
        cmd.args(args)
            .env_clear()
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let fds = vec![
            (job_r.as_raw_fd(), JOB_FD),
            (ev_w.as_raw_fd(), EVENT_FD),
            (st_w.as_raw_fd(), STATUS_FD),
            (six.as_raw_fd(), SPEC_FD),
        ];
        if spec_w.is_none() {
            crate::sys::own_run_dir(&mut cmd);
        }
        crate::sys::inherit_fds(&mut cmd, fds);
        let mut child = cmd.spawn().map_err(StartError::Spawn)?;
        drop((job_r, ev_w, st_w, six));
        let sender = |fd| pipe::Sender::from_owned_fd(fd).map_err(StartError::Spawn);
        let receiver = |fd| pipe::Receiver::from_owned_fd(fd).map_err(StartError::Spawn);
        Ok(Launched {
            program: program.to_path_buf(),
            args: args.to_vec(),
            stdout: child.stdout.take().expect("stdout is piped"),
            stderr: child.stderr.take().expect("stderr is piped"),
            child,
            job: sender(job_w)?,
            events: receiver(ev_r)?,
            status: receiver(st_r)?,
            spec: spec_w.map(sender).transpose()?,
            started,
        })
    }
}

/// A launcher started before its sandbox's spec is known, so that it creates the sandbox's
/// namespaces while the host is still working the spec out (`nodecell run` starts one before
/// it discovers the host). Used by [`crate::Engine::run_prelaunched`] when the request's
/// backend turns out to be the one it was started for; dropped (killed) otherwise.
pub struct Prelaunch(Launched);

impl Prelaunch {
    /// Starts the launcher of `backend` (none for nsjail, which is not a launcher). Must be
    /// called on the runtime thread that later awaits the run: the launcher's parent-death
    /// signal follows that thread.
    pub fn launcher(
        config: &crate::EngineConfig,
        backend: crate::Backend,
    ) -> Result<Option<Prelaunch>, StartError> {
        let arg = match backend {
            crate::Backend::Native => WITH_NAMESPACES,
            crate::Backend::Landlock => WITHOUT_NAMESPACES,
            crate::Backend::Nsjail => return Ok(None),
        };
        Launched::spawn(&config.launcher_path, &[arg.to_string()], None).map(|l| Some(Prelaunch(l)))
    }

    /// Host pid of the launcher.
    pub fn pid(&self) -> Option<u32> {
        self.0.child.id()
    }
}

impl Sandbox {
    /// Spawns the sandbox (or takes `prelaunch`, if it was started for the same program and
    /// arguments) and waits until the runner says it is ready.
    pub(crate) async fn start(
        spawn: Spawn,
        backend: &str,
        startup_timeout_ms: u64,
        prelaunch: Option<Prelaunch>,
    ) -> Result<Sandbox, StartError> {
        let (config, spec) = match spawn.input {
            ProgramInput::Config(fd) => (Some(fd), None),
            ProgramInput::Spec(bytes) => (None, Some(bytes)),
        };
        let launched = match prelaunch {
            Some(Prelaunch(l))
                if spec.is_some() && l.program == spawn.program && l.args == spawn.args =>
            {
                l
            }
            _ => Launched::spawn(&spawn.program, &spawn.args, config)?,
        };
        let Launched {
            mut child,
            stdout,
            mut stderr,
            job,
            mut events,
            mut status,
            spec: spec_pipe,
            started: t0,
            ..
        } = launched;
        if let (Some(bytes), Some(mut pipe)) = (spec, spec_pipe) {
            // A launcher that went away already says why on its status fd, read below.
            let _ = pipe.write_all(&bytes).await;
        }
        let root_pid = child.id().map_or(0, |p| p as i32);

        // Node joins the run's cgroups while it boots: on cgroup v1 a task migration waits for
        // an RCU grace period (~10 ms), which this takes off the critical path. The job is
        // sent only after the move is complete, so every byte and process of user code is
        // accounted for; what Node allocated while booting stays charged to the parent
        // (cgroup v1 does not move charges).
        // The run's own cgroup is made now, while the launcher sets the sandbox up (the
        // launcher is killed on drop if that fails).
        let accounting = match spawn.accounting {
            Accounting::Cgroup(plan) => Made::Cgroup(plan.make()?),
            Accounting::NsjailCgroup(cg) => Made::NsjailCgroup(cg),
            Accounting::Proc => Made::Proc,
        };
        let supervisor = spawn.supervisor;
        let startup = async {
            let (report, node_depth) = match &supervisor {
                Supervisor::Launcher { node_depth } => {
                    let report = launcher_report(&mut status).await?;
                    tracing::debug!(
                        elapsed_ms = t0.elapsed().as_secs_f64() * 1e3,
                        "node exec'd in the sandbox"
                    );
                    (Some(report), *node_depth)
                }
                Supervisor::Nsjail { .. } => (None, 1),
            };
            let procs = match &accounting {
                Made::Cgroup(cg) => cg.procs_files(),
                _ => Vec::new(),
            };
            let find_node = || {
                procfs::descendant(root_pid, node_depth).ok_or_else(|| {
                    StartError::NotReady("Node is not running in the sandbox".into())
                })
            };
            if procs.is_empty() {
                ready_frame(&mut events, &mut stderr).await?;
                return Ok((report, find_node()?));
            }
            let node = find_node()?;
            let join = tokio::task::spawn_blocking(move || -> std::io::Result<()> {
                for f in procs {
                    std::fs::write(f, node.to_string())?;
                }
                Ok(())
            });
            let (ready, joined) = tokio::join!(ready_frame(&mut events, &mut stderr), join);
            joined
                .map_err(|e| StartError::NotReady(format!("joining the cgroup: {e}")))?
                .map_err(|e| {
                    StartError::NotReady(format!("moving Node into the run's cgroup: {e}"))
                })?;
            ready.map(|()| (report, node))
        };
        let (report, node_pid) =
            match tokio::time::timeout(Duration::from_millis(startup_timeout_ms), startup).await {
                Ok(Ok(r)) => r,
                Ok(Err(e)) => {
                    if let Supervisor::Nsjail { .. } = supervisor {
                        return Err(nsjail_failure(e, &mut child, &mut status).await);
                    }
                    return Err(e);
                }
                Err(_) => return Err(StartError::StartupTimeout(startup_timeout_ms)),
            };
        let report = match (report, &supervisor) {
            (Some(r), _) => r,
            (None, Supervisor::Nsjail { expected }) => verify_from_proc(node_pid, expected)?,
            (None, Supervisor::Launcher { .. }) => unreachable!("the launcher reported"),
        };
        let (cgroup, limit_group) = match accounting {
            Made::Cgroup(cg) => (Some(cg), None),
            Made::NsjailCgroup(cg) => {
                let node_group = cg.attach_child(crate::nsjail::cgroup_name(node_pid));
                (Some(cg), Some(node_group))
            }
            Made::Proc => (None, None),
        };
        tracing::debug!(
            elapsed_ms = t0.elapsed().as_secs_f64() * 1e3,
            "runner ready"
        );
        Ok(Sandbox {
            child,
            job: Some(job),
            events: Some(events),
            stdout,
            stderr,
            cgroup,
            limit_group,
            node_pid,
            scratch: spawn.scratch,
            cleanups: None,
            backend: backend.to_string(),
            report,
            startup: t0.elapsed(),
        })
    }

    /// After a result, let the teardown (launcher exit, cgroup removal) finish in the
    /// background, tracked by `cleanups`, instead of before the outcome is returned.
    pub fn set_cleanups(&mut self, cleanups: Arc<Cleanups>) {
        self.cleanups = Some(cleanups);
    }

    /// What the launcher reported it applied.
    pub fn launch_report(&self) -> &LaunchReport {
        &self.report
    }

    /// Time from spawn to the runner's ready frame.
    pub fn startup_time(&self) -> Duration {
        self.startup
    }

    /// The directories of this sandbox's cgroups (empty without cgroups).
    pub fn cgroup_dirs(&self) -> Vec<std::path::PathBuf> {
        self.cgroup
            .as_ref()
            .map(RunCgroup::dirs)
            .unwrap_or_default()
    }

    /// Host pid of the launcher (the root of the sandbox's process tree on the host).
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Asks the launcher to stop the sandbox: it SIGKILLs the sandbox's init and exits once
    /// the kernel has emptied the pid namespace. (SIGKILL to the launcher itself, the
    /// fallback in [`Sandbox::finish`] and on drop, also works, through init's parent-death
    /// signal, but without waiting for the namespace to empty.)
    fn stop(&mut self) {
        if let Some(pid) = self.child.id() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
    }

    /// Destroys a sandbox that will not get a job, and waits until nothing of it is left.
    pub async fn discard(mut self) {
        self.stop();
        if tokio::time::timeout(Duration::from_secs(5), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.start_kill();
            let _ = self.child.wait().await;
        }
        if let Some(cg) = self.cgroup.take() {
            let _ = tokio::task::spawn_blocking(move || cg.remove()).await;
        }
        self.scratch.take();
    }

    /// Runs the one job and destroys the sandbox. Never fails: whatever happens inside
    /// becomes an outcome.
    pub async fn execute(
        mut self,
        code: &str,
        inputs: &serde_json::Map<String, serde_json::Value>,
        limits: &Limits,
        live: Option<mpsc::UnboundedSender<LiveEvent>>,
    ) -> Outcome {
        let mut out = Output::new(limits.max_output_bytes, live);
        // The limits of this job (a warm sandbox was started before they were known).
        let baseline = match self.apply_job_limits(limits) {
            Ok(b) => b,
            Err(e) => {
                self.stop();
                let usage = Usage::default();
                return self.finish(End::HostFailure(e), out, limits, usage).await;
            }
        };
        let cpu0 = self.cpu_ns();
        let mut peak_seen = 0u64;
        let mut watch = tokio::time::interval(WATCHDOG_PERIOD);
        watch.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let t0 = Instant::now();
        let deadline = tokio::time::sleep(Duration::from_millis(limits.timeout_ms));
        tokio::pin!(deadline);

        let nonce = protocol::new_nonce();
        let mut ignored = 0u32;
        let job = Job {
            nonce: &nonce,
            code,
            inputs,
            max_result_bytes: limits.max_result_bytes,
            max_output_bytes: limits.max_output_bytes,
        };
        let (Some(mut job_pipe), Some(events)) = (self.job.take(), self.events.take()) else {
            unreachable!("execute consumes the sandbox, so its pipes are still there");
        };
        let end = tokio::select! {
            _ = &mut deadline => Some(End::Timeout),
            r = protocol::write_job(&mut job_pipe, &job) => match r {
                Ok(()) => None,
                Err(e) => Some(End::RunnerGone(format!("delivering the job: {e}"))),
            },
        };
        drop(job_pipe);

        // Events are read by a task of their own: reading a frame is not cancel-safe.
        let frame_cap = (limits.max_output_bytes.max(limits.max_result_bytes) + 1) * 6 + 4096;
        let (tx, mut rx) = mpsc::channel(64);
        let reader = tokio::spawn(read_events(events, frame_cap, nonce, tx));

        let mut obuf = vec![0u8; 16384];
        let mut ebuf = vec![0u8; 16384];
        let (mut stdout_open, mut stderr_open) = (true, true);
        let end = match end {
            Some(e) => e,
            None => loop {
                tokio::select! {
                    _ = &mut deadline => break End::Timeout,
                    ev = rx.recv() => match ev {
                        Some(Read::Log(entry)) => {
                            if !out.log(entry) {
                                break End::OutputLimit;
                            }
                        }
                        Some(Read::Result(r)) => break End::Result(r),
                        // Frames the host cannot accept (a result without this run's nonce,
                        // anything off-schema) can only come from the user's code writing to
                        // fd 4: ignored, but their bytes count against the output budget.
                        Some(Read::Ignored(len)) => {
                            ignored += 1;
                            if !out.charge(len) {
                                break End::OutputLimit;
                            }
                        }
                        Some(Read::Closed) | None => break End::RunnerGone("the runner closed its channel without a result".into()),
                        Some(Read::Broken(e)) => break End::Protocol(e.to_string()),
                    },
                    n = self.stdout.read(&mut obuf), if stdout_open => match n {
                        Ok(n) if n > 0 => if !out.stdout(&obuf[..n]) { break End::OutputLimit },
                        _ => stdout_open = false,
                    },
                    n = self.stderr.read(&mut ebuf), if stderr_open => match n {
                        Ok(n) if n > 0 => if !out.stderr(&ebuf[..n]) { break End::OutputLimit },
                        _ => stderr_open = false,
                    },
                    _ = watch.tick(), if self.cgroup.is_none() => {
                        let (rss, tasks) = self.tree_usage();
                        peak_seen = peak_seen.max(rss);
                        if rss > baseline + limits.memory_bytes() {
                            break End::MemoryLimit;
                        }
                        if tasks > limits.max_processes {
                            break End::ProcessLimit;
                        }
                    }
                }
            },
        };
        let wall = t0.elapsed();
        let usage = self.usage(wall, cpu0, baseline, peak_seen);
        reader.abort();
        if ignored > 0 {
            // One aggregated line per run: user code decides how many frames it forges.
            tracing::debug!(ignored, "ignored frames the runner did not send");
        }
        // After a result: Node writes to the stdout and stderr pipes synchronously, so
        // everything the code wrote before its result is already buffered in them; it is
        // read without waiting for anything to exit.
        if matches!(end, End::Result(_)) {
            let ok = (!stdout_open || drain_buffered(&self.stdout, &mut obuf, |b| out.stdout(b)))
                && (!stderr_open || drain_buffered(&self.stderr, &mut ebuf, |b| out.stderr(b)));
            self.stop();
            if !ok {
                return self.finish(End::OutputLimit, out, limits, usage).await;
            }
            return self.finish(end, out, limits, usage).await;
        }
        self.stop();
        // The runner went away without a result: what it wrote is collected to EOF, which
        // comes once every process of the sandbox is gone.
        if matches!(end, End::RunnerGone(_)) {
            let drain = async {
                while stdout_open || stderr_open {
                    tokio::select! {
                        n = self.stdout.read(&mut obuf), if stdout_open => match n {
                            Ok(n) if n > 0 => if !out.stdout(&obuf[..n]) { return false },
                            _ => stdout_open = false,
                        },
                        n = self.stderr.read(&mut ebuf), if stderr_open => match n {
                            Ok(n) if n > 0 => if !out.stderr(&ebuf[..n]) { return false },
                            _ => stderr_open = false,
                        },
                    }
                }
                true
            };
            if let Ok(false) = tokio::time::timeout(Duration::from_secs(1), drain).await {
                return self.finish(End::OutputLimit, out, limits, usage).await;
            }
        }
        self.finish(end, out, limits, usage).await
    }

    async fn finish(mut self, end: End, out: Output, limits: &Limits, usage: Usage) -> Outcome {
        let t0 = Instant::now();
        if self.cleanups.is_some() && matches!(end, End::Result(_)) {
            // The result and all output are in hand (the pipes reached EOF): answer now; the
            // launcher's exit and the cgroup's removal complete in the background, tracked so
            // that whoever owns the pool can wait until nothing is left.
            let oom = self.oom_killed(&usage, limits);
            let outcome = self.outcome(end, out, limits, usage, oom, None);
            let cleanups = self.cleanups.take().expect("checked above");
            cleanups.pending.fetch_add(1, Ordering::AcqRel);
            tokio::spawn(async move {
                self.discard().await;
                if cleanups.pending.fetch_sub(1, Ordering::AcqRel) == 1 {
                    cleanups.idle.notify_waiters();
                }
            });
            return outcome;
        }
        let exit = match tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await {
            Ok(Ok(status)) => status.code(),
            _ => {
                // The launcher did not stop in time: kill it and everything in the cgroup.
                let _ = self.child.start_kill();
                if let Some(cg) = &self.cgroup {
                    cg.kill_all();
                }
                let _ = tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await;
                None
            }
        };
        let reaped = t0.elapsed();
        let oom = self.oom_killed(&usage, limits);
        if let Some(cg) = self.cgroup.take() {
            cg.remove();
        }
        self.scratch.take();
        tracing::debug!(
            wall_ms = usage.wall_ms,
            reaped_ms = reaped.as_secs_f64() * 1e3,
            cleaned_ms = t0.elapsed().as_secs_f64() * 1e3,
            "run finished"
        );
        self.outcome(end, out, limits, usage, oom, exit)
    }

    /// Sets the job's memory and process limits; returns the memory the ready sandbox
    /// already uses where that is counted against the limit (nsjail's cgroup, the watchdog).
    fn apply_job_limits(&self, limits: &Limits) -> Result<u64, String> {
        let memory = limits.memory_bytes();
        match (&self.cgroup, &self.limit_group) {
            // nodecell's own group: Node's boot stayed charged to the parent.
            (Some(cg), None) => {
                cg.set_memory_limit(memory)
                    .and_then(|_| cg.set_pids_limit(limits.max_processes))
                    .map_err(|e| e.to_string())?;
                Ok(0)
            }
            // nsjail's group holds everything Node allocated since it started: the job may
            // add its limit to that.
            (Some(cg), Some(node_group)) => {
                let used = cg
                    .memory_usage_bytes()
                    .ok_or("cannot read the sandbox's memory usage")?;
                node_group
                    .set_memory_limit(used + memory)
                    .and_then(|_| node_group.set_pids_limit(limits.max_processes))
                    .map_err(|e| e.to_string())?;
                cg.reset_memory_peak();
                Ok(used)
            }
            // No cgroup: the watchdog holds resident memory to the limit above what is
            // resident now, and Node's private memory may grow by the limit (RLIMIT_DATA).
            // Changing another user's rlimit takes CAP_SYS_RESOURCE (which a root service in a
            // container may lack): without it, the limit set at start stays
            // (the start limits' memory + BOOT_DATA_ALLOWANCE).
            (None, _) => {
                let data = procfs::status_kib_field(self.node_pid, "VmData")
                    .ok_or("cannot read the sandbox's memory usage")?;
                if let Err(e) = crate::sys::set_process_rlimit(
                    self.node_pid,
                    libc::RLIMIT_DATA as _,
                    data + memory,
                ) {
                    tracing::debug!(error = %e, "RLIMIT_DATA stays as set at start");
                }
                Ok(self.tree_usage().0)
            }
        }
    }

    /// Resident memory and number of threads of every process of the sandbox (below the
    /// launcher, which a landlock sandbox's orphans are re-parented to).
    fn tree_usage(&self) -> (u64, u64) {
        let root = self.child.id().map_or(0, |p| p as i32);
        procfs::tree(root)
            .into_iter()
            .skip(1)
            .fold((0, 0), |(rss, n), pid| {
                (
                    rss + procfs::rss_bytes(pid).unwrap_or(0),
                    n + procfs::threads(pid).unwrap_or(0),
                )
            })
    }

    /// CPU time of the run so far: its cgroup's, or Node's own and its reaped children's.
    fn cpu_ns(&self) -> Option<u64> {
        self.cgroup
            .as_ref()
            .and_then(RunCgroup::cpu_usage_ns)
            .or_else(|| procfs::cpu_ns(self.node_pid))
    }

    /// Whether the kernel's OOM killer acted in the run's memory cgroup. nsjail removes
    /// Node's group as soon as Node is dead (and cgroup v1 does not count OOM kills up the
    /// tree), so there the sign is that usage reached the job's limit (v1 charges never pass
    /// it).
    fn oom_killed(&self, usage: &Usage, limits: &Limits) -> bool {
        let Some(cg) = &self.cgroup else {
            return false;
        };
        cg.oom_killed()
            || (self.limit_group.is_some()
                && usage.memory_peak_bytes + (1 << 20) >= limits.memory_bytes())
    }

    /// Usage as the host measures it, at the end of the run (before the sandbox is stopped).
    fn usage(&self, wall: Duration, cpu0: Option<u64>, baseline: u64, peak_seen: u64) -> Usage {
        let mut usage = Usage {
            wall_ms: wall.as_secs_f64() * 1e3,
            ..Default::default()
        };
        if let (Some(a), Some(b)) = (cpu0, self.cpu_ns()) {
            usage.cpu_ms = b.saturating_sub(a) as f64 / 1e6;
        }
        let peak = match &self.cgroup {
            Some(cg) => cg.memory_peak_bytes().unwrap_or(0),
            None => peak_seen.max(self.tree_usage().0),
        };
        usage.memory_peak_bytes = peak.saturating_sub(baseline);
        usage
    }

    /// How the run ended, as an outcome. `exit` is the launcher's exit code, when known.
    fn outcome(
        &self,
        end: End,
        out: Output,
        limits: &Limits,
        usage: Usage,
        oom: bool,
        exit: Option<i32>,
    ) -> Outcome {
        let stderr_text = String::from_utf8_lossy(&out.stderr_bytes).into_owned();
        // V8 reports running out of its heap cap (or, under RLIMIT_DATA, out of memory it
        // could not map) on stderr before it aborts.
        let heap_oom = stderr_text.contains("out of memory");
        let memory_limit = || {
            (
                Status::MemoryLimit,
                None,
                Some(ErrorInfo::new(
                    "MemoryLimitError",
                    format!(
                        "the run exceeded its memory limit of {} MiB",
                        limits.memory_mib
                    ),
                )),
            )
        };
        let (status, result, error) = match end {
            End::Result(RunnerResult::Ok { result, .. }) => (Status::Ok, Some(result), None),
            End::Result(RunnerResult::Error { error, .. }) => (Status::Error, None, Some(error)),
            End::Timeout => (
                Status::Timeout,
                None,
                Some(ErrorInfo::new(
                    "TimeoutError",
                    format!(
                        "the run exceeded its time limit of {} ms",
                        limits.timeout_ms
                    ),
                )),
            ),
            End::OutputLimit => (
                Status::OutputLimit,
                None,
                Some(ErrorInfo::new(
                    "OutputLimitError",
                    format!(
                        "captured output exceeded its limit of {} bytes",
                        limits.max_output_bytes
                    ),
                )),
            ),
            End::MemoryLimit => memory_limit(),
            End::ProcessLimit => (
                Status::Crashed,
                None,
                Some(ErrorInfo::new(
                    "ProcessLimitError",
                    format!(
                        "the run exceeded its limit of {} processes and threads and was killed",
                        limits.max_processes
                    ),
                )),
            ),
            End::RunnerGone(_) | End::Protocol(_) if oom || heap_oom => memory_limit(),
            End::RunnerGone(why) => {
                let how = match exit {
                    Some(c) if c > 128 => format!("Node was killed by signal {}", c - 128),
                    Some(c) => format!("Node exited with code {c}"),
                    None => "Node's exit status is unknown".into(),
                };
                (
                    Status::Crashed,
                    None,
                    Some(ErrorInfo::new("CrashedError", format!("{why}; {how}"))),
                )
            }
            End::Protocol(why) => (
                Status::Crashed,
                None,
                Some(ErrorInfo::new(
                    "CrashedError",
                    format!("the runner's channel broke: {why}"),
                )),
            ),
            End::HostFailure(why) => (
                Status::Crashed,
                None,
                Some(ErrorInfo::new(
                    "HostError",
                    format!("the host could not apply the limits: {why}"),
                )),
            ),
        };
        Outcome {
            status,
            result,
            error,
            logs: out.logs,
            stdout: String::from_utf8_lossy(&out.stdout_bytes).into_owned(),
            stderr: stderr_text,
            truncated: out.truncated,
            usage,
            backend: self.backend.clone(),
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        // kill_on_drop reaps the launcher; the cgroup (if still held) kills what is left.
        let _ = self.child.start_kill();
    }
}

/// What the event reader passes on.
enum Read {
    Log(LogEntry),
    /// The result carrying this run's nonce.
    Result(RunnerResult),
    /// A well-framed frame the host does not accept, of this many bytes.
    Ignored(usize),
    /// End of stream between frames.
    Closed,
    /// The framing itself is broken (a length over the cap, a cut frame, an i/o error).
    Broken(FrameError),
}

/// Reads the event channel until the real result, the end, or broken framing. Runs as a task
/// of its own: reading a frame is not cancel-safe.
async fn read_events(mut events: pipe::Receiver, cap: u64, nonce: String, tx: mpsc::Sender<Read>) {
    loop {
        let read = match protocol::read_frame(&mut events, cap).await {
            Ok(None) => Read::Closed,
            Err(e) => Read::Broken(e),
            Ok(Some(body)) => match serde_json::from_slice::<RunnerEvent>(&body) {
                Ok(RunnerEvent::Log { level, message }) => Read::Log(LogEntry { level, message }),
                Ok(RunnerEvent::Result(r)) if r.nonce() == nonce => Read::Result(r),
                Ok(_) | Err(_) => Read::Ignored(body.len()),
            },
        };
        let last = matches!(read, Read::Result(_) | Read::Closed | Read::Broken(_));
        if tx.send(read).await.is_err() || last {
            return;
        }
    }
}

/// How a run ended, before it becomes a status.
enum End {
    Result(RunnerResult),
    Timeout,
    OutputLimit,
    /// The watchdog saw more resident memory than the limit allows.
    MemoryLimit,
    /// The watchdog saw more processes and threads than the limit allows.
    ProcessLimit,
    RunnerGone(String),
    Protocol(String),
    HostFailure(String),
}

/// Captured output, held to one byte budget shared by logs, stdout and stderr.
struct Output {
    remaining: u64,
    truncated: bool,
    logs: Vec<LogEntry>,
    stdout_bytes: Vec<u8>,
    stderr_bytes: Vec<u8>,
    live: Option<mpsc::UnboundedSender<LiveEvent>>,
}

/// The longest prefix of `s` of at most `n` bytes that ends on a character boundary.
fn cut_str(s: &str, n: usize) -> &str {
    let mut end = n.min(s.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

impl Output {
    fn new(max: u64, live: Option<mpsc::UnboundedSender<LiveEvent>>) -> Self {
        Output {
            remaining: max,
            truncated: false,
            logs: Vec::new(),
            stdout_bytes: Vec::new(),
            stderr_bytes: Vec::new(),
            live,
        }
    }

    fn emit(&self, ev: LiveEvent) {
        if let Some(tx) = &self.live {
            let _ = tx.send(ev);
        }
    }

    /// Takes up to the remaining budget; false once the budget is exceeded.
    fn take(&mut self, len: usize) -> (usize, bool) {
        if (len as u64) <= self.remaining {
            self.remaining -= len as u64;
            (len, true)
        } else {
            let n = self.remaining as usize;
            self.remaining = 0;
            self.truncated = true;
            (n, false)
        }
    }

    /// Counts bytes against the budget without keeping them.
    fn charge(&mut self, len: usize) -> bool {
        self.take(len).1
    }

    fn log(&mut self, mut entry: LogEntry) -> bool {
        let (n, ok) = self.take(entry.message.len());
        if !ok {
            entry.message = cut_str(&entry.message, n).to_string();
        }
        self.emit(LiveEvent::Log(entry.clone()));
        self.logs.push(entry);
        ok
    }

    fn stdout(&mut self, bytes: &[u8]) -> bool {
        let (n, ok) = self.take(bytes.len());
        self.emit(LiveEvent::Stdout(
            String::from_utf8_lossy(&bytes[..n]).into_owned(),
        ));
        self.stdout_bytes.extend_from_slice(&bytes[..n]);
        ok
    }

    fn stderr(&mut self, bytes: &[u8]) -> bool {
        let (n, ok) = self.take(bytes.len());
        self.emit(LiveEvent::Stderr(
            String::from_utf8_lossy(&bytes[..n]).into_owned(),
        ));
        self.stderr_bytes.extend_from_slice(&bytes[..n]);
        ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_budget_is_shared_and_cut_on_char_boundaries() {
        let mut o = Output::new(9, None);
        assert!(o.stdout(b"abcd"));
        assert!(!o.log(LogEntry {
            level: crate::outcome::LogLevel::Log,
            message: "ééé".into()
        }));
        // 5 bytes were left: the cut falls inside the third "é" and backs off to 4 bytes.
        assert_eq!(o.logs[0].message, "éé");
        assert!(o.truncated);
        assert!(!o.stderr(b"x"));
        assert!(o.stderr_bytes.is_empty());
    }
}
