//! Where a sandbox's memory, processes and CPU time are counted and limited: nodecell's own
//! cgroup, a cgroup the sandbox's program nests its own in, or (without cgroups) /proc, the
//! job's RLIMIT_DATA and the host's watchdog.

use crate::cgroup::RunCgroup;
use crate::limits::Limits;
use crate::outcome::Usage;
use crate::procfs;

use super::plan::PidsAllowance;

/// [`super::plan::AccountingPlan`] once the sandbox's processes exist: every group made.
pub(crate) enum Accounting {
    /// nodecell's own group: Node's boot stayed charged to the parent.
    OwnCgroup(RunCgroup),
    /// Usage and OOM kills from `outer`, job limits on `inner` (the program's group for
    /// Node, which it creates and removes).
    NestedCgroup { outer: RunCgroup, inner: RunCgroup },
    /// The group a container engine made for the container (and removes with it), where
    /// everything of the sandbox ran from the start: the job's memory limit is set above
    /// what the ready sandbox uses (which its usage does not count), its pids limit with
    /// the allowance of what runs the sandbox. The engine removes the group as soon as
    /// the container ends (gVisor's whole sandbox is OOM-killed, for one), often before the
    /// end is read: what the host sampled during the run stands in for it (`seen`).
    EngineCgroup {
        cg: RunCgroup,
        pids: PidsAllowance,
        seen: Seen,
    },
    /// /proc figures and the host's watchdog.
    Watchdog,
    /// Nothing of the host to count or limit.
    Unmetered,
}

/// An engine group's figures as sampled while the run went on.
#[derive(Debug, Default)]
pub(crate) struct Seen {
    peak: u64,
    cpu_ns: Option<u64>,
    oom: bool,
}

impl Accounting {
    /// The group usage is read from and everything is killed through, if any.
    pub(crate) fn cgroup(&self) -> Option<&RunCgroup> {
        match self {
            Accounting::OwnCgroup(cg)
            | Accounting::NestedCgroup { outer: cg, .. }
            | Accounting::EngineCgroup { cg, .. } => Some(cg),
            Accounting::Watchdog | Accounting::Unmetered => None,
        }
    }

    /// Takes the group out, for removal; nothing is counted afterwards.
    pub(crate) fn take_cgroup(&mut self) -> Option<RunCgroup> {
        match std::mem::replace(self, Accounting::Unmetered) {
            Accounting::OwnCgroup(cg)
            | Accounting::NestedCgroup { outer: cg, .. }
            | Accounting::EngineCgroup { cg, .. } => Some(cg),
            Accounting::Watchdog | Accounting::Unmetered => None,
        }
    }

    /// The host samples the run's memory and processes itself.
    pub(crate) fn is_watchdog(&self) -> bool {
        matches!(self, Accounting::Watchdog)
    }

    /// The host samples a group another program removes (see [`Seen`]).
    pub(crate) fn is_sampled_group(&self) -> bool {
        matches!(self, Accounting::EngineCgroup { .. })
    }

    /// Records the engine group's peak, CPU time and OOM kills while it still exists.
    pub(crate) fn sample_group(&mut self) {
        if let Accounting::EngineCgroup { cg, seen, .. } = self {
            if let Some(peak) = cg.memory_peak_bytes() {
                seen.peak = seen.peak.max(peak);
            }
            seen.cpu_ns = cg.cpu_usage_ns().or(seen.cpu_ns);
            seen.oom = seen.oom || cg.oom_killed();
        }
    }

