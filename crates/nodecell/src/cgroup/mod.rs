//! Per-run cgroups: memory (no swap), pids, a CPU bandwidth limit and CPU accounting; cgroup
//! v2, or v1 where that is what the host mounts (one hierarchy per controller under
//! /sys/fs/cgroup/<controller>).
//!
//! Each process has one instance directory `nodecell-<32 random hex digits>` at the top of
//! every hierarchy (on v2, in the cgroup delegated to it where it may not write at the top:
//! [`delegation`]), locked while it lives ([`instance`]); each run gets `run-<n>` inside it
//! in every hierarchy. The host moves Node into it while Node boots, so every process of
//! the sandbox is inside; the host kills through it, reads usage from it, and removes it
//! after the run. The instances of dead processes (their lock is free, whatever PID
//! namespace they ran in) are swept when the next process makes its own.

pub mod delegation;
pub mod instance;

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use instance::Instance;

#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error("no usable cgroup hierarchy under {0} (need memory and pids controllers)")]
    NotFound(PathBuf),
    #[error("cgroup v2: {0}")]
    Delegation(String),
    #[error("cannot create cgroup {path}: {source}")]
    Create { path: PathBuf, source: io::Error },
    #[error("cannot write {value} to {path}: {source}")]
    Write {
        path: PathBuf,
        value: String,
        source: io::Error,
    },
}

/// How [`CgroupDriver::detect`] makes sure runs can have groups.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CgroupProof {
    /// Create and remove a group: exact, for an engine that reports before its first run.
    CreateGroup,
    /// The instance's directories are made (the hierarchies are writable): for an engine that
    /// serves one run, whose own group is made right after (a failure then fails that run,
    /// never weakens it).
    Writable,
}

/// Where groups are made: a directory in each hierarchy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Layout {
    /// cgroup v2: one tree; groups are created under `parent`.
    V2 { parent: PathBuf },
    /// cgroup v1: a tree per controller.
    V1 {
        memory: PathBuf,
        pids: PathBuf,
        cpuacct: Option<PathBuf>,
        /// The cpu controller's hierarchy (CPU bandwidth limit), if mounted; may be the same
        /// directory as `cpuacct` (mounted together as `cpu,cpuacct`).
        cpu: Option<PathBuf>,
    },
}

/// The host's cgroups as this process uses them: its instance, in which runs get groups.
#[derive(Clone, Debug)]
pub struct CgroupDriver {
    /// The instance's directory in each hierarchy.
    layout: Layout,
    /// The hierarchies' top directories.
    top: Layout,
    instance: Arc<Instance>,
}

/// The CFS period the CPU limit is expressed in (100 ms, the kernel's default).
const CPU_PERIOD_US: u64 = 100_000;

/// The cgroup(s) of one run.
#[derive(Debug)]
pub struct RunCgroup {
    /// Where the group is, in each hierarchy.
    parent: Layout,
    name: String,
    /// Already removed, or created and removed by someone else (nsjail).
    removed: bool,
    /// The instance lives at least as long as its groups.
    instance: Arc<Instance>,
}

fn write(path: PathBuf, value: impl ToString) -> Result<(), CgroupError> {
    let value = value.to_string();
    fs::write(&path, &value).map_err(|source| CgroupError::Write {
        path,
        value,
        source,
    })
}

fn read_u64(path: &Path) -> Option<u64> {
    fs::read_to_string(path).ok()?.trim().parse().ok()
}

fn read_key(path: &Path, key: &str) -> Option<u64> {
    let text = fs::read_to_string(path).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(' ')?.trim().parse().ok())
}

impl Layout {
    /// The hierarchies under `root` (normally /sys/fs/cgroup), if they have the memory and
    /// pids controllers.
    fn detect(root: &Path) -> Result<Layout, CgroupError> {
        let controllers = fs::read_to_string(root.join("cgroup.controllers")).unwrap_or_default();
        if controllers.split_whitespace().any(|c| c == "memory")
            && controllers.split_whitespace().any(|c| c == "pids")
        {
            // The top of the tree, or the cgroup delegated to this process, with the
            // controllers passed on to its children.
            let parent = delegation::parent(root).map_err(CgroupError::Delegation)?;
            Ok(Layout::V2 { parent })
        } else if root.join("memory/memory.limit_in_bytes").exists() && root.join("pids").is_dir() {
            let cpuacct = root.join("cpuacct");
            let cpu = root.join("cpu");
            Ok(Layout::V1 {
                memory: root.join("memory"),
                pids: root.join("pids"),
                cpuacct: cpuacct.join("cpuacct.usage").exists().then_some(cpuacct),
                cpu: cpu.join("cpu.cfs_quota_us").exists().then_some(cpu),
            })
        } else {
            Err(CgroupError::NotFound(root.to_path_buf()))
        }
    }

