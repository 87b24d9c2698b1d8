//! The launcher: a small single-threaded process that builds one sandbox and execs Node in it.
//!
//! Process tree of a native sandbox:
//!
//! ```text
//! host ─▶ launcher (host namespaces; writes the id maps; on SIGTERM kills init and waits)
//!            └─▶ init (pid 1 of new user/pid/mount/net/ipc/uts/cgroup namespaces; builds
//!                 │    the root filesystem, reaps, exits when Node exits: the kernel then
//!                 │    kills everything left in the pid namespace)
//!                 └─▶ node (drops identity and capabilities, rlimits, no_new_privs,
//!                          Landlock, seccomp — in that order — then execve)
//! ```
//!
//! Without namespaces (the landlock backend) there is no init: the launcher, a child
//! subreaper, forks Node directly and kills Node's whole subtree when Node ends.
//!
//! The order of the steps is the point: privileged steps (id maps, mounts) come
//! first; then the process gives up its identity and capabilities; no_new_privs precedes
//! Landlock (which requires it) and seccomp (which requires it and must come last, because
//! its allowlist no longer permits the calls made by the steps before it). Everything runs
//! before `execve(node)`, so every thread Node ever starts inherits all of it.
//! Each step's name appears in the error the host gets when that step fails.

pub mod guest;
mod guest_memory;
pub mod in_container;
pub mod landlock;
pub mod rootfs;
pub mod seccomp;
pub mod spec;
pub mod zygote;

use std::ffi::CString;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;

use nix::sys::prctl;
use nix::sys::resource::{setrlimit, Resource};
use nix::sys::signal::Signal;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{getegid, geteuid, sethostname, setresgid, setresuid, setsid, Gid, Pid, Uid};

use crate::sys::{self, Forked};
use spec::{
    LandlockStatus, LaunchMessage, LaunchReport, LaunchSpec, LaunchStep, RlimitResource,
    SANDBOX_ID, SPEC_FD, STATUS_FD, WITHOUT_NAMESPACES, WITH_NAMESPACES,
};

/// A failed step: its name and what went wrong.
struct StepError {
    step: LaunchStep,
    message: String,
}

trait Step<T> {
    fn step(self, name: LaunchStep) -> Result<T, StepError>;
}

impl<T, E: std::fmt::Display> Step<T> for Result<T, E> {
    fn step(self, name: LaunchStep) -> Result<T, StepError> {
        self.map_err(|e| StepError {
            step: name,
            message: e.to_string(),
        })
    }
}

/// Exit code of any launcher process whose setup failed (after reporting on the status fd).
pub const EXIT_SETUP_FAILED: i32 = 125;

/// Writes one line on the status fd. Uses only write(2): after seccomp is installed the
/// allowlist is all there is.
fn report(msg: &LaunchMessage) {
    let mut line = serde_json::to_vec(msg).unwrap_or_default();
    line.push(b'\n');
    let mut rest = line.as_slice();
    while !rest.is_empty() {
        match nix::unistd::write(status_fd(), rest) {
            Ok(n) => rest = &rest[n..],
            Err(nix::errno::Errno::EINTR) => {}
            Err(_) => return,
        }
    }
}

fn status_fd() -> std::os::fd::BorrowedFd<'static> {
    sys::inherited_fd(STATUS_FD)
}

fn fail(e: StepError) -> ! {
    report(&LaunchMessage::Failed {
        step: e.step,
        message: e.message,
    });
    std::process::exit(EXIT_SETUP_FAILED)
}

/// Entry point of `nodecell-launcher --namespaces|--no-namespaces <host pid>`, the spec on
/// fd 6 (or `--in-container SPEC`, see [`in_container`]).
pub fn main() -> ! {
    let mut args = std::env::args().skip(1);
    let namespaces = match args.next().as_deref() {
        Some(in_container::IN_CONTAINER) => in_container::main(&args.next().unwrap_or_default()),
        Some(guest::GUEST_ARG) => guest::guest_main(),
        Some(WITH_NAMESPACES) => true,
        Some(WITHOUT_NAMESPACES) => false,
        other => fail(StepError {
            step: LaunchStep::ParseArgs,
            message: format!("expected {WITH_NAMESPACES} or {WITHOUT_NAMESPACES}, got {other:?}"),
        }),
    };
    let host = match args.next().map(|a| a.parse::<i32>()) {
        Some(Ok(pid)) if pid > 0 => Pid::from_raw(pid),
        other => fail(StepError {
            step: LaunchStep::ParseArgs,
            message: format!("expected the host's pid after the namespaces, got {other:?}"),
        }),
    };
    match launcher(namespaces, host) {
        Ok(code) => std::process::exit(code),
        Err(e) => fail(e),
    }
}

