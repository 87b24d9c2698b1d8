//! Starting a sandbox: its program spawned (or a prelaunched one taken over), its cgroups
//! made and joined while Node boots, what is in force confirmed, the runner's ready frame.

use std::time::Duration;

use crate::error::StartError;
use crate::procfs;

use super::accounting::Accounting;
use super::channel::ready_frame;
use super::confirm;
use super::plan::{AccountingPlan, Confirmation, Program, ProgramInput, SandboxPlan};
use super::process::{Launched, Prelaunch, Started};
use super::Sandbox;

impl Sandbox {
    /// Starts the sandbox of `plan` (taking over `prelaunch` if it was started for the same
    /// program and arguments) and waits until the runner says it is ready.
    pub(crate) async fn start(
        plan: SandboxPlan,
        backend: &'static str,
        startup_timeout_ms: u64,
        prelaunch: Option<Prelaunch>,
    ) -> Result<Sandbox, StartError> {
        let SandboxPlan {
            program,
            confirmation,
            accounting,
            scratch,
            from_zygote: _,
            fixed_memory_mib,
        } = plan;
        let mut from_start = None;
        let Started {
            mut process,
            channel,
            mut status,
            started: t0,
        } = match program {
            Program::Spawn {
                path,
                args,
                input,
                own_run_dir,
            } => {
                let (config, spec) = match input {
                    ProgramInput::Config(fd) => (Some(fd), None),
                    ProgramInput::Spec(bytes) => (None, Some(bytes)),
                };
                let launched = match prelaunch {
                    Some(Prelaunch(l)) if spec.is_some() && l.fits(&path, &args) => l,
                    _ => Launched::spawn(&path, &args, config, own_run_dir)?,
                };
                launched.hand_spec(spec.as_deref()).await
            }
            Program::Started(started) => started,
            Program::Starting(starting) => {
                let (started, cgroup) = starting.await?;
                from_start = cgroup;
                started
            }
        };
        let (mut events, mut stderr) = (channel.events, channel.stderr);
        let root_pid = process.pid().map_or(0, |p| p as i32);

        // Node joins the run's cgroups while it boots: on cgroup v1 a task migration waits for
        // an RCU grace period (~10 ms), which this takes off the critical path. The job is
        // sent only after the move is complete, so every byte and process of user code is
        // accounted for; what Node allocated while booting stays charged to the parent
        // (cgroup v1 does not move charges).
        // The run's own cgroup is made now, while the program sets the sandbox up (the
        // program is killed on drop if that fails).
        let accounting = match accounting {
            AccountingPlan::OwnCgroup(plan) => Made::Own(plan.make()?),
            AccountingPlan::OwnCgroupFromStart => match from_start {
                // Node joined it itself, before its report.
                Some(cg) if cg.self_join_files().is_some() => Made::Joined(cg),
                Some(cg) => Made::Own(cg),
                None => {
                    return Err(StartError::NotReady(
                        "the sandbox's start made no cgroup".into(),
                    ))
                }
            },
            AccountingPlan::NestedCgroup { outer, inner } => Made::Nested(outer, inner),
            AccountingPlan::Watchdog => Made::Plain(Accounting::Watchdog),
            AccountingPlan::Unmetered => Made::Plain(Accounting::Unmetered),
            AccountingPlan::FromStart(pids) => Made::Plain(match from_start {
                Some(cg) => Accounting::EngineCgroup {
                    cg,
                    pids,
                    seen: Default::default(),
                },
                None => Accounting::Unmetered,
            }),
        };
        let startup = async {
            // How many generations below the program Node runs (None: not a process here).
            let launched = match &confirmation {
                Confirmation::LauncherReport { .. } | Confirmation::ContainerLauncher { .. } => {
                    let status = status.as_mut().ok_or_else(|| {
                        StartError::NotReady("the launcher has no status channel".into())
                    })?;
                    let report = confirm::launcher_report(status).await?;
                    tracing::debug!(
                        elapsed_ms = t0.elapsed().as_secs_f64() * 1e3,
                        "node exec'd in the sandbox"
                    );
                    Some(report)
                }
                _ => None,
            };
            let (report, node_depth) = match &confirmation {
                Confirmation::LauncherReport { node_depth } => (launched, Some(*node_depth)),
                Confirmation::ContainerLauncher { namespaces } => {
                    let mut report = launched.expect("read above");
                    report.namespaces = namespaces.clone();
                    report.rootfs = true;
                    (Some(report), None)
                }
                Confirmation::Inspect { .. } => (None, Some(1)),
                Confirmation::Declared(r) => (Some(r.clone()), None),
            };
            let find_node = || match node_depth {
                Some(depth) => procfs::descendant(root_pid, depth).ok_or_else(|| {
                    StartError::NotReady("Node is not running in the sandbox".into())
                }),
                None => Ok(0),
            };
            let procs = match &accounting {
                Made::Own(cg) => cg.procs_files(),
                _ => Vec::new(),
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
                    if let Confirmation::Inspect { tool, .. } = confirmation {
                        return Err(confirm::tool_failure(
                            e,
                            tool,
                            process.as_mut(),
                            status.as_mut(),
                        )
                        .await);
                    }
                    return Err(e);
                }
                Err(_) => return Err(StartError::StartupTimeout(startup_timeout_ms)),
            };
        let report = match (report, &confirmation) {
            (Some(r), _) => r,
            (None, Confirmation::Inspect { tool, expected }) => {
                confirm::inspect(node_pid, tool, expected)?
            }
            (None, _) => unreachable!("only an inspected sandbox has no report yet"),
        };
        let accounting = match accounting {
            Made::Own(cg) | Made::Joined(cg) => Accounting::OwnCgroup(cg),
            Made::Nested(outer, inner) => {
                let inner = outer.attach_child(inner(node_pid));
                Accounting::NestedCgroup { outer, inner }
            }
            Made::Plain(a) => a,
        };
        tracing::debug!(
            elapsed_ms = t0.elapsed().as_secs_f64() * 1e3,
            "runner ready"
        );
        Ok(Sandbox {
            process,
            job: Some(channel.job),
            events: Some(events),
            stdout: channel.stdout,
            stderr,
            accounting,
            node_pid,
            scratch,
            cleanups: None,
            backend,
            report,
            startup: t0.elapsed(),
            ready_at: std::time::Instant::now(),
            heap_cap_mib: None,
            fixed_memory_mib,
        })
    }
}

/// [`AccountingPlan`] once the program runs: the own group made; the nested one's inner
/// group is known once Node's pid is.
enum Made {
    Own(crate::cgroup::RunCgroup),
    /// Made, and joined by Node itself.
    Joined(crate::cgroup::RunCgroup),
    Nested(crate::cgroup::RunCgroup, fn(i32) -> String),
    Plain(Accounting),
}
