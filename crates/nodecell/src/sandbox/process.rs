//! The host's handle on a sandbox's processes, and the spawn of a program with the sandbox's
//! fds (nodecell-launcher, nsjail).

use std::future::Future;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::Stdio;
use std::time::Instant;

use tokio::net::unix::pipe;
use tokio::process::{Child, Command};

use crate::error::StartError;
use crate::launch::spec::{EVENT_FD, JOB_FD, SPEC_FD, STATUS_FD};

use super::channel::{ReadHalf, RunnerChannel};

/// Rounds of [`crate::procfs::kill_below`] before the program itself is killed: far more
/// than a tree held to `max_processes` needs.
const KILL_ROUNDS: usize = 64;

/// What holds a sandbox's processes on the host.
pub(crate) trait SandboxProcess: Send {
    /// Host pid of the root of the sandbox's process tree, while it runs.
    fn pid(&self) -> Option<u32>;
    /// Asks for an orderly stop: everything of the sandbox is gone once [`Self::wait`]
    /// returns.
    fn stop(&mut self);
    /// Kills without asking.
    fn kill(&mut self);
    /// Waits for the end; the exit code, when there is one.
    fn wait(&mut self) -> Pin<Box<dyn Future<Output = std::io::Result<Option<i32>>> + Send + '_>>;
    /// Whether what runs the sandbox says it was OOM-killed (a container engine, for a
    /// container that ended with its cgroup).
    fn oom_killed(&self) -> bool {
        false
    }
    /// Whether the sandbox may still run a job: false once its channel to the host is known
    /// to be gone (a container whose engine went away).
    fn alive(&self) -> bool {
        true
    }
}

/// A program the host spawned (the launcher, nsjail): SIGTERM asks it to stop the sandbox
/// (it SIGKILLs the sandbox's init, or Node and all it started, and exits once they are
/// gone). Killing without asking kills everything below the program first, then the
/// program: killed first, the landlock launcher (no pid namespace) would leave what Node
/// detached running, re-parented away from it.
pub(crate) struct ChildProcess(Child);

impl SandboxProcess for ChildProcess {
    fn pid(&self) -> Option<u32> {
        self.0.id()
    }

    fn stop(&mut self) {
        if let Some(pid) = self.0.id() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
    }

    fn kill(&mut self) {
        if let Some(pid) = self.0.id() {
            crate::procfs::kill_below(pid as i32, KILL_ROUNDS);
        }
        let _ = self.0.start_kill();
    }

    fn wait(&mut self) -> Pin<Box<dyn Future<Output = std::io::Result<Option<i32>>> + Send + '_>> {
        Box::pin(async { self.0.wait().await.map(|s| s.code()) })
    }
}

/// A started sandbox before the runner is ready: its processes, its runner channel and
/// where its program reports (fd 5 of a spawned program).
pub(crate) struct Started {
    pub process: Box<dyn SandboxProcess>,
    pub channel: RunnerChannel,
    pub status: Option<Box<dyn ReadHalf>>,
    pub started: Instant,
}

fn pipe_pair() -> Result<(OwnedFd, OwnedFd), StartError> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| StartError::Spawn(e.into()))
}

/// A spawned program with the pipes of its sandbox.
pub(crate) struct Launched {
    program: PathBuf,
    args: Vec<String>,
    started: Started,
    /// The spec pipe (fd 6), until the spec is written.
    spec: Option<pipe::Sender>,
}

impl Launched {
    /// Starts `program args` with the sandbox's fds: 3 (job), 4 (events), 5 (status), 1 and 2
    /// (stdout, stderr) and 6: `config`, or else the read end of a pipe for the spec.
    pub(crate) fn spawn(
        program: &Path,
        args: &[String],
        config: Option<OwnedFd>,
        own_run_dir: bool,
    ) -> Result<Launched, StartError> {
        let started = Instant::now();
        let (job_r, job_w) = pipe_pair()?;
        let (ev_r, ev_w) = pipe_pair()?;
        let (st_r, st_w) = pipe_pair()?;
        let (out_r, out_w) = pipe_pair()?;
        let (err_r, err_w) = pipe_pair()?;
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
            .stdout(Stdio::from(out_w))
            .stderr(Stdio::from(err_w))
            .kill_on_drop(true);
        let fds = vec![
            (job_r.as_raw_fd(), JOB_FD),
            (ev_w.as_raw_fd(), EVENT_FD),
            (st_w.as_raw_fd(), STATUS_FD),
            (six.as_raw_fd(), SPEC_FD),
        ];
        // (The launcher also sets this itself, and checks that the host is still there.)
        crate::sys::die_with_parent(&mut cmd);
        if own_run_dir {
            crate::sys::own_run_dir(&mut cmd);
        }
        crate::sys::inherit_fds(&mut cmd, fds);
        let child = cmd.spawn().map_err(StartError::Spawn)?;
        // The command holds the write ends of stdout and stderr until it is dropped.
        drop((cmd, job_r, ev_w, st_w, six));
        let sender = |fd| pipe::Sender::from_owned_fd(fd).map_err(StartError::Spawn);
        let receiver = |fd| pipe::Receiver::from_owned_fd(fd).map_err(StartError::Spawn);
        Ok(Launched {
            program: program.to_path_buf(),
            args: args.to_vec(),
            started: Started {
                process: Box::new(ChildProcess(child)),
                channel: RunnerChannel {
                    job: Box::new(sender(job_w)?),
                    events: Box::new(receiver(ev_r)?),
                    stdout: Box::new(receiver(out_r)?),
                    stderr: Box::new(receiver(err_r)?),
                },
                status: Some(Box::new(receiver(st_r)?)),
                started,
            },
            spec: spec_w.map(sender).transpose()?,
        })
    }

    /// The sandbox, once its program has been handed `spec` (if it reads one).
    pub(crate) async fn hand_spec(mut self, spec: Option<&[u8]>) -> Started {
        use tokio::io::AsyncWriteExt;
        if let (Some(bytes), Some(pipe)) = (spec, self.spec.as_mut()) {
            // A program that went away already says why on its status fd, read later.
            let _ = pipe.write_all(bytes).await;
        }
        self.started
    }

    /// Whether this was spawned as `program args`, reading a spec.
    pub(crate) fn fits(&self, program: &Path, args: &[String]) -> bool {
        self.spec.is_some() && self.program == program && self.args == args
    }
}

/// A sandbox's program started before its spec is known, so that it creates the sandbox's
/// namespaces while the host is still working the spec out (`nodecell run` starts one before
/// it discovers the host). Used by [`crate::Engine::run_prelaunched`] when the request's
/// backend turns out to be the one it was started for; dropped (killed) otherwise.
pub struct Prelaunch(pub(crate) Launched);

impl Prelaunch {
    /// Host pid of the program.
    pub fn pid(&self) -> Option<u32> {
        self.0.started.process.pid()
    }
}