    fn version(&self) -> u8 {
        match self {
            Layout::V2 { .. } => 2,
            Layout::V1 { .. } => 1,
        }
    }

    /// Every hierarchy's directory, each once.
    fn dirs(&self) -> Vec<&Path> {
        match self {
            Layout::V2 { parent } => vec![parent],
            Layout::V1 {
                memory,
                pids,
                cpuacct,
                cpu,
            } => {
                let mut v = vec![memory.as_path(), pids.as_path()];
                for dir in [cpuacct, cpu].into_iter().flatten() {
                    let same = |p: &&Path| fs::canonicalize(p).ok() == fs::canonicalize(dir).ok();
                    if !v.iter().any(same) {
                        v.push(dir);
                    }
                }
                v
            }
        }
    }

    /// The group `name` in each hierarchy.
    fn join(&self, name: &str) -> Layout {
        match self {
            Layout::V2 { parent } => Layout::V2 {
                parent: parent.join(name),
            },
            Layout::V1 {
                memory,
                pids,
                cpuacct,
                cpu,
            } => Layout::V1 {
                memory: memory.join(name),
                pids: pids.join(name),
                cpuacct: cpuacct.as_ref().map(|c| c.join(name)),
                cpu: cpu.as_ref().map(|c| c.join(name)),
            },
        }
    }
}

impl CgroupDriver {
    /// Finds a usable layout under `root` (normally /sys/fs/cgroup), sweeps the instances of
    /// dead processes, makes (or shares) this process's instance, and proves it usable as
    /// `proof` says.
    pub fn detect(root: &Path, proof: CgroupProof) -> Result<CgroupDriver, CgroupError> {
        let top = Layout::detect(root)?;
        let instance =
            Instance::get(&top.dirs(), top.version() == 2).map_err(|e| CgroupError::Create {
                path: e.path,
                source: e.source,
            })?;
        let driver = CgroupDriver {
            layout: top.join(instance.name()),
            top,
            instance,
        };
        match proof {
            CgroupProof::CreateGroup => driver.create()?.remove(),
            // Making the instance's directories proved the hierarchies writable.
            CgroupProof::Writable => {}
        }
        Ok(driver)
    }

    pub fn version(&self) -> u8 {
        self.layout.version()
    }

    /// The instance's directory in each hierarchy (run groups are made in them).
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// The same instance, without the cpuacct hierarchy (for a program that makes its own
    /// groups in the others only: nsjail).
    pub fn without_cpuacct(&self) -> CgroupDriver {
        let layout = match &self.layout {
            Layout::V1 {
                memory, pids, cpu, ..
            } => Layout::V1 {
                memory: memory.clone(),
                pids: pids.clone(),
                cpuacct: None,
                cpu: cpu.clone(),
            },
            v2 => v2.clone(),
        };
        CgroupDriver {
            layout,
            top: self.top.clone(),
            instance: self.instance.clone(),
        }
    }

    /// The group a container engine made for its container whose first process is `pid`
    /// (host pid) and whose id is `container`: read, limited and killed through like a run's
    /// own, never removed by nodecell (the engine removes it with the container). None where
    /// the process is not in a group named after the container (an engine on another
    /// machine or VM, whose pids are not this host's), or its groups differ by hierarchy.
    pub fn group_of_container(&self, pid: u32, container: &str) -> Option<RunCgroup> {
        let text = fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
        let path_of = |controller: &str| {
            text.lines().find_map(|line| {
                let mut parts = line.splitn(3, ':');
                let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
                let wanted = match controller {
                    "" => controllers.is_empty(),
                    c => controllers.split(',').any(|x| x == c),
                };
                wanted.then(|| path.to_string())
            })
        };
        let path = match &self.top {
            Layout::V2 { .. } => path_of("")?,
            Layout::V1 { .. } => {
                let memory = path_of("memory")?;
                (path_of("pids")? == memory).then_some(memory)?
            }
        };
        let path = Path::new(path.trim_start_matches('/'));
        let name = path.file_name()?.to_str()?;
        if !name.contains(container) {
            return None;
        }
        let parent = path.parent()?.to_str()?;
        Some(RunCgroup {
            parent: if parent.is_empty() {
                self.top.clone()
            } else {
                self.top.join(parent)
            },
            name: name.to_string(),
            removed: true,
            instance: self.instance.clone(),
        })
    }

    /// Whether a CPU bandwidth limit can be set (the cpu controller is there).
    pub fn has_cpu_controller(&self) -> bool {
        match &self.layout {
            Layout::V2 { parent } => fs::read_to_string(parent.join("cgroup.subtree_control"))
                .is_ok_and(|c| c.split_whitespace().any(|c| c == "cpu")),
            Layout::V1 { cpu, .. } => cpu.is_some(),
        }
    }

