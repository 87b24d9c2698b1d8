//! What this host can enforce, what a backend requires, and the report `nodecell check` prints.

use std::fmt;

use serde::{Deserialize, Serialize};

/// One protection a sandbox can have.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Protection {
    /// New user, pid, mount, network, IPC, UTS and cgroup namespaces.
    Namespaces,
    /// A minimal read-only root with a private, size-capped, noexec /tmp.
    RootFilesystem,
    Landlock,
    Seccomp,
    /// A memory cgroup (memory limit without swap, OOM detection, peak usage).
    CgroupMemory,
    /// A pids cgroup (processes + threads).
    CgroupPids,
    /// A cpu cgroup: a CPU bandwidth limit (`cpu_ms_per_sec`).
    CgroupCpu,
}

impl Protection {
    pub const ALL: [Protection; 7] = [
        Protection::Namespaces,
        Protection::RootFilesystem,
        Protection::Landlock,
        Protection::Seccomp,
        Protection::CgroupMemory,
        Protection::CgroupPids,
        Protection::CgroupCpu,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Protection::Namespaces => "namespaces",
            Protection::RootFilesystem => "root_filesystem",
            Protection::Landlock => "landlock",
            Protection::Seccomp => "seccomp",
            Protection::CgroupMemory => "cgroup_memory",
            Protection::CgroupPids => "cgroup_pids",
            Protection::CgroupCpu => "cgroup_cpu",
        }
    }
}

/// One line of the report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProtectionState {
    pub protection: Protection,
    /// The backend can apply it at all.
    pub offered: bool,
    /// This host can provide it.
    pub supported: bool,
    /// Runs fail rather than go without it.
    pub required: bool,
    /// Runs of this backend get it.
    pub enforced: bool,
    pub detail: String,
}

/// What one backend enforces on this host.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EnforcementReport {
    pub backend: String,
    /// Runs can happen: every required protection is supported.
    pub available: bool,
    pub protections: Vec<ProtectionState>,
    /// Always applied: no_new_privs, no capabilities, uid/gid nobody, a clean environment, rlimits.
    pub always: Vec<String>,
    /// Why the backend is unavailable, if it is.
    pub problems: Vec<String>,
}

impl EnforcementReport {
    pub fn enforces(&self, p: Protection) -> bool {
        self.protections
            .iter()
            .any(|s| s.protection == p && s.enforced)
    }
}

impl fmt::Display for EnforcementReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "backend {}: {}",
            self.backend,
            if self.available {
                "available"
            } else {
                "UNAVAILABLE"
            }
        )?;
        for s in &self.protections {
            let state = match (s.enforced, s.supported, s.required) {
                _ if !s.offered && s.required => "NOT OFFERED (required)",
                _ if !s.offered => "not offered",
                (true, _, true) => "enforced (required)",
                (true, _, false) => "enforced",
                (false, false, true) => "MISSING (required)",
                (false, false, false) => "not supported here",
                (false, true, _) => "off",
            };
            writeln!(
                f,
                "  {:<22} {:<20} {}",
                s.protection.as_str(),
                state,
                s.detail
            )?;
        }
        for a in &self.always {
            writeln!(f, "  {a:<22} enforced (always)")?;
        }
        for p in &self.problems {
            writeln!(f, "  problem: {p}")?;
        }
        Ok(())
    }
}