/// Reads the spec from fd 6 to EOF (the host writes it when it is known) and closes fd 6.
fn read_spec(namespaces: bool) -> Result<LaunchSpec, StepError> {
    let mut text = Vec::new();
    File::from(sys::take_inherited_fd(SPEC_FD))
        .read_to_end(&mut text)
        .step(LaunchStep::ReadSpec)?;
    let spec: LaunchSpec = serde_json::from_slice(&text).step(LaunchStep::ParseSpec)?;
    if spec.namespaces != namespaces {
        return Err(StepError {
            step: LaunchStep::ParseSpec,
            message: "the spec's namespaces contradict the launcher's argument".into(),
        });
    }
    Ok(spec)
}

fn launcher(namespaces: bool, host: Pid) -> Result<i32, StepError> {
    // 1. Die with the host: if the service goes away, so does every sandbox. With
    //    namespaces, SIGKILL: init dies with the launcher and the kernel empties its pid
    //    namespace. Without (landlock), SIGTERM, which stops Node and then kills everything
    //    it started, however detached, before the launcher exits (see `supervise`); Node
    //    cannot send it (Landlock scopes its signals to its own domain).
    let host_gone = if namespaces {
        Signal::SIGKILL
    } else {
        Signal::SIGTERM
    };
    prctl::set_pdeathsig(host_gone).step(LaunchStep::DieWithParent)?;
    // The host gave its pid: a parent that is not the host (a reaper that adopted the
    // launcher) means the host died before the death signal was set. (The host may itself
    // be pid 1, of a PID namespace: a parent pid of 1 says nothing.)
    if nix::unistd::getppid() != host {
        return Err(StepError {
            step: LaunchStep::DieWithParent,
            message: "the host is already gone".into(),
        });
    }
    // 2. Nothing but fds 0-6 crosses into the launcher's children (and fd 6, the spec, is
    //    closed once read, before Node is forked).
    sys::close_fds_from(SPEC_FD + 1).step(LaunchStep::CloseInheritedFds)?;
    let root = geteuid().is_root();
    // 3. No supplementary groups (root's groups would otherwise follow into the sandbox).
    if root {
        nix::unistd::setgroups(&[]).step(LaunchStep::ClearGroups)?;
    }
    if namespaces {
        // The namespaces do not depend on the spec: made first, while the host may still be
        // working the spec out; init reads it.
        spawn_init(root)
    } else {
        supervise(&read_spec(false)?, root)
    }
}

/// Without namespaces (the landlock backend): Node runs as the launcher's child; the launcher
/// is a child subreaper, so everything Node starts, however detached, stays in its subtree.
/// When Node exits (or SIGTERM has it killed), the launcher kills and reaps that subtree
/// before it exits itself: once the host has reaped the launcher, nothing of the run is left.
fn supervise(spec: &LaunchSpec, root: bool) -> Result<i32, StepError> {
    if !spec.in_container {
        prctl::set_child_subreaper(true).step(LaunchStep::ChildSubreaper)?;
    }
    sys::block_sigterm(true).step(LaunchStep::BlockSigterm)?;
    match sys::fork_single_threaded().step(LaunchStep::ForkNode)? {
        Forked::Child => {
            if let Err(e) = sys::block_sigterm(false).step(LaunchStep::UnblockSigterm) {
                fail(e)
            }
            let e = match confine_and_exec(spec, root, Vec::new()) {
                Ok(_) => unreachable!("confine_and_exec returns only on error"),
                Err(e) => e,
            };
            fail(e)
        }
        Forked::Parent(node) => {
            sys::kill_init_on_sigterm(node).step(LaunchStep::StopHandler)?;
            sys::block_sigterm(false).step(LaunchStep::UnblockSigterm)?;
            for fd in 0..=STATUS_FD {
                let _ = nix::unistd::close(fd);
            }
            let node = Pid::from_raw(node);
            let code = loop {
                match waitpid(None::<Pid>, None) {
                    Ok(WaitStatus::Exited(pid, code)) if pid == node => break code,
                    Ok(WaitStatus::Signaled(pid, sig, _)) if pid == node => break 128 + sig as i32,
                    Ok(_) | Err(nix::errno::Errno::EINTR) => continue,
                    Err(e) => return Err(e).step(LaunchStep::Reap),
                }
            };
            // Node is reaped: its pid may be reused from now on, so SIGTERM must not reach it.
            sys::kill_init_on_sigterm(0).step(LaunchStep::StopHandler)?;
            kill_subtree();
            Ok(code)
        }
    }
}