    /// A new, empty group for one run.
    pub fn create(&self) -> Result<RunCgroup, CgroupError> {
        self.create_named(self.instance.next_run_name())
    }

    /// A new, empty group called `name` in this instance.
    fn create_named(&self, name: String) -> Result<RunCgroup, CgroupError> {
        let cg = RunCgroup {
            parent: self.layout.clone(),
            name,
            removed: false,
            instance: self.instance.clone(),
        };
        for dir in cg.dirs() {
            fs::create_dir(&dir).map_err(|source| CgroupError::Create {
                path: dir.clone(),
                source,
            })?;
        }
        if let Layout::V1 { memory, .. } = &self.layout {
            let _ = fs::write(memory.join(&cg.name).join("memory.swappiness"), "0");
        }
        Ok(cg)
    }
}

/// A run's group before it exists: where, and its limits.
#[derive(Clone, Debug)]
pub struct CgroupPlan {
    pub driver: CgroupDriver,
    pub memory_bytes: u64,
    pub max_processes: u64,
    /// CPU bandwidth in ms per second, if limited.
    pub cpu_ms_per_sec: Option<u64>,
}

impl CgroupPlan {
    /// Creates the group with its limits (removed again if a limit cannot be set).
    pub fn make(&self) -> Result<RunCgroup, CgroupError> {
        self.limit(self.driver.create()?)
    }

    /// [`CgroupPlan::make`] for a zygote (`zygote-<n>`, which the tests tell from a run's).
    pub fn make_for_zygote(&self) -> Result<RunCgroup, CgroupError> {
        self.limit(
            self.driver
                .create_named(self.driver.instance.next_name("zygote"))?,
        )
    }

    fn limit(&self, cg: RunCgroup) -> Result<RunCgroup, CgroupError> {
        cg.set_memory_limit(self.memory_bytes)?;
        cg.set_pids_limit(self.max_processes)?;
        if let Some(ms) = self.cpu_ms_per_sec {
            cg.set_cpu_limit(ms)?;
        }
        Ok(cg)
    }
}

impl RunCgroup {
    /// The group's name (the same in every hierarchy).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The group `name` below this one, created and removed by someone else (nsjail).
    pub fn attach_child(&self, name: String) -> RunCgroup {
        RunCgroup {
            parent: self.parent.join(&self.name),
            name,
            removed: true,
            instance: self.instance.clone(),
        }
    }

    /// Memory the group uses now.
    pub fn memory_usage_bytes(&self) -> Option<u64> {
        match &self.parent {
            Layout::V2 { parent } => read_u64(&self.file(parent, "memory.current")),
            Layout::V1 { memory, .. } => read_u64(&self.file(memory, "memory.usage_in_bytes")),
        }
    }

    /// Restarts peak tracking from the current usage (cgroup v1; on v2 `memory.peak` is
    /// reset by any write, on kernels ≥ 6.12).
    pub fn reset_memory_peak(&self) {
        let (dir, file) = match &self.parent {
            Layout::V2 { parent } => (parent, "memory.peak"),
            Layout::V1 { memory, .. } => (memory, "memory.max_usage_in_bytes"),
        };
        let _ = fs::write(self.file(dir, file), "0");
    }

    /// The group's directory in every hierarchy.
    pub fn dirs(&self) -> Vec<PathBuf> {
        self.parent
            .dirs()
            .into_iter()
            .map(|p| p.join(&self.name))
            .collect()
    }

    fn file(&self, controller_dir: &Path, file: &str) -> PathBuf {
        controller_dir.join(&self.name).join(file)
    }

    /// The files through which a process with one thread moves itself into this group by
    /// writing `0`: cgroup v1's `tasks`. A thread that moves itself skips the kernel's global
    /// threadgroup lock, whose writers wait for an RCU grace period (~8 ms here; a write of
    /// a pid to `cgroup.procs` waits for it). None on cgroup v2, which has no such file.
    pub fn self_join_files(&self) -> Option<Vec<PathBuf>> {
        match &self.parent {
            Layout::V1 { .. } => Some(self.dirs().into_iter().map(|d| d.join("tasks")).collect()),
            Layout::V2 { .. } => None,
        }
    }

    /// The files a process writes its pid into to join this group.
    pub fn procs_files(&self) -> Vec<PathBuf> {
        self.dirs()
            .into_iter()
            .map(|d| d.join("cgroup.procs"))
            .collect()
    }

