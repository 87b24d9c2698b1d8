//! Per-run cgroups: memory (no swap), pids, a CPU bandwidth limit and CPU accounting; cgroup
//! v2, or v1 where that is what the host mounts (one hierarchy per controller under
//! /sys/fs/cgroup/<controller>).
//!
//! Each run gets `nodecell-<host pid>-<n>` in every hierarchy; the launcher joins it before
//! anything else, so every process of the sandbox is inside. The host kills through it,
//! reads usage from it, and removes it after the run. Groups left by a crashed service
//! (their host pid no longer alive) are swept when the next one starts.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

static NEXT: AtomicU64 = AtomicU64::new(0);
const PREFIX: &str = "nodecell-";

#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error("no usable cgroup hierarchy under {0} (need memory and pids controllers)")]
    NotFound(PathBuf),
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
    /// The parent directories are writable: for an engine that serves one run, whose own
    /// group is made right after (a failure then fails that run, never weakens it).
    Writable,
}

/// Which cgroup layout the host has.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CgroupDriver {
    /// cgroup v2: one tree; runs are created under `parent`.
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

/// The CFS period the CPU limit is expressed in (100 ms, the kernel's default).
const CPU_PERIOD_US: u64 = 100_000;

/// The cgroup(s) of one run.
#[derive(Debug)]
pub struct RunCgroup {
    driver: CgroupDriver,
    name: String,
    /// Already removed, or created and removed by someone else (nsjail).
    removed: bool,
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

/// `dir` and every cgroup directory below it, parents before children.
fn tree(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![dir.to_path_buf()];
    let mut i = 0;
    while i < out.len() {
        if let Ok(entries) = fs::read_dir(&out[i]) {
            let subdirs: Vec<PathBuf> = entries
                .flatten()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .map(|e| e.path())
                .collect();
            out.extend(subdirs);
        }
        i += 1;
    }
    out
}

fn pid_alive(pid: i32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

impl CgroupDriver {
    /// Finds a usable layout under `root` (normally /sys/fs/cgroup) and proves it usable as
    /// `proof` says. Sweeps groups left by dead services.
    pub fn detect(root: &Path, proof: CgroupProof) -> Result<CgroupDriver, CgroupError> {
        let controllers = fs::read_to_string(root.join("cgroup.controllers")).unwrap_or_default();
        let driver = if controllers.split_whitespace().any(|c| c == "memory")
            && controllers.split_whitespace().any(|c| c == "pids")
        {
            // Children of `root` get the controllers only if they are enabled in its subtree.
            let _ = fs::write(root.join("cgroup.subtree_control"), "+memory +pids +cpu");
            CgroupDriver::V2 {
                parent: root.to_path_buf(),
            }
        } else if root.join("memory/memory.limit_in_bytes").exists() && root.join("pids").is_dir() {
            let cpuacct = root.join("cpuacct");
            let cpu = root.join("cpu");
            CgroupDriver::V1 {
                memory: root.join("memory"),
                pids: root.join("pids"),
                cpuacct: cpuacct.join("cpuacct.usage").exists().then_some(cpuacct),
                cpu: cpu.join("cpu.cfs_quota_us").exists().then_some(cpu),
            }
        } else {
            return Err(CgroupError::NotFound(root.to_path_buf()));
        };
        let parents = driver.parents();
        driver.sweep_stale(&parents);
        match proof {
            CgroupProof::CreateGroup => driver.create()?.remove(),
            CgroupProof::Writable => {
                for parent in parents {
                    nix::unistd::faccessat(
                        nix::fcntl::AT_FDCWD,
                        parent,
                        nix::unistd::AccessFlags::W_OK,
                        nix::fcntl::AtFlags::AT_EACCESS,
                    )
                    .map_err(|e| CgroupError::Create {
                        path: parent.to_path_buf(),
                        source: e.into(),
                    })?;
                }
            }
        }
        Ok(driver)
    }

    pub fn version(&self) -> u8 {
        match self {
            CgroupDriver::V2 { .. } => 2,
            CgroupDriver::V1 { .. } => 1,
        }
    }

    /// Whether a CPU bandwidth limit can be set (the cpu controller is there).
    pub fn has_cpu_controller(&self) -> bool {
        match self {
            CgroupDriver::V2 { parent } => fs::read_to_string(parent.join("cgroup.controllers"))
                .is_ok_and(|c| c.split_whitespace().any(|c| c == "cpu")),
            CgroupDriver::V1 { cpu, .. } => cpu.is_some(),
        }
    }

    /// Every hierarchy's directory in which groups are made, each once.
    fn parents(&self) -> Vec<&Path> {
        match self {
            CgroupDriver::V2 { parent } => vec![parent],
            CgroupDriver::V1 {
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

    /// Removes `nodecell-<pid>-*` groups whose service process is gone from `parents`.
    fn sweep_stale(&self, parents: &[&Path]) {
        for &parent in parents {
            let Ok(dir) = fs::read_dir(parent) else {
                continue;
            };
            for entry in dir.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                let Some(pid) = name
                    .strip_prefix(PREFIX)
                    .and_then(|r| r.split('-').next()?.parse::<i32>().ok())
                else {
                    continue;
                };
                if !pid_alive(pid) {
                    let stale = RunCgroup {
                        driver: self.clone(),
                        name,
                        removed: false,
                    };
                    stale.remove();
                }
            }
        }
    }

    /// A new, empty group for one run.
    pub fn create(&self) -> Result<RunCgroup, CgroupError> {
        let name = format!(
            "{PREFIX}{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let cg = RunCgroup {
            driver: self.clone(),
            name,
            removed: false,
        };
        for dir in cg.dirs() {
            fs::create_dir(&dir).map_err(|source| CgroupError::Create {
                path: dir.clone(),
                source,
            })?;
        }
        if let CgroupDriver::V1 { memory, .. } = self {
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
        let cg = self.driver.create()?;
        cg.set_memory_limit(self.memory_bytes)?;
        cg.set_pids_limit(self.max_processes)?;
        if let Some(ms) = self.cpu_ms_per_sec {
            cg.set_cpu_limit(ms)?;
        }
        Ok(cg)
    }
}

impl RunCgroup {
    /// A group someone else created (and will remove), e.g. nsjail's group for one sandbox.
    fn attach(driver: CgroupDriver, name: String) -> RunCgroup {
        RunCgroup {
            driver,
            name,
            removed: true,
        }
    }

    /// The group's name (the same in every hierarchy).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The group `name` below this one, created and removed by someone else (nsjail).
    pub fn attach_child(&self, name: String) -> RunCgroup {
        let driver = match &self.driver {
            CgroupDriver::V2 { parent } => CgroupDriver::V2 {
                parent: parent.join(&self.name),
            },
            CgroupDriver::V1 {
                memory,
                pids,
                cpuacct,
                cpu,
            } => CgroupDriver::V1 {
                memory: memory.join(&self.name),
                pids: pids.join(&self.name),
                cpuacct: cpuacct.as_ref().map(|c| c.join(&self.name)),
                cpu: cpu.as_ref().map(|c| c.join(&self.name)),
            },
        };
        RunCgroup::attach(driver, name)
    }

    /// Memory the group uses now.
    pub fn memory_usage_bytes(&self) -> Option<u64> {
        match &self.driver {
            CgroupDriver::V2 { parent } => read_u64(&self.file(parent, "memory.current")),
            CgroupDriver::V1 { memory, .. } => {
                read_u64(&self.file(memory, "memory.usage_in_bytes"))
            }
        }
    }

    /// Restarts peak tracking from the current usage (cgroup v1; on v2 `memory.peak` is
    /// reset by any write, on kernels ≥ 6.12).
    pub fn reset_memory_peak(&self) {
        let (dir, file) = match &self.driver {
            CgroupDriver::V2 { parent } => (parent, "memory.peak"),
            CgroupDriver::V1 { memory, .. } => (memory, "memory.max_usage_in_bytes"),
        };
        let _ = fs::write(self.file(dir, file), "0");
    }

    /// The group's directory in every hierarchy.
    pub fn dirs(&self) -> Vec<PathBuf> {
        self.driver
            .parents()
            .into_iter()
            .map(|p| p.join(&self.name))
            .collect()
    }

    fn file(&self, controller_dir: &Path, file: &str) -> PathBuf {
        controller_dir.join(&self.name).join(file)
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
        match &self.driver {
            CgroupDriver::V2 { parent } => {
                write(self.file(parent, "memory.max"), bytes)?;
                let _ = fs::write(self.file(parent, "memory.swap.max"), "0");
                let _ = fs::write(self.file(parent, "memory.oom.group"), "1");
                Ok(())
            }
            CgroupDriver::V1 { memory, .. } => {
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
        let dir = match &self.driver {
            CgroupDriver::V2 { parent } => parent,
            CgroupDriver::V1 { pids, .. } => pids,
        };
        write(self.file(dir, "pids.max"), n)
    }

    /// Limits the group to `ms_per_sec` milliseconds of CPU time per second of wall time
    /// (1000: one CPU's worth, spread over any number of threads).
    pub fn set_cpu_limit(&self, ms_per_sec: u64) -> Result<(), CgroupError> {
        let quota_us = ms_per_sec * (CPU_PERIOD_US / 1000);
        match &self.driver {
            CgroupDriver::V2 { parent } => write(
                self.file(parent, "cpu.max"),
                format!("{quota_us} {CPU_PERIOD_US}"),
            ),
            CgroupDriver::V1 { cpu, .. } => {
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
        match &self.driver {
            CgroupDriver::V2 { parent } => {
                read_key(&self.file(parent, "cpu.stat"), "usage_usec").map(|us| us * 1000)
            }
            CgroupDriver::V1 { cpuacct, .. } => {
                read_u64(&self.file(cpuacct.as_ref()?, "cpuacct.usage"))
            }
        }
    }

    /// Peak memory of the group since it was created.
    pub fn memory_peak_bytes(&self) -> Option<u64> {
        match &self.driver {
            CgroupDriver::V2 { parent } => read_u64(&self.file(parent, "memory.peak")),
            CgroupDriver::V1 { memory, .. } => {
                read_u64(&self.file(memory, "memory.max_usage_in_bytes"))
            }
        }
    }

    /// Whether the kernel's OOM killer acted in this group.
    pub fn oom_killed(&self) -> bool {
        let n = match &self.driver {
            CgroupDriver::V2 { parent } => {
                read_key(&self.file(parent, "memory.events"), "oom_kill")
            }
            CgroupDriver::V1 { memory, .. } => {
                read_key(&self.file(memory, "memory.oom_control"), "oom_kill")
            }
        };
        n.unwrap_or(0) > 0
    }

    /// Processes of the group and of the groups below it (nsjail nests its own in ours).
    fn pids(&self) -> Vec<i32> {
        let mut out = Vec::new();
        for dir in self.dirs().iter().flat_map(|d| tree(d)) {
            if let Ok(text) = fs::read_to_string(dir.join("cgroup.procs")) {
                out.extend(text.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    /// SIGKILLs every process in the group.
    pub fn kill_all(&self) {
        if let CgroupDriver::V2 { parent } = &self.driver {
            if fs::write(self.file(parent, "cgroup.kill"), "1").is_ok() {
                return;
            }
        }
        for pid in self.pids() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
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
        for attempt in 0..400 {
            self.kill_all();
            let mut busy = false;
            // Groups below this one first (nsjail does not remove its own when it is stopped).
            for dir in self.dirs().iter().flat_map(|d| tree(d)).rev() {
                match fs::remove_dir(&dir) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(_) => busy = true,
                }
            }
            if !busy {
                return;
            }
            std::thread::sleep(Duration::from_millis(if attempt < 20 { 1 } else { 5 }));
        }
        tracing::warn!(cgroup = %self.name, "cgroup still busy after 2 s; left for the next sweep");
    }
}

impl Drop for RunCgroup {
    fn drop(&mut self) {
        self.remove_now();
    }
}