/// SIGKILLs every child until there are none: each killed child's own children are
/// re-parented to this subreaper before its exit can be reaped, so they are found next.
fn kill_subtree() {
    loop {
        for pid in crate::procfs::children(std::process::id() as i32) {
            let _ = nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
        match waitpid(None::<Pid>, None) {
            Err(nix::errno::Errno::ECHILD) => return,
            _ => continue,
        }
    }
}

/// Creates the namespaces with an init process in them, maps its ids, waits for it.
fn spawn_init(root: bool) -> Result<i32, StepError> {
    let (go_read, go_write) = nix::unistd::pipe().step(LaunchStep::SyncPipe)?;
    // SIGTERM (the host's "stop") stays pending until its handler is in place below.
    sys::block_sigterm(true).step(LaunchStep::BlockSigterm)?;
    // 4. New namespaces, the child being pid 1 of the new pid namespace.
    match sys::clone_with_namespaces(sys::SANDBOX_NAMESPACES).step(LaunchStep::CreateNamespaces)? {
        Forked::Child => {
            drop(go_write);
            if let Err(e) = sys::block_sigterm(false).step(LaunchStep::UnblockSigterm) {
                fail(e)
            }
            match init(go_read) {
                Ok(code) => std::process::exit(code),
                Err(e) => fail(e),
            }
        }
        Forked::Parent(child) => {
            drop(go_read);
            // The spec is init's to read.
            drop(sys::take_inherited_fd(SPEC_FD));
            // The host stops a sandbox with SIGTERM to the launcher: init is SIGKILLed, and
            // when the wait below returns, every process of the sandbox is gone.
            sys::kill_init_on_sigterm(child).step(LaunchStep::StopHandler)?;
            sys::block_sigterm(false).step(LaunchStep::UnblockSigterm)?;
            // 5. Id maps: as root, the sandbox's nobody is the host's nobody (and its root is
            // the host's root, used only by init before it drops to nobody); otherwise our
            // own uid appears as nobody inside.
            let (uid, gid) = (geteuid().as_raw(), getegid().as_raw());
            let (uid_map, gid_map) = if root {
                (
                    format!("0 0 1\n{SANDBOX_ID} {SANDBOX_ID} 1\n"),
                    format!("0 0 1\n{SANDBOX_ID} {SANDBOX_ID} 1\n"),
                )
            } else {
                (
                    format!("{SANDBOX_ID} {uid} 1\n"),
                    format!("{SANDBOX_ID} {gid} 1\n"),
                )
            };
            let proc = format!("/proc/{child}");
            std::fs::write(format!("{proc}/setgroups"), "deny").step(LaunchStep::WriteIdMaps)?;
            std::fs::write(format!("{proc}/uid_map"), uid_map).step(LaunchStep::WriteIdMaps)?;
            std::fs::write(format!("{proc}/gid_map"), gid_map).step(LaunchStep::WriteIdMaps)?;
            File::from(go_write)
                .write_all(b"1")
                .step(LaunchStep::ReleaseInit)?;
            // Our copies of the sandbox's fds would keep its pipes open after it ends.
            for fd in 0..=STATUS_FD {
                let _ = nix::unistd::close(fd);
            }
            loop {
                match waitpid(Pid::from_raw(child), None) {
                    Ok(WaitStatus::Exited(_, code)) => return Ok(code),
                    Ok(WaitStatus::Signaled(_, sig, _)) => return Ok(128 + sig as i32),
                    Ok(_) => continue,
                    Err(nix::errno::Errno::EINTR) => continue,
                    Err(e) => return Err(e).step(LaunchStep::WaitInit),
                }
            }
        }
    }
}

/// pid 1 of the sandbox.
fn init(go: OwnedFd) -> Result<i32, StepError> {
    prctl::set_pdeathsig(Signal::SIGKILL).step(LaunchStep::InitDieWithLauncher)?;
    // Wait until the launcher has written the id maps; EOF means it died.
    let mut byte = [0u8; 1];
    if File::from(go)
        .read(&mut byte)
        .step(LaunchStep::WaitIdMaps)?
        != 1
    {
        return Err(StepError {
            step: LaunchStep::WaitIdMaps,
            message: "the launcher went away".into(),
        });
    }
    let spec = read_spec(true)?;
    let mut namespaces = Vec::new();
    for ns in ["user", "pid", "mount", "network", "ipc", "uts", "cgroup"] {
        namespaces.push(ns.to_string());
    }
    sethostname(&spec.hostname).step(LaunchStep::SetHostname)?;
    if let Some(rootfs) = &spec.rootfs {
        rootfs::build(rootfs).step(LaunchStep::BuildRootFilesystem)?;
    }
    let node = match sys::fork_single_threaded().step(LaunchStep::ForkNode)? {
        Forked::Child => {
            let e = match confine_and_exec(&spec, false, namespaces) {
                Ok(_) => unreachable!("confine_and_exec returns only on error"),
                Err(e) => e,
            };
            fail(e)
        }
        Forked::Parent(pid) => Pid::from_raw(pid),
    };
    for fd in 0..=STATUS_FD {
        let _ = nix::unistd::close(fd);
    }
    // Reap everything; return as soon as Node itself has exited. Returning ends pid 1, and
    // the kernel then kills whatever Node left behind in the namespace.
    loop {
        match waitpid(None::<Pid>, None) {
            Ok(WaitStatus::Exited(pid, code)) if pid == node => return Ok(code),
            Ok(WaitStatus::Signaled(pid, sig, _)) if pid == node => return Ok(128 + sig as i32),
            Ok(_) | Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e).step(LaunchStep::Reap),
        }
    }
}