    /// Memory limit, swap included (no swap at all).
    pub fn set_memory_limit(&self, bytes: u64) -> Result<(), CgroupError> {
        match &self.parent {
            Layout::V2 { parent } => {
                write(self.file(parent, "memory.max"), bytes)?;
                let _ = fs::write(self.file(parent, "memory.swap.max"), "0");
                let _ = fs::write(self.file(parent, "memory.oom.group"), "1");
                Ok(())
            }
            Layout::V1 { memory, .. } => {
                let limit = self.file(memory, "memory.limit_in_bytes");
                let memsw = self.file(memory, "memory.memsw.limit_in_bytes");
                // memsw must stay >= limit at every moment: raise memsw first, lower it last.
                let current = read_u64(&limit).unwrap_or(u64::MAX);
                if memsw.exists() && bytes >= current {
                    write(memsw.clone(), bytes)?;
                }
                write(limit, bytes)?;
                if memsw.exists() && bytes < current {
                    write(memsw, bytes)?;
                }
                Ok(())
            }
        }
    }

    /// Processes and threads together.
    pub fn set_pids_limit(&self, n: u64) -> Result<(), CgroupError> {
        let dir = match &self.parent {
            Layout::V2 { parent } => parent,
            Layout::V1 { pids, .. } => pids,
        };
        write(self.file(dir, "pids.max"), n)
    }

    /// Limits the group to `ms_per_sec` milliseconds of CPU time per second of wall time
    /// (1000: one CPU's worth, spread over any number of threads).
    pub fn set_cpu_limit(&self, ms_per_sec: u64) -> Result<(), CgroupError> {
        let quota_us = ms_per_sec * (CPU_PERIOD_US / 1000);
        match &self.parent {
            Layout::V2 { parent } => write(
                self.file(parent, "cpu.max"),
                format!("{quota_us} {CPU_PERIOD_US}"),
            ),
            Layout::V1 { cpu, .. } => {
                let Some(cpu) = cpu else {
                    return Err(CgroupError::NotFound(PathBuf::from("cpu controller")));
                };
                write(self.file(cpu, "cpu.cfs_period_us"), CPU_PERIOD_US)?;
                write(self.file(cpu, "cpu.cfs_quota_us"), quota_us)
            }
        }
    }

    /// CPU time used by the group so far, in nanoseconds.
    pub fn cpu_usage_ns(&self) -> Option<u64> {
        match &self.parent {
            Layout::V2 { parent } => {
                read_key(&self.file(parent, "cpu.stat"), "usage_usec").map(|us| us * 1000)
            }
            Layout::V1 { cpuacct, .. } => read_u64(&self.file(cpuacct.as_ref()?, "cpuacct.usage")),
        }
    }

    /// Peak memory of the group since it was created.
    pub fn memory_peak_bytes(&self) -> Option<u64> {
        match &self.parent {
            Layout::V2 { parent } => read_u64(&self.file(parent, "memory.peak")),
            Layout::V1 { memory, .. } => read_u64(&self.file(memory, "memory.max_usage_in_bytes")),
        }
    }

    /// Whether the kernel's OOM killer acted in this group.
    pub fn oom_killed(&self) -> bool {
        let n = match &self.parent {
            Layout::V2 { parent } => read_key(&self.file(parent, "memory.events"), "oom_kill"),
            Layout::V1 { memory, .. } => {
                read_key(&self.file(memory, "memory.oom_control"), "oom_kill")
            }
        };
        n.unwrap_or(0) > 0
    }

    /// SIGKILLs every process in the group and in the groups below it (nsjail nests its own
    /// in ours).
    pub fn kill_all(&self) {
        let v2 = self.parent.version() == 2;
        for dir in self.dirs() {
            instance::kill_tree(&dir, v2);
        }
    }

    /// Kills what is left, waits until the group is empty, and removes it (blocking, ≤ 2 s).
    pub fn remove(mut self) {
        self.remove_now();
    }

    fn remove_now(&mut self) {
        if self.removed {
            return;
        }
        self.removed = true;
        // Normally the run's processes are gone and nothing is nested inside: one rmdir per
        // hierarchy. Otherwise (a process left, nsjail's own group inside) the loop below.
        if self.dirs().iter().all(|dir| match fs::remove_dir(dir) {
            Ok(()) => true,
            Err(e) => e.kind() == io::ErrorKind::NotFound,
        }) {
            return;
        }
        let v2 = self.parent.version() == 2;
        // Groups below this one first (nsjail does not remove its own when it is stopped).
        // Every hierarchy is tried, even after one failed.
        let cleaned: Vec<bool> = self
            .dirs()
            .iter()
            .map(|dir| instance::clean(dir, v2))
            .collect();
        let gone = cleaned.into_iter().all(|c| c);
        if !gone {
            crate::warn_limited!(cgroup = %self.name, "cgroup still busy after 2 s; left for the sweep after this process");
        }
    }
}

impl Drop for RunCgroup {
    fn drop(&mut self) {
        self.remove_now();
    }
}