    /// Sets the job's memory and process limits; returns the memory the ready sandbox
    /// already uses where that is counted against the limit (a nested cgroup, the watchdog).
    /// `node` is Node's host pid, `root` the sandbox's root process on the host.
    pub(crate) fn apply_job_limits(
        &self,
        limits: &Limits,
        node: i32,
        root: i32,
    ) -> Result<u64, String> {
        let memory = limits.memory_bytes();
        match self {
            Accounting::OwnCgroup(cg) => {
                cg.set_memory_limit(memory)
                    .and_then(|_| cg.set_pids_limit(limits.max_processes))
                    .map_err(|e| e.to_string())?;
                Ok(0)
            }
            // The inner group holds everything Node allocated since it started: the job may
            // add its limit to that.
            Accounting::NestedCgroup { outer, inner } => {
                let used = outer
                    .memory_usage_bytes()
                    .ok_or("cannot read the sandbox's memory usage")?;
                inner
                    .set_memory_limit(used + memory)
                    .and_then(|_| inner.set_pids_limit(limits.max_processes))
                    .map_err(|e| e.to_string())?;
                outer.reset_memory_peak();
                Ok(used)
            }
            Accounting::EngineCgroup { cg, pids, .. } => {
                let used = cg
                    .memory_usage_bytes()
                    .ok_or("cannot read the sandbox's memory usage")?;
                cg.set_memory_limit(used + memory)
                    .and_then(|_| cg.set_pids_limit(pids.limit(limits.max_processes)))
                    .map_err(|e| e.to_string())?;
                cg.reset_memory_peak();
                Ok(used)
            }
            // The watchdog holds resident memory to the limit above what is resident now,
            // and Node's private memory may grow by the limit (RLIMIT_DATA). Changing another
            // user's rlimit takes CAP_SYS_RESOURCE (which a root service in a container may
            // lack): without it, the limit set at start stays (the start limits' memory +
            // BOOT_DATA_ALLOWANCE).
            Accounting::Watchdog => {
                let data = procfs::status_kib_field(node, "VmData")
                    .ok_or("cannot read the sandbox's memory usage")?;
                if let Err(e) =
                    crate::sys::set_process_rlimit(node, libc::RLIMIT_DATA as _, data + memory)
                {
                    tracing::debug!(error = %e, "RLIMIT_DATA stays as set at start");
                }
                Ok(tree_usage(root, node).0)
            }
            Accounting::Unmetered => Ok(0),
        }
    }

    /// CPU time of the run so far: its cgroup's, or Node's own and its reaped children's.
    pub(crate) fn cpu_ns(&self, node: i32) -> Option<u64> {
        match self {
            Accounting::Unmetered => None,
            _ => self
                .cgroup()
                .and_then(RunCgroup::cpu_usage_ns)
                .or_else(|| procfs::cpu_ns(node)),
        }
    }

    /// Whether the kernel's OOM killer acted in the run's memory cgroup. A program that
    /// removes Node's group as soon as Node is dead (nsjail) leaves no counter on cgroup v1
    /// (which does not count OOM kills up the tree), so there the sign is that usage
    /// reached the job's limit (v1 charges never pass it).
    /// An engine's group may be gone by the end: then the kill or a peak at the limit seen
    /// while it ran says so.
    pub(crate) fn oom_killed(&self, usage: &Usage, limits: &Limits) -> bool {
        match self {
            Accounting::OwnCgroup(cg) => cg.oom_killed(),
            Accounting::EngineCgroup { cg, seen, .. } => {
                cg.oom_killed()
                    || seen.oom
                    || usage.memory_peak_bytes + (1 << 20) >= limits.memory_bytes()
            }
            Accounting::NestedCgroup { outer, .. } => {
                outer.oom_killed() || usage.memory_peak_bytes + (1 << 20) >= limits.memory_bytes()
            }
            Accounting::Watchdog | Accounting::Unmetered => false,
        }
    }

    /// Usage as the host measures it, at the end of the run (before the sandbox is stopped).
    pub(crate) fn usage(
        &self,
        wall: std::time::Duration,
        cpu0: Option<u64>,
        baseline: u64,
        peak_seen: u64,
        node: i32,
        root: i32,
    ) -> Usage {
        let mut usage = Usage {
            wall_ms: wall.as_secs_f64() * 1e3,
            ..Default::default()
        };
        let cpu = match self {
            Accounting::EngineCgroup { cg, seen, .. } => cg.cpu_usage_ns().or(seen.cpu_ns),
            _ => self.cpu_ns(node),
        };
        if let (Some(a), Some(b)) = (cpu0, cpu) {
            usage.cpu_ms = b.saturating_sub(a) as f64 / 1e6;
        }
        let peak = match self {
            Accounting::Unmetered => 0,
            Accounting::EngineCgroup { cg, seen, .. } => {
                cg.memory_peak_bytes().unwrap_or(0).max(seen.peak)
            }
            _ => match self.cgroup() {
                Some(cg) => cg.memory_peak_bytes().unwrap_or(0),
                None => peak_seen.max(tree_usage(root, node).0),
            },
        };
        usage.memory_peak_bytes = peak.saturating_sub(baseline);
        usage
    }
}

/// Resident memory and number of threads of every process below `root` (the sandbox's
/// program, which a landlock sandbox's orphans are re-parented to), and of `root` itself
/// where it is Node (`node`: a sandbox forked from a zygote).
pub(crate) fn tree_usage(root: i32, node: i32) -> (u64, u64) {
    procfs::tree(root)
        .into_iter()
        .skip(usize::from(root != node))
        .fold((0, 0), |(rss, n), pid| {
            (
                rss + procfs::rss_bytes(pid).unwrap_or(0),
                n + procfs::threads(pid).unwrap_or(0),
            )
        })
}