/// The last process: gives everything up, then becomes Node. Returns only on failure.
fn confine_and_exec(
    spec: &LaunchSpec,
    host_root: bool,
    namespaces: Vec<String>,
) -> Result<i32, StepError> {
    let argv: Vec<CString> = spec
        .argv
        .iter()
        .map(|a| CString::new(a.as_str()))
        .collect::<Result<_, _>>()
        .step(LaunchStep::Argv)?;
    let env: Vec<CString> = spec
        .env
        .iter()
        .map(|(k, v)| CString::new(format!("{k}={v}")))
        .collect::<Result<_, _>>()
        .step(LaunchStep::Env)?;
    let confinement = Confinement {
        in_userns: spec.namespaces,
        run_as: spec.run_as,
        rlimits: &spec.rlimits,
        cwd: &spec.cwd,
        landlock: spec.landlock.as_ref(),
        seccomp: spec.seccomp,
        rootfs: spec.rootfs.is_some(),
    };
    let enforced = confinement.apply(host_root, namespaces)?;
    if spec.zygote {
        seccomp::install_enosys().step(LaunchStep::Seccomp)?;
    }
    report(&LaunchMessage::Enforced(enforced));
    if spec.zygote {
        // A zygote keeps fd 5 taken (by /dev/null): see LaunchSpec::zygote.
        let null = nix::fcntl::open(
            "/dev/null",
            nix::fcntl::OFlag::O_RDWR,
            nix::sys::stat::Mode::empty(),
        )
        .step(LaunchStep::CloseStatusOnExec)?;
        sys::place_fd(null, STATUS_FD).step(LaunchStep::CloseStatusOnExec)?;
    } else {
        // The status fd must not reach Node.
        nix::fcntl::fcntl(
            status_fd(),
            nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
        )
        .step(LaunchStep::CloseStatusOnExec)?;
    }
    let Some(program) = argv.first() else {
        return Err(StepError {
            step: LaunchStep::ExecNode,
            message: "empty argv".into(),
        });
    };
    let err = nix::unistd::execve(program, &argv, &env).unwrap_err();
    Err(err).step(LaunchStep::ExecNode)
}

/// What the last process of a sandbox gives up before any of its code runs: Node's process
/// before it execs, or a zygote's child before it returns to JavaScript.
struct Confinement<'a> {
    /// In a user namespace of the sandbox's own: the identity is [`SANDBOX_ID`].
    in_userns: bool,
    /// Without one: the host uid and gid to take (see [`LaunchSpec::run_as`]).
    run_as: Option<u32>,
    rlimits: &'a [spec::Rlimit],
    cwd: &'a std::path::Path,
    landlock: Option<&'a spec::LandlockSpec>,
    seccomp: bool,
    /// Reported only: whether the sandbox has a root filesystem of its own.
    rootfs: bool,
}

impl Confinement<'_> {
    /// Applies everything, in order; what is in force when it returns.
    fn apply(&self, host_root: bool, namespaces: Vec<String>) -> Result<LaunchReport, StepError> {
        // a. A session of its own: no controlling terminal to push keystrokes into.
        setsid().step(LaunchStep::NewSession)?;
        // b. Bounding and ambient sets first: emptying the bounding set needs CAP_SETPCAP,
        //    which the identity change below removes.
        sys::drop_bounding_and_ambient_capabilities().step(LaunchStep::DropBoundingSet)?;
        // c. Identity: nobody in a user namespace; without one, the run's own uid given by
        //    the host (never root's).
        let id = if self.in_userns {
            Some(SANDBOX_ID)
        } else {
            self.run_as
        };
        match id {
            Some(id) => {
                setresgid(Gid::from_raw(id), Gid::from_raw(id), Gid::from_raw(id))
                    .step(LaunchStep::SetGid)?;
                setresuid(Uid::from_raw(id), Uid::from_raw(id), Uid::from_raw(id))
                    .step(LaunchStep::SetUid)?;
            }
            None if host_root => {
                return Err(std::io::Error::other(
                    "as root without a user namespace, the spec must give the run's uid",
                ))
                .step(LaunchStep::SetUid)
            }
            None => {}
        }
        // A changed identity cleared the parent-death signal: without a pid namespace (whose
        // init takes everything with it) Node must still die with the launcher.
        if !self.in_userns {
            prctl::set_pdeathsig(Signal::SIGKILL).step(LaunchStep::DieWithLauncher)?;
        }
        // d. Effective, permitted and inheritable sets empty.
        sys::clear_capability_sets().step(LaunchStep::DropCapabilities)?;
        // e. Resource limits.
        for r in self.rlimits {
            let res = match r.resource {
                RlimitResource::Nofile => Resource::RLIMIT_NOFILE,
                RlimitResource::Nproc => Resource::RLIMIT_NPROC,
                RlimitResource::Core => Resource::RLIMIT_CORE,
                RlimitResource::Fsize => Resource::RLIMIT_FSIZE,
                RlimitResource::Data => Resource::RLIMIT_DATA,
            };
            setrlimit(res, r.value, r.value).step(LaunchStep::SetRlimits)?;
        }
        std::env::set_current_dir(self.cwd).step(LaunchStep::Chdir)?;
        // f. no_new_privs: exec can never gain privileges again (and Landlock/seccomp need
        //    it).
        prctl::set_no_new_privs().step(LaunchStep::NoNewPrivs)?;
        // g. Landlock.
        let (landlock_status, landlock_abi) = match self.landlock {
            Some(l) => {
                let applied = landlock::apply(l).step(LaunchStep::Landlock)?;
                (applied.status, applied.abi)
            }
            None => (LandlockStatus::Off, sys::landlock_abi().unwrap_or(0)),
        };
        // h. seccomp, last.
        if self.seccomp {
            seccomp::install().step(LaunchStep::Seccomp)?;
        }
        Ok(LaunchReport {
            namespaces,
            rootfs: self.rootfs,
            landlock: landlock_status,
            landlock_abi,
            seccomp: self.seccomp,
            no_new_privs: true,
            capabilities_dropped: true,
            uid: nix::unistd::getuid().as_raw(),
            gid: nix::unistd::getgid().as_raw(),
        })
    }
}
